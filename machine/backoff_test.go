package machine_test

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// retripN keeps the breaker re-opening: n times, it waits out the open
// period of the last record and fails the probe.
func (f *fixture) retripN(n int) {
	f.t.Helper()
	for range n {
		f.clk.Advance(f.last().OpenFor)
		f.mustFail()
		f.wantState(events.Open)
	}
}

// openFors returns the OpenFor of every transition to open in the journal.
func openFors(recs []events.Transition) []time.Duration {
	var out []time.Duration
	for _, r := range recs {
		if r.To == events.Open {
			out = append(out, r.OpenFor)
		}
	}
	return out
}

func TestBackoffSequence(t *testing.T) {
	s := time.Second
	cases := []struct {
		name             string
		base             time.Duration
		factor           float64
		max              time.Duration
		want             []time.Duration
		afterRecoverOpen time.Duration
	}{
		{"doubling, capped", s, 2, 10 * s, []time.Duration{s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s}, s},
		{"factor 1.5", 100 * time.Millisecond, 1.5, s,
			[]time.Duration{100 * time.Millisecond, 150 * time.Millisecond, 225 * time.Millisecond, 337500 * time.Microsecond,
				506250 * time.Microsecond, 759375 * time.Microsecond, s, s}, 100 * time.Millisecond},
		{"factor 1 is a fixed period", 3 * s, 1, 3 * s, []time.Duration{3 * s, 3 * s, 3 * s}, 3 * s},
		{"a huge factor reaches max at once", s, 1e300, time.Hour, []time.Duration{s, time.Hour, time.Hour, time.Hour}, s},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, machine.WithBackoff(c.base, c.factor, c.max))
			f.failN(machine.DefaultFailureThreshold)
			f.retripN(len(c.want) - 1)
			if got := openFors(f.journal()); !slices.Equal(got, c.want) {
				t.Fatalf("open periods %v, want %v", got, c.want)
			}
			if got := f.b.Snapshot().Opens; got != uint32(len(c.want)) {
				t.Fatalf("Opens = %d, want %d", got, len(c.want))
			}
			// Recovering starts the sequence again.
			f.clk.Advance(f.last().OpenFor)
			f.mustSucceed()
			f.mustSucceed()
			f.wantState(events.Closed)
			f.failN(machine.DefaultFailureThreshold)
			if got := f.last().OpenFor; got != c.afterRecoverOpen {
				t.Fatalf("first open period after recovering = %v, want %v", got, c.afterRecoverOpen)
			}
			oe := openError(t, f.do(okCall))
			if got := oe.RetryAfter(); got != c.afterRecoverOpen {
				t.Fatalf("RetryAfter() = %v, want %v", got, c.afterRecoverOpen)
			}
			f.wantSteps(steps(f.journal())...)
			f.noErrors()
		})
	}
}

func TestBackoffAppliesToForceOpen(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, machine.WithBackoff(time.Second, 3, time.Hour))
	if err := f.b.ForceOpen(ctx, operator); err != nil { // 1st open
		t.Fatal(err)
	}
	if err := f.b.ForceHalfOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	if err := f.b.ForceOpen(ctx, operator); err != nil { // 2nd
		t.Fatal(err)
	}
	if err := f.b.ForceHalfOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	if err := f.b.ForceOpen(ctx, machine.Override{Operator: "alice", Note: "exactly", OpenFor: 7 * time.Second}); err != nil { // 3rd, as asked
		t.Fatal(err)
	}
	f.retripN(1) // 4th
	if got, want := openFors(f.journal()), []time.Duration{time.Second, 3 * time.Second, 7 * time.Second, 27 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("open periods %v, want %v", got, want)
	}
}

// newBackoffBreaker is a breaker named "svc" over j with a backoff, as a
// process (first or restarted) would build it.
func newBackoffBreaker(t *testing.T, j events.Journal, now time.Time) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: clocktest.New(now), log: &recorder{}, errs: &errSink{}}
	b, err := machine.New("svc",
		machine.WithClock(f.clk),
		machine.WithJournal(j),
		machine.WithBackoff(time.Second, 2, time.Minute),
		machine.WithSubscribers(hooks.Inline(f.log)),
		machine.WithErrorHandler(f.errs.handle),
	)
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	return f
}

