package machine_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

var (
	tripStep    = step{events.Trip, events.Closed, events.Open}
	probeStep   = step{events.Probe, events.Open, events.HalfOpen}
	recoverStep = step{events.Recover, events.HalfOpen, events.Closed}
	retripStep  = step{events.Retrip, events.HalfOpen, events.Open}
)

func (f *fixture) wantCounts(check func(machine.Counts) error) {
	f.t.Helper()
	if err := check(f.b.Counts()); err != nil {
		f.t.Fatalf("Counts() = %+v: %v", f.b.Counts(), err)
	}
}

func consecutive(n uint32) func(machine.Counts) error {
	return func(c machine.Counts) error {
		if c.ConsecutiveFailures != n {
			return fmt.Errorf("ConsecutiveFailures = %d, want %d", c.ConsecutiveFailures, n)
		}
		return nil
	}
}

func probes(inFlight, successes uint32) func(machine.Counts) error {
	return func(c machine.Counts) error {
		if c.Probes != inFlight || c.ProbeSuccesses != successes {
			return fmt.Errorf("Probes, ProbeSuccesses = %d, %d, want %d, %d", c.Probes, c.ProbeSuccesses, inFlight, successes)
		}
		return nil
	}
}

func TestFailureThreshold(t *testing.T) {
	t.Run("4 failures stay closed, the 5th trips", func(t *testing.T) {
		f := newFixture(t)
		f.failN(4)
		f.wantState(events.Closed)
		f.wantCounts(consecutive(4))
		f.wantSteps()
		f.mustFail()
		f.wantState(events.Open)
		f.wantCounts(consecutive(0))
		f.wantSteps(tripStep)
		r := f.last()
		want := events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: errDep.Error()}
		if r.Reason != want {
			t.Fatalf("trip reason = %+v, want %+v", r.Reason, want)
		}
		if r.OpenFor != machine.DefaultRecoveryTimeout || !r.Time.Equal(t0) {
			t.Fatalf("trip record OpenFor %v at %v, want %v at %v", r.OpenFor, r.Time, machine.DefaultRecoveryTimeout, t0)
		}
		if c := f.b.Counts(); c.Failures != 5 || c.Successes != 0 {
			t.Fatalf("Counts() = %+v, want 5 failures", c)
		}
		f.noErrors()
	})
	t.Run("4 failures, a success, 4 failures stay closed", func(t *testing.T) {
		f := newFixture(t)
		f.failN(4)
		f.mustSucceed()
		f.wantCounts(consecutive(0))
		f.failN(4)
		f.wantState(events.Closed)
		f.wantCounts(consecutive(4))
		f.wantSteps()
		if c := f.b.Counts(); c.Failures != 8 || c.Successes != 1 {
			t.Fatalf("Counts() = %+v, want 8 failures and 1 success", c)
		}
	})
	t.Run("threshold 1 trips on the first failure", func(t *testing.T) {
		f := newFixture(t, machine.WithFailureThreshold(1))
		f.mustFail()
		f.wantState(events.Open)
		f.wantSteps(tripStep)
	})
}

func TestRecoveryTimeoutBoundary(t *testing.T) {
	f := newFixture(t)
	f.failN(5)
	f.wantState(events.Open)

	f.clk.Advance(machine.DefaultRecoveryTimeout - time.Nanosecond)
	called := false
	err := f.do(func(context.Context) error { called = true; return nil })
	if called {
		t.Fatal("fn was called while open")
	}
	oe := openError(t, err)
	if oe.State != events.Open || oe.Breaker != "svc" {
		t.Fatalf("OpenError = %+v, want breaker svc in state open", oe)
	}
	if got := oe.RetryAfter(); got != machine.MinRetryAfter {
		t.Fatalf("RetryAfter() 1ns before the end = %v, want MinRetryAfter", got)
	}
	if !oe.Until.Equal(t0.Add(machine.DefaultRecoveryTimeout)) {
		t.Fatalf("Until = %v, want %v", oe.Until, t0.Add(machine.DefaultRecoveryTimeout))
	}
	if c := f.b.Counts(); c.Rejected != 1 {
		t.Fatalf("Counts().Rejected = %d, want 1", c.Rejected)
	}
	f.wantState(events.Open)

	f.clk.Advance(time.Nanosecond)
	if got := oe.RetryAfter(); got != machine.MinRetryAfter {
		t.Fatalf("RetryAfter() once the period ended = %v, want MinRetryAfter", got)
	}
	err = f.do(func(context.Context) error {
		called = true
		if s := f.b.State(); s != events.HalfOpen {
			t.Errorf("State() inside the probe = %s, want half_open", s)
		}
		return nil
	})
	if err != nil || !called {
		t.Fatalf("first call after the open period: err %v, called %v", err, called)
	}
	f.wantState(events.HalfOpen)
	f.wantCounts(probes(0, 1))
	f.wantSteps(tripStep, probeStep)
	r := f.last()
	if r.Reason.Policy != events.PolicyOpenTimeout || !r.Time.Equal(t0.Add(machine.DefaultRecoveryTimeout)) {
		t.Fatalf("probe record = %+v", r)
	}
	f.noErrors()
}

