package natsjournal_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
)

var (
	t0       = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	errDep   = errors.New("dependency down")
	operator = machine.Override{Operator: "oncall", Note: "fleet test"}
)

func failCall(context.Context) error { return errDep }

// replicas returns n breakers named "payments", one per process of a fleet:
// each on a connection and a journal of its own, all in one stream, all
// following it. Breakers close before their journals.
func replicas(t testing.TB, n int) ([]*machine.Breaker, []*natsjournal.Journal) {
	t.Helper()
	s := startServer(t)
	clk := clocktest.New(t0)
	var out []*machine.Breaker
	var journals []*natsjournal.Journal
	for i := range n {
		j, err := natsjournal.New(context.Background(), connect(t, s),
			natsjournal.WithStream("FLEET"), natsjournal.WithSubjectPrefix("fleet.cb"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = j.Close() })
		b, err := machine.New("payments", machine.WithClock(clk), machine.WithJournal(j),
			machine.WithWriter(fmt.Sprintf("replica-%d", i)), machine.WithFollow(10*time.Millisecond),
			machine.WithErrorHandler(func(err error) { t.Errorf("replica %d: %v", i, err) }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
		out, journals = append(out, b), append(journals, j)
	}
	return out, journals
}

// eventually waits until cond holds, with a watchdog: for what another
// process's breaker does through the server, never for timing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOneReplicaTripsTheFleet(t *testing.T) {
	ctx := context.Background()
	fleet, _ := replicas(t, 3)
	for range machine.DefaultFailureThreshold {
		_ = fleet[0].Do(ctx, failCall)
	}
	if err := fleet[0].Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, b := range fleet {
		eventually(t, fmt.Sprintf("replica %d opens", i), func() bool { return b.State() == events.Open })
		if err := b.Do(ctx, failCall); !errors.Is(err, machine.ErrOpen) {
			t.Fatalf("replica %d: a call = %v, want a rejection", i, err)
		}
	}
	// An operator closes it on the last replica: every replica closes.
	if err := fleet[2].ForceClose(ctx, operator); err != nil {
		t.Fatal(err)
	}
	for i, b := range fleet {
		eventually(t, fmt.Sprintf("replica %d closes", i), func() bool { return b.State() == events.Closed })
	}
	want := fleet[2].Snapshot()
	for i, b := range fleet {
		if got := b.Snapshot(); got != want {
			t.Errorf("replica %d snapshot = %+v, want %+v", i, got, want)
		}
	}
}

// Replicas racing to write: every transition any of them made is stored
// once, the history replays, and all of them end at its fold.
func TestRacingReplicasAgreeOnOneHistory(t *testing.T) {
	ctx := context.Background()
	fleet, journals := replicas(t, 3)
	var wg sync.WaitGroup
	for i, b := range fleet {
		wg.Go(func() {
			for k := range 10 {
				var err error
				if (i+k)%2 == 0 {
					err = b.ForceOpen(ctx, operator)
				} else {
					err = b.ForceClose(ctx, operator)
				}
				// A manual control may find the breaker already where it
				// asks for, after following another replica, or lose its
				// sequence number to another replica's record.
				if err != nil && !errors.Is(err, machine.ErrIllegalTransition) && !errors.Is(err, events.ErrConflict) {
					t.Errorf("replica %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	for _, b := range fleet {
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := fleet[0].Snapshot()
	if want.Seq == 0 {
		t.Fatal("no transition was stored")
	}
	for i, b := range fleet {
		if got := b.Snapshot(); got != want {
			t.Errorf("replica %d snapshot = %+v, want %+v", i, got, want)
		}
	}
	if got, err := events.Load(ctx, journals[1], "payments"); err != nil || !got.Equal(want) {
		t.Errorf("the stream's history folds to %+v, %v; the replicas hold %+v", got, err, want)
	}
}
