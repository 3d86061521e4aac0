package machine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

func TestObserveOnlyNeverRejects(t *testing.T) {
	ctx := context.Background()
	obs := &observer{}
	f := newFixture(t, machine.WithObserveOnly(), machine.WithProbeLimit(1), machine.WithSubscribers(obs))
	defer f.b.Flush(ctx)
	if m := f.b.Mode(); m != machine.ObserveOnly || m.String() != "observe_only" {
		t.Fatalf("Mode() = %v", m)
	}

	f.failN(machine.DefaultFailureThreshold) // would trip
	f.wantState(events.Open)
	called := 0
	for range 3 { // an enforcing breaker would reject these
		if err := f.do(func(context.Context) error { called++; return errDep }); !errors.Is(err, errDep) {
			t.Fatalf("call in open = %v, want the function's error", err)
		}
	}
	if called != 3 {
		t.Fatalf("fn ran %d times of 3 in open", called)
	}
	f.wantState(events.Open) // their failures move nothing
	if c := f.b.Counts(); c.WouldReject != 3 || c.Rejected != 0 || c.Failures != 8 {
		t.Fatalf("Counts() = %+v, want 3 would-be rejections, none rejected, 8 failures", c)
	}

	f.clk.Advance(machine.DefaultRecoveryTimeout)
	probe, err := f.b.Allow(ctx) // the probe: half-open, its one slot taken
	if err != nil {
		t.Fatal(err)
	}
	f.wantState(events.HalfOpen)
	extra, err := f.b.Allow(ctx) // every slot taken: admitted all the same
	if err != nil {
		t.Fatalf("call in a full half-open = %v", err)
	}
	extra.Done(errDep) // not a probe: no retrip
	f.wantState(events.HalfOpen)
	f.wantCounts(probes(1, 0))
	probe.Done(nil)
	f.mustSucceed() // a probe again: 2 of 2
	f.wantState(events.Closed)

	f.wantSteps(tripStep, probeStep, recoverStep)
	for _, r := range f.journal() {
		if !r.ObserveOnly {
			t.Fatalf("record %v does not say it was written by a breaker that only observes", r)
		}
	}
	if c := f.b.Counts(); c.WouldReject != 4 || c.Rejected != 0 {
		t.Fatalf("Counts() = %+v, want 4 would-be rejections", c)
	}
	if rejected, _ := obs.lists(); len(rejected) != 0 {
		t.Fatalf("rejections observed: %q", rejected)
	}
	f.noErrors()
}

func TestObserveOnlyRunsEveryPolicyAndTimer(t *testing.T) {
	f := newFixture(t, machine.WithObserveOnly(),
		machine.WithTripPolicy(machine.FailureRate(50, 4, machine.LastCalls(4))),
		machine.WithBackoff(time.Second, 2, time.Minute),
		machine.WithProbeOnTimer(),
		machine.WithHalfOpenTimeout(time.Second),
	)
	f.play("SFSF") // would trip
	f.wantState(events.Open)
	f.play("FFFF") // admitted; the open state has no window
	f.wantWindows(counts(events.PolicyFailureRate, 0, 0, 0))
	f.clk.Advance(time.Second) // the timer probes
	f.wantState(events.HalfOpen)
	f.clk.Advance(time.Second) // the half-open timeout re-opens, for 2s
	f.wantState(events.Open)
	f.wantSteps(tripStep, probeStep, retripStep)
	if r := f.last(); r.OpenFor != 2*time.Second || !r.ObserveOnly || r.Reason.Policy != events.PolicyHalfOpenTimeout {
		t.Fatalf("record = %+v", r)
	}
	if c := f.b.Counts(); c.WouldReject != 4 || c.Rejected != 0 {
		t.Fatalf("Counts() = %+v", c)
	}
}

func TestEnforcingIsTheDefaultMode(t *testing.T) {
	f := newFixture(t)
	if m := f.b.Mode(); m != machine.Enforcing || m.String() != "enforcing" {
		t.Fatalf("Mode() = %v", m)
	}
	f.failN(machine.DefaultFailureThreshold)
	if r := f.last(); r.ObserveOnly {
		t.Fatalf("record %+v says observe-only", r)
	}
	openError(t, f.do(okCall))
	if c := f.b.Counts(); c.WouldReject != 0 || c.Rejected != 1 {
		t.Fatalf("Counts() = %+v", c)
	}
	if got := machine.Mode(7).String(); got != "Mode(7)" {
		t.Fatalf("Mode(7).String() = %q", got)
	}
}

// TestObserveOnlyInOpenAllocatesNothing: a call in open that an enforcing
// breaker would reject runs without allocating.
func TestObserveOnlyInOpenAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	b, err := machine.New("alloc", machine.WithObserveOnly())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ForceOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() { _ = b.Do(ctx, okCall) })
	if allocs != 0 || b.State() != events.Open {
		t.Fatalf("%v allocations per call (state %s)", allocs, b.State())
	}
	if c := b.Counts(); c.WouldReject < 1000 {
		t.Fatalf("WouldReject = %d", c.WouldReject)
	}
}