func TestSuccessThreshold(t *testing.T) {
	f := newFixture(t)
	enterState(f, events.HalfOpen) // one probe success so far
	f.wantCounts(probes(0, 1))
	f.wantState(events.HalfOpen)
	f.mustSucceed()
	f.wantState(events.Closed)
	f.wantCounts(consecutive(0))
	f.wantSteps(tripStep, probeStep, recoverStep)
	want := events.Reason{Policy: events.PolicyProbeSuccesses, Successes: 2, Threshold: 2}
	if r := f.last(); r.Reason != want || r.OpenFor != 0 {
		t.Fatalf("recover record = %+v, want reason %+v", r, want)
	}
}

// TestRetripResetsCounters is the seed's bug: a probe success counted in one
// half-open period must not count in the next.
func TestRetripResetsCounters(t *testing.T) {
	f := newFixture(t)
	enterState(f, events.HalfOpen) // 1 success
	f.mustFail()
	f.wantState(events.Open)
	f.wantSteps(tripStep, probeStep, retripStep)
	r := f.last()
	if r.Reason.Policy != events.PolicyProbeFailure || r.Reason.Successes != 1 || r.Reason.LastError != errDep.Error() {
		t.Fatalf("retrip reason = %+v", r.Reason)
	}
	if r.OpenFor != machine.DefaultRecoveryTimeout {
		t.Fatalf("retrip OpenFor = %v", r.OpenFor)
	}

	f.clk.Advance(machine.DefaultRecoveryTimeout)
	f.mustSucceed()
	f.wantState(events.HalfOpen) // 1 fresh success is not enough
	f.wantCounts(probes(0, 1))
	f.mustSucceed()
	f.wantState(events.Closed)
	f.wantSteps(tripStep, probeStep, retripStep, probeStep, recoverStep)
}

func TestProbeLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.failN(5)
	f.clk.Advance(machine.DefaultRecoveryTimeout)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p1, err := f.b.Allow(cctx)
	if err != nil {
		t.Fatalf("first probe: %v", err)
	}
	f.wantState(events.HalfOpen)
	p2, err := f.b.Allow(ctx)
	if err != nil {
		t.Fatalf("second probe: %v", err)
	}
	f.wantCounts(probes(2, 0))

	_, err = f.b.Allow(ctx)
	oe := openError(t, err)
	if oe.State != events.HalfOpen || oe.RetryAfter() != machine.MinRetryAfter {
		t.Fatalf("third probe rejected with %+v (RetryAfter %v), want state half_open and RetryAfter MinRetryAfter", oe, oe.RetryAfter())
	}
	if err := f.do(okCall); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("Do with every slot taken: %v, want ErrOpen", err)
	}
	if c := f.b.Counts(); c.Rejected != 2 {
		t.Fatalf("Rejected = %d, want 2", c.Rejected)
	}

	// The caller of the first probe gives up: its slot frees, nothing counts.
	cancel()
	p1.Done(cctx.Err())
	f.wantCounts(probes(1, 0))
	if c := f.b.Counts(); c.Ignored != 1 {
		t.Fatalf("Ignored = %d, want 1", c.Ignored)
	}
	f.wantState(events.HalfOpen)

	p3, err := f.b.Allow(ctx)
	if err != nil {
		t.Fatalf("probe after a slot freed: %v", err)
	}
	f.wantCounts(probes(2, 0))
	p2.Done(nil)
	p3.Done(nil)
	f.wantState(events.Closed)
	f.wantSteps(tripStep, probeStep, recoverStep)
}

