package machine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// legal is the transition table as the design states it, written here
// independently of events.Table so that a wrong entry there is caught.
var legal = map[events.State]map[events.Event]events.State{
	events.Closed: {
		events.Trip:      events.Open,
		events.ForceOpen: events.Open,
	},
	events.Open: {
		events.Probe:         events.HalfOpen,
		events.ForceClose:    events.Closed,
		events.ForceHalfOpen: events.HalfOpen,
	},
	events.HalfOpen: {
		events.Recover:    events.Closed,
		events.Retrip:     events.Open,
		events.ForceOpen:  events.Open,
		events.ForceClose: events.Closed,
	},
}

// enterState puts a fresh fixture's breaker into state through the
// breaker's own rules, and returns how many records that took.
func enterState(f *fixture, state events.State) int {
	f.t.Helper()
	switch state {
	case events.Closed:
		return 0
	case events.Open:
		f.failN(machine.DefaultFailureThreshold)
		f.wantState(events.Open)
		return 1
	case events.HalfOpen:
		f.failN(machine.DefaultFailureThreshold)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustSucceed() // the probe: one success of two
		f.wantState(events.HalfOpen)
		return 2
	}
	f.t.Fatalf("unknown state %s", state)
	return 0
}

func TestTransitionTable(t *testing.T) {
	ctx := context.Background()
	for _, from := range events.States() {
		for _, ev := range events.AllEvents() {
			to, ok := legal[from][ev]
			name := from.String() + "/" + ev.String()
			t.Run(name, func(t *testing.T) {
				f := newFixture(t)
				n := enterState(f, from)
				before := f.journal()
				seenBefore := f.log.Records()
				snapBefore := f.b.Snapshot()
				if len(before) != n {
					t.Fatalf("setup wrote %d records, want %d", len(before), n)
				}

				err := machine.Fire(ctx, f.b, ev)

				if ok {
					if err != nil {
						t.Fatalf("Fire(%s) from %s: %v", ev, from, err)
					}
					f.wantState(to)
					recs := f.journal()
					if len(recs) != n+1 {
						t.Fatalf("journal holds %d records, want %d", len(recs), n+1)
					}
					r := recs[n]
					if r.Event != ev || r.From != from || r.To != to || r.Seq != uint64(n+1) {
						t.Fatalf("record = %v, want seq %d %s: %s -> %s", r, n+1, ev, from, to)
					}
					if (r.To == events.Open) != (r.OpenFor > 0) {
						t.Fatalf("record OpenFor = %v with To %s", r.OpenFor, r.To)
					}
					wantConsistent(t, f.b, recs, f.log.Records())
					f.noErrors()
					return
				}

				if !errors.Is(err, machine.ErrIllegalTransition) {
					t.Fatalf("Fire(%s) from %s = %v, want ErrIllegalTransition", ev, from, err)
				}
				var te *machine.TransitionError
				if !errors.As(err, &te) {
					t.Fatalf("error %v (%T) is not a *TransitionError", err, err)
				}
				if te.Event != ev || te.State != from || te.Breaker != "svc" {
					t.Fatalf("TransitionError = {Breaker %q, Event %s, State %s}, want {svc, %s, %s}", te.Breaker, te.Event, te.State, ev, from)
				}
				f.wantState(from)
				if got := f.journal(); !slices.Equal(got, before) {
					t.Fatalf("journal changed: %v, was %v", got, before)
				}
				if got := f.log.Records(); !slices.Equal(got, seenBefore) {
					t.Fatalf("subscriber saw %v, had seen %v", got, seenBefore)
				}
				if got := f.b.Snapshot(); got != snapBefore {
					t.Fatalf("Snapshot() = %+v, was %+v", got, snapBefore)
				}
				f.noErrors()
			})
		}
	}
}

// TestTransitionTableMatchesEvents checks that the table the breaker is built
// from is exactly the one the design states.
func TestTransitionTableMatchesEvents(t *testing.T) {
	n := 0
	for _, e := range events.Table() {
		if to, ok := legal[e.From][e.Event]; !ok || to != e.To {
			t.Errorf("events.Table has %s: %s -> %s, which the design does not", e.Event, e.From, e.To)
		}
		n++
	}
	want := 0
	for _, m := range legal {
		want += len(m)
	}
	if n != want {
		t.Errorf("events.Table has %d edges, want %d", n, want)
	}
}

// TestIllegalManualControl checks that the public manual controls refuse
// what the state machine refuses, leaving everything untouched.
func TestIllegalManualControl(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		state events.State
		ev    events.Event
		call  func(*machine.Breaker) error
	}{
		{"force_close/closed", events.Closed, events.ForceClose, func(b *machine.Breaker) error { return b.ForceClose(ctx, operator) }},
		{"force_half_open/closed", events.Closed, events.ForceHalfOpen, func(b *machine.Breaker) error { return b.ForceHalfOpen(ctx, operator) }},
		{"force_open/open", events.Open, events.ForceOpen, func(b *machine.Breaker) error {
			return b.ForceOpen(ctx, machine.Override{Operator: "alice", Note: "again", OpenFor: time.Minute})
		}},
		{"force_half_open/half_open", events.HalfOpen, events.ForceHalfOpen, func(b *machine.Breaker) error { return b.ForceHalfOpen(ctx, operator) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			enterState(f, c.state)
			before := f.journal()
			err := c.call(f.b)
			var te *machine.TransitionError
			if !errors.Is(err, machine.ErrIllegalTransition) || !errors.As(err, &te) {
				t.Fatalf("got %v, want a *TransitionError matching ErrIllegalTransition", err)
			}
			if te.Event != c.ev || te.State != c.state {
				t.Fatalf("TransitionError{Event %s, State %s}, want {%s, %s}", te.Event, te.State, c.ev, c.state)
			}
			f.wantState(c.state)
			if got := f.journal(); !slices.Equal(got, before) {
				t.Fatalf("journal changed: %v", got)
			}
			f.wantSteps(steps(before)...)
		})
	}
}
