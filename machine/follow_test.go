package machine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// pollJournal hides Memory's Watch: a journal that must be polled.
type pollJournal struct{ *events.Memory }

func (p pollJournal) Append(ctx context.Context, t events.Transition) error {
	return p.Memory.Append(ctx, t)
}

func (p pollJournal) Read(ctx context.Context, b string, after uint64) ([]events.Transition, error) {
	return p.Memory.Read(ctx, b, after)
}

// following returns two breakers named "svc" over journal j, following each
// other, and the channel on which a's inline subscriber sends every record
// it is given.
func following(t *testing.T, j events.Journal) (a, b *machine.Breaker, seen <-chan events.Transition) {
	t.Helper()
	clk := clocktest.New(t0)
	ch := make(chan events.Transition, 16)
	mk := func(opts ...machine.Option) *machine.Breaker {
		br, err := machine.New("svc", append([]machine.Option{machine.WithClock(clk), machine.WithJournal(j),
			machine.WithFollow(5 * time.Millisecond)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := br.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
		return br
	}
	a = mk(machine.WithSubscribers(hooks.Inline(hooks.Func(func(_ context.Context, tr events.Transition) { ch <- tr }))))
	b = mk()
	return a, b, ch
}

// next waits for the next record a's subscriber is given, with a watchdog.
func next(t *testing.T, seen <-chan events.Transition) events.Transition {
	t.Helper()
	select {
	case tr := <-seen:
		return tr
	case <-time.After(20 * time.Second): // a watchdog, not a timing assertion
		t.Fatal("the follower never delivered the other writer's record")
		return events.Transition{}
	}
}

func TestFollowOtherWriters(t *testing.T) {
	for name, j := range map[string]func(t *testing.T) events.Journal{
		"watched": func(t *testing.T) events.Journal { return newMemory(t) },
		"polled":  func(t *testing.T) events.Journal { return pollJournal{newMemory(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b, seen := following(t, j(t))
			// b trips: a opens without a call of its own.
			for range machine.DefaultFailureThreshold {
				_ = b.Do(ctx, failCall)
			}
			if err := b.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			tr := next(t, seen)
			if !tr.Adopted || tr.Event != events.Trip || tr.Seq != 1 {
				t.Fatalf("a's subscriber got %+v, want b's trip, adopted", tr)
			}
			if got := a.State(); got != events.Open {
				t.Fatalf("a.State() = %s, want open", got)
			}
			if err := a.Do(ctx, okCall); !errors.Is(err, machine.ErrOpen) {
				t.Fatalf("a call of a: %v, want a rejection", err)
			}
			// a's own transitions are not delivered twice.
			if err := a.ForceClose(ctx, operator); err != nil {
				t.Fatal(err)
			}
			if tr := next(t, seen); tr.Adopted || tr.Event != events.ForceClose {
				t.Fatalf("a's subscriber got %+v, want its own force_close", tr)
			}
			eventually(t, "b follows a's force_close", func() bool { return b.State() == events.Closed })
			if err := b.ForceOpen(ctx, operator); err != nil {
				t.Fatalf("b.ForceOpen after following a: %v", err)
			}
			if tr := next(t, seen); !tr.Adopted || tr.Event != events.ForceOpen || tr.Seq != 3 {
				t.Fatalf("a's subscriber got %+v, want b's force_open, seq 3", tr)
			}
			if a.Snapshot() != b.Snapshot() {
				t.Fatalf("a.Snapshot() = %+v, b's %+v", a.Snapshot(), b.Snapshot())
			}
		})
	}
}

// eventually waits until cond holds, with a watchdog: for what another
// goroutine (the follower) does, never for timing.
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

func TestWithFollowRefusesANonPositivePoll(t *testing.T) {
	if _, err := machine.New("svc", machine.WithFollow(0)); !errors.Is(err, events.ErrInvalidOption) {
		t.Fatalf("WithFollow(0): %v", err)
	}
}

// BenchmarkFollowDelay measures how long after another writer's record is
// stored a following breaker has folded it (one watch, Memory's push).
func BenchmarkFollowDelay(b *testing.B) {
	ctx := context.Background()
	j := newMemory(b)
	clk := clocktest.New(t0)
	got := make(chan struct{}, 1)
	a, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(j), machine.WithFollow(time.Second),
		machine.WithSubscribers(hooks.Inline(hooks.Func(func(context.Context, events.Transition) { got <- struct{}{} }))))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(ctx)
	other, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(j))
	if err != nil {
		b.Fatal(err)
	}
	o := machine.Override{Operator: "bench", Note: "another writer"}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		control := other.ForceOpen
		if i%2 == 1 {
			control = other.ForceClose
		}
		start := time.Now()
		if err := control(ctx, o); err != nil { // returns once stored
			b.Fatal(err)
		}
		<-got
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/followed")
}