func TestProbeLimitOption(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, machine.WithProbeLimit(3), machine.WithSuccessThreshold(1))
	f.failN(5)
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	var ps []machine.Permit
	for i := range 3 {
		p, err := f.b.Allow(ctx)
		if err != nil {
			t.Fatalf("probe %d: %v", i+1, err)
		}
		ps = append(ps, p)
	}
	if _, err := f.b.Allow(ctx); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("fourth probe: %v, want ErrOpen", err)
	}
	ps[0].Done(nil) // closes: threshold 1
	f.wantState(events.Closed)
	ps[1].Done(errDep) // late: the half-open generation is over
	ps[2].Done(errDep)
	f.wantState(events.Closed)
	f.wantCounts(consecutive(0))
	f.wantSteps(tripStep, probeStep, recoverStep)
}

func TestLateOutcomeIgnored(t *testing.T) {
	ctx := context.Background()
	t.Run("closed permit finishing after a trip", func(t *testing.T) {
		f := newFixture(t)
		old, err := f.b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.failN(5)
		f.wantState(events.Open)
		old.Done(errDep)
		f.wantState(events.Open)
		if c := f.b.Counts(); c.Failures != 6 {
			t.Fatalf("Failures = %d, want 6 (the late one counts in the totals)", c.Failures)
		}
		f.wantSteps(tripStep)
	})
	t.Run("closed permit finishing after a trip and recovery", func(t *testing.T) {
		f := newFixture(t, machine.WithSuccessThreshold(1))
		var old []machine.Permit
		for range 5 {
			p, err := f.b.Allow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			old = append(old, p)
		}
		f.failN(5)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustSucceed()
		f.wantState(events.Closed)
		for _, p := range old {
			p.Done(errDep) // five failures of an older closed period
		}
		f.wantState(events.Closed)
		f.wantCounts(consecutive(0))
		f.wantSteps(tripStep, probeStep, recoverStep)
	})
	t.Run("probe permit finishing after a force_close", func(t *testing.T) {
		f := newFixture(t)
		f.failN(5)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		probe, err := f.b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.wantState(events.HalfOpen)
		if err := f.b.ForceClose(ctx, operator); err != nil {
			t.Fatal(err)
		}
		probe.Done(errDep)
		f.wantState(events.Closed)
		f.wantCounts(consecutive(0))
		if c := f.b.Counts(); c.Failures != 6 {
			t.Fatalf("Failures = %d, want 6", c.Failures)
		}
		f.wantSteps(tripStep, probeStep, step{events.ForceClose, events.HalfOpen, events.Closed})
	})
	t.Run("probe permit finishing in a later half-open period", func(t *testing.T) {
		f := newFixture(t)
		f.failN(5)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		old, err := f.b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.mustFail() // retrip
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustSucceed() // a fresh half-open period, one success
		old.Done(nil)   // must not be the second success
		f.wantState(events.HalfOpen)
		f.wantCounts(probes(0, 1))
		old.Done(errDep) // nor retrip it
		f.wantState(events.HalfOpen)
		f.wantSteps(tripStep, probeStep, retripStep, probeStep)
	})
}

func TestCancelledCaller(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0)) // long past
	defer cancel2()
	cases := []struct {
		name    string
		ctx     context.Context
		fn      func(context.Context) error
		outcome machine.Outcome
	}{
		{"caller cancelled, fn returns ctx.Err()", cancelled, func(ctx context.Context) error { return ctx.Err() }, machine.Ignored},
		{"caller cancelled, fn wraps ctx.Err()", cancelled, func(ctx context.Context) error { return fmt.Errorf("dial: %w", ctx.Err()) }, machine.Ignored},
		{"caller cancelled, fn succeeds", cancelled, func(context.Context) error { return nil }, machine.Success},
		{"caller cancelled, fn fails otherwise", cancelled, func(context.Context) error { return errDep }, machine.Failure},
		{"caller live, fn returns context.Canceled", context.Background(), func(context.Context) error { return context.Canceled }, machine.Failure},
		{"deadline exceeded", expired, func(ctx context.Context) error { return ctx.Err() }, machine.Failure},
		{"caller live, fn returns DeadlineExceeded", context.Background(), func(context.Context) error { return context.DeadlineExceeded }, machine.Failure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.failN(2)
			_ = f.b.Do(c.ctx, c.fn)
			got := f.b.Counts()
			want := machine.Counts{Failures: 2, ConsecutiveFailures: 2}
			switch c.outcome {
			case machine.Ignored:
				want.Ignored = 1
			case machine.Success:
				want.Successes = 1
				want.ConsecutiveFailures = 0
			case machine.Failure:
				want.Failures = 3
				want.ConsecutiveFailures = 3
			}
			if got != want {
				t.Fatalf("Counts() = %+v, want %+v", got, want)
			}
			if got := machine.DefaultClassifier(c.ctx, c.fn(c.ctx)); got != c.outcome {
				t.Fatalf("DefaultClassifier = %s, want %s", got, c.outcome)
			}
		})
	}
}

