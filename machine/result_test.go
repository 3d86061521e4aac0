package machine_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// report admits a call and ends it with r, as a proxy that sees only a
// status code does.
func (f *fixture) report(r machine.Result) {
	f.t.Helper()
	p, err := f.b.Allow(context.Background())
	if err != nil {
		f.t.Fatalf("Allow: %v", err)
	}
	p.Report(r)
	machine.Settle(f.b)
}

func TestReportWithACause(t *testing.T) {
	f := newFixture(t)
	for range machine.DefaultFailureThreshold {
		f.report(machine.Result{Outcome: machine.Failure, Cause: "HTTP 503"})
	}
	f.wantState(events.Open)
	r := f.last()
	want := events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: "HTTP 503"}
	if r.Reason != want {
		t.Fatalf("trip reason = %+v, want %+v", r.Reason, want)
	}
	f.noErrors()
}

func TestReportCauseIsClipped(t *testing.T) {
	f := newFixture(t, machine.WithFailureThreshold(1))
	f.report(machine.Result{Outcome: machine.Failure, Cause: strings.Repeat("é", 2000)})
	if got := f.last().Reason.LastError; len(got) > 1100 || !strings.HasSuffix(got, "…(truncated)") {
		t.Fatalf("last error of %d bytes, want it cut to about 1 KiB and marked", len(got))
	}
}

func TestRetryAfterOpensForTheTimeAsked(t *testing.T) {
	const asked = 90 * time.Second
	for _, tc := range []struct {
		name    string
		opts    []machine.Option
		asked   time.Duration
		granted time.Duration
	}{
		{"as asked", nil, asked, asked},
		{"shorter than the recovery timeout", nil, 2 * time.Second, 2 * time.Second},
		{"capped by default", nil, 24 * time.Hour, machine.DefaultMaxRetryAfter},
		{"capped by the option", []machine.Option{machine.WithMaxRetryAfter(10 * time.Minute)}, time.Hour, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts...)
			f.report(machine.Result{Outcome: machine.Failure, Cause: "HTTP 429", RetryAfter: tc.asked})
			f.wantState(events.Open) // one failure: the dependency asked
			r := f.last()
			want := events.Reason{Policy: events.PolicyRetryAfter, Failures: 1, RetryAfter: tc.asked, LastError: "HTTP 429"}
			if r.Event != events.Trip || r.Reason != want || r.OpenFor != tc.granted {
				t.Fatalf("record = %s %+v open for %s; want trip %+v open for %s", r.Event, r.Reason, r.OpenFor, want, tc.granted)
			}
			f.clk.Advance(tc.granted - time.Nanosecond)
			if err := f.do(okCall); !errors.Is(err, machine.ErrOpen) {
				t.Fatalf("a call just before the time granted: %v, want a rejection", err)
			}
			f.clk.Advance(time.Nanosecond)
			f.mustSucceed() // the probe
			f.wantState(events.HalfOpen)
			f.noErrors()
		})
	}
}

func TestRetryAfterFromAProbe(t *testing.T) {
	f := newFixture(t)
	enterState(f, events.HalfOpen) // one probe success of two
	f.report(machine.Result{Outcome: machine.Failure, RetryAfter: time.Minute})
	f.wantState(events.Open)
	r := f.last()
	want := events.Reason{Policy: events.PolicyRetryAfter, Failures: 1, RetryAfter: time.Minute}
	if r.Event != events.Retrip || r.Reason != want || r.OpenFor != time.Minute {
		t.Fatalf("record = %s %+v open for %s; want retrip %+v open for 1m", r.Event, r.Reason, r.OpenFor, want)
	}
	f.wantCounts(probes(0, 0))
	f.wantSteps(tripStep, probeStep, retripStep)
}

func TestRetryAfterThatAsksNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    machine.Result
		want func(machine.Counts) error
	}{
		{"zero: a plain failure", machine.Result{Outcome: machine.Failure}, nil},
		{"negative: a plain failure", machine.Result{Outcome: machine.Failure, RetryAfter: -time.Second}, nil},
		{"on a success: ignored", machine.Result{Outcome: machine.Success, RetryAfter: time.Minute}, nil},
		{"on an ignored call: ignored", machine.Result{Outcome: machine.Ignored, RetryAfter: time.Minute}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.report(tc.r)
			f.wantState(events.Closed)
			f.wantSteps()
			c := f.b.Counts()
			switch tc.r.Outcome {
			case machine.Failure:
				if c.Failures != 1 || c.ConsecutiveFailures != 1 {
					t.Fatalf("counts %+v, want one failure, consecutive", c)
				}
			case machine.Success:
				if c.Successes != 1 {
					t.Fatalf("counts %+v, want one success", c)
				}
			case machine.Ignored:
				if c.Ignored != 1 {
					t.Fatalf("counts %+v, want one ignored", c)
				}
			}
		})
	}
}

