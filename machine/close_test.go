package machine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

func TestClose(t *testing.T) {
	ctx := context.Background()
	t.Run("stops every timer and refuses calls", func(t *testing.T) {
		f := newFixture(t, machine.WithHalfOpenTimeout(time.Minute))
		f.failN(5)
		f.wantState(events.Open)
		if n := f.clk.Pending(); n != 1 {
			t.Fatalf("%d timers pending before Close, want the open period's", n)
		}
		if err := f.b.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if n := f.clk.Pending(); n != 0 {
			t.Fatalf("%d timers pending after Close, want none", n)
		}
		called := false
		fn := func(context.Context) error { called = true; return nil }
		for name, err := range map[string]error{
			"Do":    f.b.Do(ctx, fn),
			"Allow": func() error { _, err := f.b.Allow(ctx); return err }(),
			"Execute": func() error {
				_, err := machine.Execute(ctx, f.b, func(context.Context) (int, error) { called = true; return 0, nil })
				return err
			}(),
			"ForceClose":    f.b.ForceClose(ctx, operator),
			"ForceHalfOpen": f.b.ForceHalfOpen(ctx, operator),
			"Sync":          f.b.Sync(ctx),
		} {
			if !errors.Is(err, machine.ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		}
		if called {
			t.Fatal("a function was called after Close")
		}
		f.clk.Advance(time.Hour)
		if got := f.b.State(); got != events.Open {
			t.Fatalf("State() after Close = %s, want the state it was closed in", got)
		}
		if c := f.b.Counts(); c.Rejected != 0 || c.Failures != 5 {
			t.Fatalf("Counts() = %+v: calls after Close count nothing", c)
		}
		if err := f.b.Close(ctx); err != nil {
			t.Fatalf("second Close = %v, want nil", err)
		}
		f.noErrors()
	})
	t.Run("a call admitted before Close finishes after it", func(t *testing.T) {
		f := newFixture(t, machine.WithFailureThreshold(1))
		p, err := f.b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		p.Done(errDep) // counted, moves nothing, reports nothing
		if c := f.b.Counts(); c.Failures != 1 {
			t.Fatalf("Counts() = %+v, want the late failure counted", c)
		}
		if got := f.journal(); len(got) != 0 {
			t.Fatalf("journal = %v after a late outcome", got)
		}
		f.noErrors()
	})
	t.Run("stores the backlog, or returns what it could not", func(t *testing.T) {
		var j *flakyJournal
		f := newWrappedFixture(t, func(mem events.Journal) events.Journal {
			j = &flakyJournal{Journal: mem}
			return j
		})
		j.set(1, 0)
		f.failN(5) // the trip's append fails: kept, a retry timer armed
		if err := f.b.Close(ctx); err != nil {
			t.Fatalf("Close with a journal that works again: %v", err)
		}
		if got := f.journal(); len(got) != 1 {
			t.Fatalf("journal = %v, want the trip stored by Close", got)
		}

		f = newWrappedFixture(t, func(mem events.Journal) events.Journal {
			j = &flakyJournal{Journal: mem}
			return j
		})
		j.set(100, 0)
		f.failN(5)
		err := f.b.Close(ctx)
		var ue *machine.UnstoredError
		if !errors.As(err, &ue) || ue.FirstSeq != 1 || ue.LastSeq != 1 {
			t.Fatalf("Close with a failing journal = %v, want an UnstoredError of seq 1", err)
		}
		if n := f.clk.Pending(); n != 0 {
			t.Fatalf("%d timers pending after Close, want no retry", n)
		}
	})
	t.Run("flushes queued subscribers", func(t *testing.T) {
		release := make(chan struct{})
		slow := hooks.Func(func(context.Context, events.Transition) { <-release })
		f := newFixture(t, machine.WithSubscribers(slow))
		f.failN(5)
		short, cancel := context.WithCancel(ctx)
		cancel()
		if err := f.b.Close(short); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close while a queued subscriber runs, with a done ctx = %v, want context.Canceled", err)
		}
		close(release)
		if err := f.b.Close(ctx); err != nil {
			t.Fatalf("Close again, once the subscriber returned: %v", err)
		}
	})
}
