package machine_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// fallbackRun is what a FallbackObserver was told.
type fallbackRun struct {
	Breaker  string
	Rejected bool
	Err      error
}

// fallbackLog is a subscriber that keeps every fallback it is told of.
type fallbackLog struct {
	mu   sync.Mutex
	runs []fallbackRun
}

func (l *fallbackLog) Notify(context.Context, events.Transition) {}

func (l *fallbackLog) FallbackDone(_ context.Context, breaker string, rejected bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs = append(l.runs, fallbackRun{breaker, rejected, err})
}

func (l *fallbackLog) Runs() []fallbackRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]fallbackRun(nil), l.runs...)
}

var errStale = errors.New("no cached value")

func cached(context.Context, error) (string, error) { return "cached", nil }

func TestExecuteFallback(t *testing.T) {
	ctx := context.Background()
	fresh := func(context.Context) (string, error) { return "fresh", nil }
	failing := func(context.Context) (string, error) { return "", errDep }

	t.Run("a rejected call is served the fallback, which sees the rejection", func(t *testing.T) {
		log := &fallbackLog{}
		f := newFixture(t, machine.WithSubscribers(hooks.Inline(log)))
		enterState(f, events.Open)
		var seen error
		called := false
		v, err := machine.ExecuteFallback(ctx, f.b, func(context.Context) (string, error) {
			called = true
			return "fresh", nil
		}, func(_ context.Context, err error) (string, error) {
			seen = err
			return "cached", nil
		})
		if v != "cached" || err != nil || called {
			t.Fatalf("ExecuteFallback = %q, %v (call made: %v); want the fallback's value, no error, no call", v, err, called)
		}
		var oe *machine.OpenError
		if !errors.As(seen, &oe) || oe.State != events.Open {
			t.Fatalf("the fallback saw %v, want the *OpenError", seen)
		}
		if got := log.Runs(); len(got) != 1 || got[0] != (fallbackRun{"svc", true, nil}) {
			t.Fatalf("observer told %+v, want one fallback served for a rejection", got)
		}
		if c := f.b.Counts(); c.Rejected != 1 {
			t.Fatalf("counts %+v, want the rejection counted", c)
		}
	})
	t.Run("an admitted call is not served the fallback", func(t *testing.T) {
		log := &fallbackLog{}
		f := newFixture(t, machine.WithSubscribers(hooks.Inline(log)))
		if v, err := machine.ExecuteFallback(ctx, f.b, fresh, cached); v != "fresh" || err != nil {
			t.Fatalf("ExecuteFallback = %q, %v; want the call's", v, err)
		}
		if v, err := machine.ExecuteFallback(ctx, f.b, failing, cached); v != "" || !errors.Is(err, errDep) {
			t.Fatalf("a failure without OnFailure = %q, %v; want the call's error", v, err)
		}
		if got := log.Runs(); len(got) != 0 {
			t.Fatalf("observer told %+v, want nothing", got)
		}
	})
	t.Run("OnFailure serves a failed call too, which still counts", func(t *testing.T) {
		log := &fallbackLog{}
		f := newFixture(t, machine.WithSubscribers(hooks.Inline(log)), machine.WithFailureThreshold(2))
		var seen []error
		fb := func(_ context.Context, err error) (string, error) {
			seen = append(seen, err)
			return "cached", nil
		}
		for range 3 {
			if v, err := machine.ExecuteFallback(ctx, f.b, failing, fb, machine.OnFailure()); v != "cached" || err != nil {
				t.Fatalf("ExecuteFallback = %q, %v; want the fallback's", v, err)
			}
		}
		f.wantState(events.Open) // two failures tripped it; the third call was rejected
		if len(seen) != 3 || !errors.Is(seen[0], errDep) || !errors.Is(seen[1], errDep) || !errors.Is(seen[2], machine.ErrOpen) {
			t.Fatalf("the fallback saw %v, want two failures and a rejection", seen)
		}
		want := []fallbackRun{{"svc", false, nil}, {"svc", false, nil}, {"svc", true, nil}}
		if got := log.Runs(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("observer told %+v, want %+v", got, want)
		}
	})
	t.Run("OnFailure does not serve an ignored call", func(t *testing.T) {
		f := newFixture(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := machine.ExecuteFallback(cctx, f.b, func(ctx context.Context) (string, error) { return "", ctx.Err() }, cached, machine.OnFailure())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a call the caller gave up on: %v, want its context.Canceled", err)
		}
	})
	t.Run("a fallback that fails keeps both errors", func(t *testing.T) {
		log := &fallbackLog{}
		f := newFixture(t, machine.WithSubscribers(hooks.Inline(log)))
		enterState(f, events.Open)
		v, err := machine.ExecuteFallback(ctx, f.b, fresh, func(context.Context, error) (string, error) { return "junk", errStale })
		var fe *machine.FallbackError
		if v != "" || !errors.As(err, &fe) || !errors.Is(err, machine.ErrOpen) || !errors.Is(err, errStale) || fe.Breaker != "svc" {
			t.Fatalf("ExecuteFallback = %q, %v; want the zero value and a *FallbackError matching ErrOpen and the fallback's error", v, err)
		}
		if got := log.Runs(); len(got) != 1 || got[0] != (fallbackRun{"svc", true, errStale}) {
			t.Fatalf("observer told %+v, want one failed fallback", got)
		}
	})
	t.Run("a fallback that panics is told as failed, and re-raised", func(t *testing.T) {
		log := &fallbackLog{}
		f := newFixture(t, machine.WithSubscribers(hooks.Inline(log)))
		enterState(f, events.Open)
		func() {
			defer func() {
				if v := recover(); v != "fallback bug" {
					t.Fatalf("recovered %v, want the fallback's panic", v)
				}
			}()
			_, _ = machine.ExecuteFallback(ctx, f.b, fresh, func(context.Context, error) (string, error) { panic("fallback bug") })
		}()
		if got := log.Runs(); len(got) != 1 || !got[0].Rejected || got[0].Err == nil {
			t.Fatalf("observer told %+v, want one failed fallback", got)
		}
	})
	t.Run("an observer that panics does not break the call", func(t *testing.T) {
		bad := &panickyFallbackObserver{}
		f := newFixture(t, machine.WithSubscribers(hooks.Inline(bad)))
		enterState(f, events.Open)
		if v, err := machine.ExecuteFallback(ctx, f.b, fresh, cached); v != "cached" || err != nil {
			t.Fatalf("ExecuteFallback = %q, %v; want the fallback's value", v, err)
		}
		if errs := f.errs.Errors(); len(errs) != 1 {
			t.Fatalf("reported %v, want the observer's panic", errs)
		}
	})
	t.Run("refusals that are not rejections get no fallback", func(t *testing.T) {
		f := newFixture(t)
		if _, err := machine.ExecuteFallback[string](ctx, f.b, nil, cached); !errors.Is(err, machine.ErrNilFunc) {
			t.Errorf("nil fn: %v", err)
		}
		if _, err := machine.ExecuteFallback(ctx, f.b, fresh, nil); !errors.Is(err, machine.ErrNilFunc) {
			t.Errorf("nil fallback: %v", err)
		}
		//lint:ignore SA1012 a nil context is the point
		if v, err := machine.ExecuteFallback(nil, f.b, fresh, cached); v != "" || !errors.Is(err, machine.ErrNilContext) { //nolint:staticcheck
			t.Errorf("nil ctx: %q, %v", v, err)
		}
		if err := f.b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := machine.ExecuteFallback(ctx, f.b, fresh, cached); v != "" || !errors.Is(err, machine.ErrClosed) {
			t.Errorf("closed breaker: %q, %v", v, err)
		}
	})
	t.Run("a call that panics is counted and re-raised, with no fallback", func(t *testing.T) {
		log := &fallbackLog{}
		f := newFixture(t, machine.WithSubscribers(hooks.Inline(log)), machine.WithFailureThreshold(1))
		func() {
			defer func() {
				if v := recover(); v != "call bug" {
					t.Fatalf("recovered %v, want the call's panic", v)
				}
			}()
			_, _ = machine.ExecuteFallback(ctx, f.b, func(context.Context) (string, error) { panic("call bug") }, cached, machine.OnFailure())
		}()
		f.wantState(events.Open)
		if got := log.Runs(); len(got) != 0 {
			t.Fatalf("observer told %+v, want nothing", got)
		}
	})
}

type panickyFallbackObserver struct{}

func (panickyFallbackObserver) Notify(context.Context, events.Transition) {}
func (panickyFallbackObserver) FallbackDone(context.Context, string, bool, error) {
	panic("observer bug")
}

func TestReportFallback(t *testing.T) {
	log := &fallbackLog{}
	f := newFixture(t, machine.WithSubscribers(hooks.Inline(log)))
	f.b.ReportFallback(context.Background(), true, nil)
	f.b.ReportFallback(context.Background(), false, errStale)
	want := []fallbackRun{{"svc", true, nil}, {"svc", false, errStale}}
	if got := log.Runs(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("observer told %+v, want %+v", got, want)
	}
}