// doRecovering runs fn through Do and returns what it panicked with.
func doRecovering(b *machine.Breaker, fn func(context.Context) error) (v any, err error) {
	defer func() { v = recover() }()
	err = b.Do(context.Background(), fn)
	return nil, err
}

func TestPanicCountsAndIsReraised(t *testing.T) {
	type boom struct{ code int }
	t.Run("closed", func(t *testing.T) {
		f := newFixture(t)
		v, _ := doRecovering(f.b, func(context.Context) error { panic(boom{42}) })
		if v != (boom{42}) {
			t.Fatalf("recovered %v, want the panic value boom{42}", v)
		}
		if c := f.b.Counts(); c.Failures != 1 || c.ConsecutiveFailures != 1 {
			t.Fatalf("Counts() = %+v, want 1 failure", c)
		}
		f.wantState(events.Closed)
	})
	t.Run("five panics trip", func(t *testing.T) {
		f := newFixture(t)
		for range 5 {
			if v, _ := doRecovering(f.b, func(context.Context) error { panic("boom") }); v != "boom" {
				t.Fatalf("recovered %v", v)
			}
		}
		f.wantState(events.Open)
		if r := f.last(); r.Reason.LastError != "panic: boom" {
			t.Fatalf("trip LastError = %q", r.Reason.LastError)
		}
	})
	t.Run("half-open probe retrips", func(t *testing.T) {
		f := newFixture(t)
		f.failN(5)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		v, _ := doRecovering(f.b, func(context.Context) error { panic("probe exploded") })
		if v != "probe exploded" {
			t.Fatalf("recovered %v", v)
		}
		f.wantState(events.Open)
		f.wantSteps(tripStep, probeStep, retripStep)
		if r := f.last(); !strings.Contains(r.Reason.LastError, "panic") || !strings.Contains(r.Reason.LastError, "probe exploded") {
			t.Fatalf("retrip LastError = %q, want it to say panic", r.Reason.LastError)
		}
		if c := f.b.Counts(); c.Failures != 6 {
			t.Fatalf("Failures = %d, want 6", c.Failures)
		}
	})
	t.Run("Execute", func(t *testing.T) {
		f := newFixture(t)
		var v any
		func() {
			defer func() { v = recover() }()
			_, _ = machine.Execute(context.Background(), f.b, func(context.Context) (int, error) { panic("exec") })
		}()
		if v != "exec" {
			t.Fatalf("recovered %v", v)
		}
		if c := f.b.Counts(); c.Failures != 1 {
			t.Fatalf("Failures = %d, want 1", c.Failures)
		}
	})
	t.Run("the classifier sees a PanicError", func(t *testing.T) {
		var seen error
		f := newFixture(t, machine.WithClassifier(func(ctx context.Context, err error) machine.Outcome {
			seen = err
			return machine.DefaultClassifier(ctx, err)
		}))
		_, _ = doRecovering(f.b, func(context.Context) error { panic("x") })
		var pe *machine.PanicError
		if !errors.As(seen, &pe) || pe.Value != "x" {
			t.Fatalf("classifier saw %v (%T), want *PanicError{x}", seen, seen)
		}
	})
}

func TestGoexitIsIgnoredAndFreesProbeSlot(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, machine.WithProbeLimit(1))
	f.failN(5)
	f.clk.Advance(machine.DefaultRecoveryTimeout)

	done := make(chan error, 1)
	go func() {
		var err error = errors.New("fn returned")
		defer func() { done <- err }()
		err = f.b.Do(ctx, func(context.Context) error {
			runtime.Goexit()
			return nil
		})
	}()
	if err := <-done; err == nil || err.Error() != "fn returned" {
		t.Fatalf("Do returned (%v) although fn exited its goroutine", err)
	}
	f.wantState(events.HalfOpen)
	f.wantCounts(probes(0, 0))
	if c := f.b.Counts(); c.Ignored != 1 || c.Failures != 5 || c.Successes != 0 {
		t.Fatalf("Counts() = %+v, want 1 ignored", c)
	}
	p, err := f.b.Allow(ctx)
	if err != nil {
		t.Fatalf("the slot was not freed: %v", err)
	}
	p.Done(nil)
	f.wantCounts(probes(0, 1))
	f.wantSteps(tripStep, probeStep)
}