func TestRetryAfterReplays(t *testing.T) {
	f := newFixture(t)
	f.report(machine.Result{Outcome: machine.Failure, RetryAfter: 3 * time.Minute})
	f.wantState(events.Open)
	f.clk.Advance(time.Minute)
	// A breaker made over the same journal resumes open for the two minutes
	// left of the time granted, not the recovery timeout.
	again, err := machine.New("svc", machine.WithClock(f.clk), machine.WithJournal(f.j))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(context.Background())
	if got, want := again.Snapshot(), f.b.Snapshot(); !got.Equal(want) {
		t.Fatalf("resumed snapshot %+v, want %+v", got, want)
	}
	var oe *machine.OpenError
	if err := again.Do(context.Background(), okCall); !errors.As(err, &oe) || oe.RetryAfter() != 2*time.Minute {
		t.Fatalf("a call on the resumed breaker: %v, want a rejection for 2m more", err)
	}
}

// An outcome of a call admitted before the breaker moved moves nothing,
// whatever it asks.
func TestRetryAfterOfALateCall(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p, err := f.b.Allow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.b.ForceOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	if err := f.b.ForceClose(ctx, operator); err != nil {
		t.Fatal(err)
	}
	p.Report(machine.Result{Outcome: machine.Failure, RetryAfter: time.Minute})
	f.wantState(events.Closed)
	f.noErrors()
}

func TestReportAnUndeclaredOutcome(t *testing.T) {
	f := newFixture(t, machine.WithFailureThreshold(1))
	f.report(machine.Result{Outcome: machine.Outcome(7), RetryAfter: time.Minute})
	f.report(machine.Result{Outcome: machine.Outcome(9)})
	f.wantState(events.Closed)
	if c := f.b.Counts(); c.Ignored != 2 {
		t.Fatalf("counts %+v, want two ignored calls", c)
	}
	errs := f.errs.Errors()
	var ce *machine.ClassifierError
	if len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Outcome != 7 {
		t.Fatalf("reported %v, want one *ClassifierError for Outcome(7)", errs)
	}
}

func TestWithMaxRetryAfterRefusesANonPositiveCap(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := machine.New("svc", machine.WithMaxRetryAfter(d)); !errors.Is(err, events.ErrInvalidOption) || !strings.Contains(err.Error(), "WithMaxRetryAfter") {
			t.Errorf("WithMaxRetryAfter(%s): %v, want an option error naming it", d, err)
		}
	}
}

// response is what an HTTP client would see: a status, and the time a 429
// or 503 asks to wait.
type response struct {
	status int
	wait   time.Duration
}

func classifyResponse(_ context.Context, r response, err error) machine.Result {
	switch {
	case err != nil:
		return machine.Result{Outcome: machine.Failure}
	case r.status == 429 || r.status >= 500:
		return machine.Result{Outcome: machine.Failure, Cause: "HTTP " + strconv.Itoa(r.status), RetryAfter: r.wait}
	}
	return machine.Result{Outcome: machine.Success}
}