// TestBackoffReplayAfterRestart: a breaker built over the journal of one
// that was re-opening continues its sequence, and replaying the journal
// gives the open periods that were chosen.
func TestBackoffReplayAfterRestart(t *testing.T) {
	j := newMemory(t)
	first := newBackoffBreaker(t, j, t0)
	first.j = j
	first.failN(machine.DefaultFailureThreshold) // 1s
	first.retripN(2)                             // 2s, 4s
	last := first.last()

	// The process restarts 1s into the last open period of 4s.
	second := newBackoffBreaker(t, j, last.Time.Add(time.Second))
	second.j = j
	second.wantState(events.Open)
	if got, want := second.b.Snapshot(), first.b.Snapshot(); got != want || got.Opens != 3 {
		t.Fatalf("resumed Snapshot() = %+v, want %+v with Opens 3", got, want)
	}
	oe := openError(t, second.do(okCall))
	if got := oe.RetryAfter(); got != 3*time.Second {
		t.Fatalf("RetryAfter() after the restart = %v, want 3s", got)
	}
	second.clk.Advance(3 * time.Second)
	second.mustFail() // the probe fails: 4th open
	second.retripN(3) // 5th, 6th, 7th
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute}
	recs := readAll(t, j, "svc")
	if got := openFors(recs); !slices.Equal(got, want) {
		t.Fatalf("open periods %v, want %v", got, want)
	}
	snap, err := events.Replay("svc", recs)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.b.Snapshot(); got != snap || snap.OpenFor != time.Minute || snap.Opens != 7 {
		t.Fatalf("Snapshot() = %+v, Replay = %+v; want open for 1m, 7 opens", got, snap)
	}

	// A third process after recovery starts again at base.
	second.clk.Advance(time.Minute)
	second.mustSucceed()
	second.mustSucceed()
	third := newBackoffBreaker(t, j, second.clk.Now().Add(time.Hour))
	third.j = j
	third.failN(machine.DefaultFailureThreshold)
	if got := third.last().OpenFor; got != time.Second {
		t.Fatalf("open period after recovery and restart = %v, want 1s", got)
	}
}

// seq returns a source that yields vs in turn, and counts its calls.
func seq(vs ...float64) (func() float64, *int) {
	n := new(int)
	return func() float64 {
		v := vs[*n%len(vs)]
		*n++
		return v
	}, n
}

func TestJitter(t *testing.T) {
	t.Run("spreads the recovery timeout over plus or minus the fraction", func(t *testing.T) {
		src, calls := seq(0, 0.25, 0.5, 1, 2, -1, math.NaN())
		f := newFixture(t, machine.WithRecoveryTimeout(10*time.Second), machine.WithJitter(0.5, src))
		f.failN(machine.DefaultFailureThreshold)
		f.retripN(6)
		s := time.Second
		// u = 0, .25, .5, 1, 2 (clamped to 1), -1 and NaN (both 0).
		want := []time.Duration{5 * s, 7500 * time.Millisecond, 10 * s, 15 * s, 15 * s, 5 * s, 5 * s}
		if got := openFors(f.journal()); !slices.Equal(got, want) {
			t.Fatalf("open periods %v, want %v", got, want)
		}
		if *calls != 7 {
			t.Fatalf("source called %d times for 7 open periods", *calls)
		}
	})
	t.Run("applies to the backoff's period", func(t *testing.T) {
		src, _ := seq(1)
		f := newFixture(t, machine.WithBackoff(time.Second, 2, time.Minute), machine.WithJitter(0.1, src))
		f.failN(machine.DefaultFailureThreshold)
		f.retripN(2)
		want := []time.Duration{1100 * time.Millisecond, 2200 * time.Millisecond, 4400 * time.Millisecond}
		if got := openFors(f.journal()); !slices.Equal(got, want) {
			t.Fatalf("open periods %v, want %v", got, want)
		}
	})
	t.Run("keeps an operator's open period exactly", func(t *testing.T) {
		src, calls := seq(0)
		f := newFixture(t, machine.WithJitter(0.5, src))
		if err := f.b.ForceOpen(context.Background(), machine.Override{Operator: "alice", Note: "exactly", OpenFor: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if got := f.last().OpenFor; got != time.Hour || *calls != 0 {
			t.Fatalf("OpenFor = %v with the source called %d times; want 1h, not called", got, *calls)
		}
	})
	t.Run("never chooses an empty open period", func(t *testing.T) {
		src, _ := seq(0)
		f := newFixture(t, machine.WithRecoveryTimeout(time.Nanosecond), machine.WithJitter(0.99, src))
		f.failN(machine.DefaultFailureThreshold)
		if got := f.last().OpenFor; got != time.Nanosecond {
			t.Fatalf("OpenFor = %v, want 1ns", got)
		}
	})
}