func TestGoexitInClosed(t *testing.T) {
	f := newFixture(t)
	f.failN(2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.b.Do(context.Background(), func(context.Context) error { runtime.Goexit(); return nil })
	}()
	<-done
	if c := f.b.Counts(); c.Ignored != 1 || c.ConsecutiveFailures != 2 {
		t.Fatalf("Counts() = %+v, want 1 ignored and 2 consecutive failures", c)
	}
}

func TestCustomClassifier(t *testing.T) {
	classify := func(ctx context.Context, err error) machine.Outcome {
		if errors.Is(err, errSentinel) {
			return machine.Ignored
		}
		return machine.DefaultClassifier(ctx, err)
	}
	t.Run("closed", func(t *testing.T) {
		f := newFixture(t, machine.WithClassifier(classify))
		f.failN(4)
		for range 10 {
			if err := f.do(func(context.Context) error { return errSentinel }); !errors.Is(err, errSentinel) {
				t.Fatalf("Do returned %v, want the function's error", err)
			}
		}
		f.wantState(events.Closed)
		if c := f.b.Counts(); c.Ignored != 10 || c.ConsecutiveFailures != 4 || c.Failures != 4 {
			t.Fatalf("Counts() = %+v", c)
		}
		f.mustFail()
		f.wantState(events.Open)
	})
	t.Run("half-open", func(t *testing.T) {
		f := newFixture(t, machine.WithClassifier(classify))
		enterState(f, events.HalfOpen)
		_ = f.do(func(context.Context) error { return errSentinel })
		f.wantState(events.HalfOpen)
		f.wantCounts(probes(0, 1))
	})
	t.Run("a classifier can count errors as successes", func(t *testing.T) {
		f := newFixture(t, machine.WithClassifier(func(context.Context, error) machine.Outcome { return machine.Success }))
		f.failN(10)
		f.wantState(events.Closed)
		if c := f.b.Counts(); c.Successes != 10 || c.Failures != 0 {
			t.Fatalf("Counts() = %+v", c)
		}
	})
}

func TestExecute(t *testing.T) {
	f := newFixture(t, machine.WithFailureThreshold(1))
	v, err := machine.Execute(context.Background(), f.b, func(context.Context) (string, error) { return "pong", nil })
	if v != "pong" || err != nil {
		t.Fatalf("Execute = %q, %v", v, err)
	}
	v, err = machine.Execute(context.Background(), f.b, func(context.Context) (string, error) { return "partial", errDep })
	if v != "partial" || !errors.Is(err, errDep) {
		t.Fatalf("Execute = %q, %v; want the function's value and error", v, err)
	}
	v, err = machine.Execute(context.Background(), f.b, func(context.Context) (string, error) { return "never", nil })
	if v != "" || !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("Execute while open = %q, %v", v, err)
	}
}

func TestZeroPermitDone(t *testing.T) {
	f := newFixture(t)
	var p machine.Permit
	p.Done(errDep) // nothing to count
	if c := f.b.Counts(); c != (machine.Counts{}) {
		t.Fatalf("Counts() = %+v", c)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[machine.Outcome]string{machine.Success: "success", machine.Failure: "failure", machine.Ignored: "ignored", 9: "Outcome(9)"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", uint8(o), got, want)
		}
	}
}

// TestProbeDoneTwice: Done called twice on one probe permit is the caller's
// bug; it counts twice, but must not wedge the breaker in half-open with
// every slot taken for ever.
func TestProbeDoneTwice(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.failN(5)
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	p, err := f.b.Allow(cctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Done(cctx.Err())
	p.Done(cctx.Err())
	if c := f.b.Counts(); c.Ignored != 2 || c.Probes != 0 {
		t.Fatalf("Counts() = %+v, want 2 ignored and no probe in flight", c)
	}
	f.mustSucceed()
	f.mustSucceed()
	f.wantState(events.Closed)
}