func TestExecuteResult(t *testing.T) {
	ctx := context.Background()
	t.Run("a response is a failure without an error", func(t *testing.T) {
		f := newFixture(t, machine.WithFailureThreshold(2))
		for range 2 {
			v, err := machine.ExecuteResult(ctx, f.b, func(context.Context) (response, error) { return response{status: 503}, nil }, classifyResponse)
			if err != nil || v.status != 503 {
				t.Fatalf("ExecuteResult = %+v, %v; want the 503 response, no error", v, err)
			}
		}
		f.wantState(events.Open)
		if got := f.last().Reason.LastError; got != "HTTP 503" {
			t.Fatalf("last error %q, want HTTP 503", got)
		}
		v, err := machine.ExecuteResult(ctx, f.b, func(context.Context) (response, error) { return response{status: 200}, nil }, classifyResponse)
		if !errors.Is(err, machine.ErrOpen) || v != (response{}) {
			t.Fatalf("while open: %+v, %v; want the zero value and ErrOpen", v, err)
		}
	})
	t.Run("a 429 opens for the time it asks", func(t *testing.T) {
		f := newFixture(t)
		_, _ = machine.ExecuteResult(ctx, f.b, func(context.Context) (response, error) {
			return response{status: 429, wait: 45 * time.Second}, nil
		}, classifyResponse)
		f.wantState(events.Open)
		if r := f.last(); r.OpenFor != 45*time.Second || r.Reason.Policy != events.PolicyRetryAfter || r.Reason.LastError != "HTTP 429" {
			t.Fatalf("record %+v, want retry_after for 45s, HTTP 429", r)
		}
	})
	t.Run("the breaker's own classifier is not used", func(t *testing.T) {
		never := func(context.Context, error) machine.Outcome { panic("not this one") }
		f := newFixture(t, machine.WithClassifier(never), machine.WithFailureThreshold(1))
		_, err := machine.ExecuteResult(ctx, f.b, func(context.Context) (response, error) { return response{}, errDep }, classifyResponse)
		if !errors.Is(err, errDep) {
			t.Fatalf("err = %v, want the call's", err)
		}
		f.wantState(events.Open)
		f.noErrors()
	})
	t.Run("a panicking classifier: ignored, reported once", func(t *testing.T) {
		f := newFixture(t, machine.WithFailureThreshold(1))
		bad := func(context.Context, response, error) machine.Result { panic("classifier bug") }
		for range 2 {
			if _, err := machine.ExecuteResult(ctx, f.b, func(context.Context) (response, error) { return response{}, errDep }, bad); !errors.Is(err, errDep) {
				t.Fatalf("err = %v, want the call's", err)
			}
		}
		f.wantState(events.Closed)
		if c := f.b.Counts(); c.Ignored != 2 {
			t.Fatalf("counts %+v, want two ignored", c)
		}
		var ce *machine.ClassifierError
		if errs := f.errs.Errors(); len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Panic != "classifier bug" {
			t.Fatalf("reported %v, want one *ClassifierError", errs)
		}
	})
	t.Run("a panic in the call: classified with the zero value, re-raised", func(t *testing.T) {
		f := newFixture(t, machine.WithFailureThreshold(1))
		var seen error
		classify := func(_ context.Context, v response, err error) machine.Result {
			seen = err
			return machine.Result{Outcome: machine.Failure, Cause: "panicked"}
		}
		func() {
			defer func() {
				if v := recover(); v != "boom" {
					t.Fatalf("recovered %v, want the call's panic", v)
				}
			}()
			_, _ = machine.ExecuteResult(ctx, f.b, func(context.Context) (response, error) { panic("boom") }, classify)
		}()
		var pe *machine.PanicError
		if !errors.As(seen, &pe) || pe.Value != "boom" {
			t.Fatalf("the classifier saw %v, want a *PanicError", seen)
		}
		f.wantState(events.Open)
		if got := f.last().Reason.LastError; got != "panicked" {
			t.Fatalf("last error %q", got)
		}
	})
	t.Run("nil arguments", func(t *testing.T) {
		f := newFixture(t)
		if _, err := machine.ExecuteResult[response](ctx, f.b, nil, classifyResponse); !errors.Is(err, machine.ErrNilFunc) {
			t.Errorf("nil fn: %v", err)
		}
		if _, err := machine.ExecuteResult(ctx, f.b, func(context.Context) (response, error) { return response{}, nil }, nil); !errors.Is(err, machine.ErrNilFunc) {
			t.Errorf("nil classify: %v", err)
		}
		//lint:ignore SA1012 a nil context is the point
		if _, err := machine.ExecuteResult(nil, f.b, func(context.Context) (response, error) { return response{}, nil }, classifyResponse); !errors.Is(err, machine.ErrNilContext) { //nolint:staticcheck
			t.Errorf("nil ctx: %v", err)
		}
		if c := f.b.Counts(); c.Successes+c.Failures+c.Ignored != 0 {
			t.Errorf("counts %+v: a refused call was counted", c)
		}
	})
}

func TestReportFunc(t *testing.T) {
	f := newFixture(t, machine.WithFailureThreshold(1))
	p, err := f.b.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.ReportFunc(func() machine.Result { return machine.Result{Outcome: machine.Failure, Cause: "HTTP 500"} })
	f.wantState(events.Open)
	if got := f.last().Reason.LastError; got != "HTTP 500" {
		t.Fatalf("last error %q", got)
	}
	if err := f.b.ForceClose(context.Background(), operator); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		p, err := f.b.Allow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p.ReportFunc(func() machine.Result { panic("classifier bug") })
	}
	f.wantState(events.Closed)
	if c := f.b.Counts(); c.Ignored != 2 {
		t.Fatalf("counts %+v, want two ignored", c)
	}
	var ce *machine.ClassifierError
	if errs := f.errs.Errors(); len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Panic != "classifier bug" {
		t.Fatalf("reported %v, want one *ClassifierError", errs)
	}
	machine.Permit{}.ReportFunc(func() machine.Result { panic("never run") }) // the zero Permit does nothing
}
