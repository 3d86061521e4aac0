package machine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// TestQuiet checks when a breaker is closed and quiet: closed, with no
// failure or slow call counted in its closed period, and everything it
// made stored.
func TestQuiet(t *testing.T) {
	ctx := context.Background()
	override := machine.Override{Operator: "test", Note: "quiet or not"}
	slow := func(f *fixture) func(context.Context) error {
		return func(context.Context) error { f.clk.Advance(2 * time.Second); return nil }
	}
	for _, c := range []struct {
		name  string
		opts  []machine.Option
		steps func(t *testing.T, f *fixture)
		want  bool
	}{
		{name: "new", want: true},
		{name: "successes", steps: func(t *testing.T, f *fixture) { f.mustSucceed(); f.mustSucceed() }, want: true},
		{name: "a failure", steps: func(t *testing.T, f *fixture) { f.mustSucceed(); f.mustFail() }},
		{name: "a failure, then a success", steps: func(t *testing.T, f *fixture) { f.mustFail(); f.mustSucceed() }, want: true},
		{name: "open", steps: func(t *testing.T, f *fixture) { f.failN(machine.DefaultFailureThreshold) }},
		{name: "forced open", steps: func(t *testing.T, f *fixture) {
			if err := f.b.ForceOpen(ctx, override); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "half-open", steps: func(t *testing.T, f *fixture) {
			f.failN(machine.DefaultFailureThreshold)
			if err := f.b.ForceHalfOpen(ctx, override); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "closed again after open", steps: func(t *testing.T, f *fixture) {
			f.failN(machine.DefaultFailureThreshold)
			if err := f.b.ForceClose(ctx, override); err != nil {
				t.Fatal(err)
			}
		}, want: true},
		{name: "shut down by Close", steps: func(t *testing.T, f *fixture) {
			if err := f.b.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "count window with a failure", opts: []machine.Option{
			machine.WithTripPolicy(machine.FailureRate(50, 10, machine.LastCalls(10))),
		}, steps: func(t *testing.T, f *fixture) { f.mustFail(); f.mustSucceed() }},
		{name: "count window past its failure", opts: []machine.Option{
			machine.WithTripPolicy(machine.FailureRate(50, 10, machine.LastCalls(10))),
		}, steps: func(t *testing.T, f *fixture) {
			f.mustFail()
			for range 10 {
				f.mustSucceed()
			}
		}, want: true},
		{name: "time window with a failure", opts: []machine.Option{
			machine.WithTripPolicy(machine.FailureRate(50, 100, machine.LastDuration(time.Minute, 6))),
		}, steps: func(t *testing.T, f *fixture) { f.mustFail(); f.clk.Advance(30 * time.Second) }},
		{name: "time window past its failure", opts: []machine.Option{
			machine.WithTripPolicy(machine.FailureRate(50, 100, machine.LastDuration(time.Minute, 6))),
		}, steps: func(t *testing.T, f *fixture) { f.mustFail(); f.clk.Advance(2 * time.Minute) }, want: true},
		{name: "a slow call", opts: []machine.Option{
			machine.WithTripPolicy(machine.SlowCallRate(50, time.Second, 10, machine.LastCalls(10))),
		}, steps: func(t *testing.T, f *fixture) {
			if err := f.do(slow(f)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.opts...)
			defer f.b.Close(ctx)
			if c.steps != nil {
				c.steps(t, f)
			}
			if got := f.b.Quiet(); got != c.want {
				t.Errorf("Quiet() = %v in state %s with %+v, want %v", got, f.b.State(), f.b.Counts(), c.want)
			}
		})
	}
}

// TestQuietWaitsForTheJournal checks that a closed breaker whose journal
// has not stored its transitions is not quiet until it has.
func TestQuietWaitsForTheJournal(t *testing.T) {
	ctx := context.Background()
	j := &flakyJournal{}
	f := newWrappedFixture(t, func(m events.Journal) events.Journal { j.Journal = m; return j },
		machine.WithErrorHandler(func(error) {}))
	defer f.b.Close(ctx)
	j.set(2, 0)
	override := machine.Override{Operator: "test", Note: "records the journal refuses at first"}
	for _, control := range []func(context.Context, machine.Override) error{f.b.ForceOpen, f.b.ForceClose} {
		if err := control(ctx, override); !errors.As(err, new(*machine.JournalError)) {
			t.Fatalf("manual control over a failing journal = %v, want a *machine.JournalError", err)
		}
	}
	if f.b.State() != events.Closed || f.b.Quiet() {
		t.Fatalf("state %s, Quiet() = %v with two records unstored; want closed and not quiet", f.b.State(), f.b.Quiet())
	}
	if err := f.b.Sync(ctx); err != nil {
		t.Fatalf("Sync once the journal works: %v", err)
	}
	if !f.b.Quiet() {
		t.Errorf("Quiet() = false once the journal stored everything")
	}
}

// TestQuietAllocatesNothing checks that asking costs no allocation, as a
// registry sweeping many breakers asks each.
func TestQuietAllocatesNothing(t *testing.T) {
	f := newFixture(t, machine.WithTripPolicy(machine.FailureRate(50, 100, machine.LastDuration(time.Minute, 6))))
	defer f.b.Close(context.Background())
	f.mustSucceed()
	if n := testing.AllocsPerRun(100, func() { f.b.Quiet() }); n != 0 {
		t.Errorf("Quiet allocates %v times", n)
	}
}
