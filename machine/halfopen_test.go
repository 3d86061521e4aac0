package machine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

var halfOpenTimeoutStep = retripStep

func TestHalfOpenTimeout(t *testing.T) {
	const timeout = 10 * time.Second
	entered := t0.Add(machine.DefaultRecoveryTimeout) // when enterState reaches half-open
	t.Run("re-opens exactly when the timeout ends", func(t *testing.T) {
		f := newFixture(t, machine.WithHalfOpenTimeout(timeout))
		enterState(f, events.HalfOpen) // 1 probe success of 2
		f.clk.Advance(timeout - time.Nanosecond)
		f.wantState(events.HalfOpen)
		f.clk.Advance(time.Nanosecond)
		f.wantState(events.Open)
		f.wantSteps(tripStep, probeStep, halfOpenTimeoutStep)
		r := f.last()
		want := events.Reason{Policy: events.PolicyHalfOpenTimeout, Successes: 1, Threshold: 2}
		if r.Reason != want || !r.Time.Equal(entered.Add(timeout)) || r.OpenFor != machine.DefaultRecoveryTimeout {
			t.Fatalf("record = %+v, want reason %+v at %v, open for %v", r, want, entered.Add(timeout), machine.DefaultRecoveryTimeout)
		}
		f.noErrors()
	})
	t.Run("a probe that never returns no longer holds the breaker", func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, machine.WithHalfOpenTimeout(timeout), machine.WithProbeLimit(1))
		f.failN(machine.DefaultFailureThreshold)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		hung, err := f.b.Allow(ctx) // the only slot, taken for ever
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.b.Allow(ctx); !errors.Is(err, machine.ErrOpen) {
			t.Fatalf("second probe = %v, want ErrOpen", err)
		}
		f.clk.Advance(timeout)
		f.wantState(events.Open)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustSucceed() // a new half-open period, with its slot free
		f.wantState(events.HalfOpen)
		hung.Done(errDep) // late: moves nothing
		f.wantState(events.HalfOpen)
		f.wantCounts(probes(0, 1))
		f.wantSteps(tripStep, probeStep, halfOpenTimeoutStep, probeStep)
	})
	t.Run("closing before the timeout stops it", func(t *testing.T) {
		f := newFixture(t, machine.WithHalfOpenTimeout(timeout))
		enterState(f, events.HalfOpen)
		f.mustSucceed()
		f.wantState(events.Closed)
		if n := f.clk.Pending(); n != 0 {
			t.Fatalf("%d timers pending in closed", n)
		}
		f.clk.Advance(time.Hour)
		f.wantSteps(tripStep, probeStep, recoverStep)
	})
	t.Run("a breaker resumed in half-open measures from the recorded time", func(t *testing.T) {
		first := newFixture(t)
		enterState(first, events.HalfOpen)
		g := &fixture{t: t, clk: clocktest.New(entered.Add(4 * time.Second)), j: first.j, log: &recorder{}, errs: &errSink{}}
		b, err := machine.New("svc",
			machine.WithClock(g.clk),
			machine.WithJournal(g.j),
			machine.WithHalfOpenTimeout(timeout),
			machine.WithSubscribers(hooks.Inline(g.log)),
		)
		if err != nil {
			t.Fatal(err)
		}
		g.b = b
		g.clk.Advance(timeout - 4*time.Second - time.Nanosecond)
		g.wantState(events.HalfOpen)
		g.clk.Advance(time.Nanosecond)
		g.wantState(events.Open)
		if r := g.last(); r.Event != events.Retrip || !r.Time.Equal(entered.Add(timeout)) || r.Reason.Successes != 0 {
			t.Fatalf("record = %+v, want retrip at %v with no success of this process", r, entered.Add(timeout))
		}
	})
	t.Run("a breaker resumed after the timeout re-opens on the first timer tick", func(t *testing.T) {
		first := newFixture(t)
		enterState(first, events.HalfOpen)
		clk := clocktest.New(entered.Add(time.Hour))
		b, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(first.j), machine.WithHalfOpenTimeout(timeout))
		if err != nil {
			t.Fatal(err)
		}
		wantBreakerState(t, b, events.HalfOpen)
		clk.Advance(0)
		wantBreakerState(t, b, events.Open)
	})
}

func TestProbeOnTimer(t *testing.T) {
	t.Run("the end of the open period fires probe without a call", func(t *testing.T) {
		f := newFixture(t, machine.WithProbeOnTimer())
		f.failN(machine.DefaultFailureThreshold)
		f.clk.Advance(machine.DefaultRecoveryTimeout - time.Nanosecond)
		f.wantState(events.Open)
		f.clk.Advance(time.Nanosecond)
		f.wantState(events.HalfOpen)
		f.wantSteps(tripStep, probeStep)
		r := f.last()
		if r.Reason != (events.Reason{Policy: events.PolicyOpenTimeout}) || !r.Time.Equal(t0.Add(machine.DefaultRecoveryTimeout)) {
			t.Fatalf("probe record = %+v", r)
		}
		f.mustSucceed()
		f.mustSucceed()
		f.wantState(events.Closed)
		f.noErrors()
	})
	t.Run("with a half-open timeout, timers alone cycle the breaker", func(t *testing.T) {
		f := newFixture(t, machine.WithProbeOnTimer(), machine.WithHalfOpenTimeout(5*time.Second), machine.WithBackoff(time.Second, 2, time.Minute))
		f.failN(machine.DefaultFailureThreshold)
		f.clk.Advance(time.Second + 5*time.Second + 2*time.Second)
		f.wantState(events.HalfOpen)
		f.wantSteps(tripStep, probeStep, halfOpenTimeoutStep, probeStep)
		if got, want := openFors(f.journal()), []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(got, want) {
			t.Fatalf("open periods %v, want %v", got, want)
		}
	})
	t.Run("a breaker resumed after its open period probes on the first timer tick", func(t *testing.T) {
		first := newFixture(t)
		first.failN(machine.DefaultFailureThreshold)
		clk := clocktest.New(t0.Add(time.Hour))
		log := &recorder{}
		b, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(first.j), machine.WithProbeOnTimer(), machine.WithSubscribers(hooks.Inline(log)))
		if err != nil {
			t.Fatal(err)
		}
		wantBreakerState(t, b, events.Open)
		clk.Advance(0)
		wantBreakerState(t, b, events.HalfOpen)
		if recs := log.Records(); len(recs) != 1 || recs[0].Event != events.Probe || !recs[0].Time.Equal(t0.Add(time.Hour)) {
			t.Fatalf("subscriber saw %v", recs)
		}
	})
	t.Run("a call that comes before the timer probes, and the timer then does nothing", func(t *testing.T) {
		first := newFixture(t)
		first.failN(machine.DefaultFailureThreshold)
		clk := clocktest.New(t0.Add(time.Hour)) // past the open period: the timer is due at once
		log := &recorder{}
		b, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(first.j), machine.WithProbeOnTimer(), machine.WithSubscribers(hooks.Inline(log)))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Do(context.Background(), okCall); err != nil { // before the timer runs
			t.Fatal(err)
		}
		clk.Advance(0)
		wantBreakerState(t, b, events.HalfOpen)
		if recs := log.Records(); len(recs) != 1 || recs[0].Event != events.Probe {
			t.Fatalf("subscriber saw %v, want one probe", recs)
		}
		if c := b.Counts(); c.ProbeSuccesses != 1 {
			t.Fatalf("Counts() = %+v, want the call's success as a probe", c)
		}
	})
}
