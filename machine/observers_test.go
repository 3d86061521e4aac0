package machine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// observer is a subscriber that also hears of rejections and times calls.
type observer struct {
	recorder
	times bool

	mu       sync.Mutex
	rejected []string // breaker/state/retry-after/ctx value of each rejection
	finished []string // outcome and duration of each admitted call
}

func (o *observer) CallRejected(ctx context.Context, err *machine.OpenError) {
	v, _ := ctx.Value(ctxKey{}).(string)
	o.mu.Lock()
	o.rejected = append(o.rejected, err.Breaker+" "+err.State.String()+" "+err.RetryAfter().String()+" "+v)
	o.mu.Unlock()
}

func (o *observer) TimesCalls() bool { return o.times }

func (o *observer) CallFinished(_ context.Context, breaker string, out machine.Outcome, d time.Duration) {
	o.mu.Lock()
	o.finished = append(o.finished, breaker+" "+out.String()+" "+d.String())
	o.mu.Unlock()
}

func (o *observer) lists() (rejected, finished []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.rejected), slices.Clone(o.finished)
}

func TestCallObserverAndTimer(t *testing.T) {
	obs := &observer{times: true}
	f := newFixture(t, machine.WithSubscribers(obs), machine.WithFailureThreshold(1), machine.WithProbeLimit(1))
	defer f.b.Flush(context.Background())
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")

	slow := func(d time.Duration, err error) func(context.Context) error {
		return func(context.Context) error { f.clk.Advance(d); return err }
	}
	_ = f.b.Do(ctx, slow(3*time.Second, errDep)) // trips at t0+3s
	f.clk.Advance(7 * time.Second)
	_ = f.b.Do(ctx, slow(time.Second, nil)) // rejected at t0+10s: 23s left
	f.clk.Advance(23 * time.Second)
	p, err := f.b.Allow(ctx) // the only probe slot
	if err != nil {
		t.Fatal(err)
	}
	_ = f.b.Do(ctx, slow(time.Second, nil)) // rejected in half-open
	f.clk.Advance(2 * time.Second)
	p.Done(nil) // 1 of 2 successes

	rejected, finished := obs.lists()
	if want := []string{"svc open 23s caller", "svc half_open 1ms caller"}; !slices.Equal(rejected, want) {
		t.Fatalf("rejections observed %q, want %q", rejected, want)
	}
	if want := []string{"svc failure 3s", "svc success 2s"}; !slices.Equal(finished, want) {
		t.Fatalf("calls timed %q, want %q", finished, want)
	}
	if c := f.b.Counts(); c.Rejected != 2 {
		t.Fatalf("Rejected = %d", c.Rejected)
	}
	if err := f.b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := obs.Records(); !slices.Equal(got, f.journal()) {
		t.Fatalf("the observer as a subscriber saw %v", steps(got))
	}
}

func TestCallTimerOptIn(t *testing.T) {
	ctx := context.Background()
	off := &observer{times: false}
	wrapped := &observer{times: true}
	f := newFixture(t, machine.WithSubscribers(off, hooks.Inline(wrapped)), machine.WithFailureThreshold(1))
	defer f.b.Flush(ctx)
	f.mustFail()
	_ = f.do(okCall)
	if _, finished := off.lists(); len(finished) != 0 {
		t.Fatalf("a timer that said no was called: %q", finished)
	}
	if rejected, _ := off.lists(); len(rejected) != 1 {
		t.Fatalf("rejections observed %q, want 1", rejected)
	}
	// hooks.Inline lets the observer interfaces through (it unwraps).
	if rejected, finished := wrapped.lists(); len(rejected) != 1 || len(finished) != 1 {
		t.Fatalf("a wrapped observer saw rejections %q and calls %q, want one of each", rejected, finished)
	}
	if got := wrapped.Records(); len(got) != 1 || got[0].Event != events.Trip {
		t.Fatalf("the wrapped observer as a subscriber saw %v", got)
	}
}

func TestErrorMessages(t *testing.T) {
	f := newFixture(t)
	f.failN(5)
	f.clk.Advance(5 * time.Second)
	oe := openError(t, f.do(okCall))
	if got, want := oe.Error(), `circuitry: breaker "svc" is open; retry after 25s`; got != want {
		t.Errorf("OpenError.Error() = %q, want %q", got, want)
	}
	half := &machine.OpenError{Breaker: "svc", State: events.HalfOpen}
	if got := half.Error(); !strings.Contains(got, "half-open") || !strings.Contains(got, `"svc"`) {
		t.Errorf("half-open OpenError.Error() = %q", got)
	}
	if half.RetryAfter() != machine.MinRetryAfter {
		t.Errorf("half-open RetryAfter() = %v", half.RetryAfter())
	}
	je := &machine.JournalError{Breaker: "svc", Seq: 7, Err: errFull}
	if got := je.Error(); !strings.Contains(got, "seq 7") || !strings.Contains(got, errFull.Error()) {
		t.Errorf("JournalError.Error() = %q", got)
	}
	err := machine.Fire(context.Background(), f.b, events.Recover)
	if got := err.Error(); !strings.Contains(got, "recover") || !strings.Contains(got, "open") || !strings.Contains(got, `"svc"`) {
		t.Errorf("TransitionError.Error() = %q", got)
	}
	pe := &machine.PanicError{Value: 42}
	if got := pe.Error(); got != "panic: 42" {
		t.Errorf("PanicError.Error() = %q", got)
	}
	opt := &events.OptionError{Option: "WithX", Value: "0", Reason: "must be positive"}
	if got := opt.Error(); got != "circuitry: WithX(0): must be positive" {
		t.Errorf("OptionError.Error() = %q", got)
	}
}

// filter is a user's subscriber wrapper that passes on trips only.
type filter struct{ next hooks.Subscriber }

func (f filter) Notify(ctx context.Context, t events.Transition) {
	if t.Event == events.Trip {
		f.next.Notify(ctx, t)
	}
}

func (f filter) Unwrap() hooks.Subscriber { return f.next }

// TestWrappedObserversKeepTheirCapabilities: a filter around a subscriber
// that observes rejections used to drop them silently; through Unwrap, the
// breaker finds them.
func TestWrappedObserversKeepTheirCapabilities(t *testing.T) {
	obs := &observer{times: true}
	f := newFixture(t, machine.WithSubscribers(hooks.Inline(filter{obs})), machine.WithFailureThreshold(1))
	f.mustFail()
	_ = f.do(okCall)
	if rejected, finished := obs.lists(); len(rejected) != 1 || len(finished) != 1 {
		t.Fatalf("the observer behind a filter saw rejections %q and calls %q, want one of each", rejected, finished)
	}
}

// selfObserver observes the breakers it is given to.
type selfObserver struct {
	recorder
	fail    error
	started []string
	stopped []string
}

func (o *selfObserver) ObserveBreaker(b *machine.Breaker) (func() error, error) {
	if o.fail != nil {
		return nil, o.fail
	}
	o.started = append(o.started, b.Name())
	return func() error { o.stopped = append(o.stopped, b.Name()); return nil }, nil
}

func TestBreakerObserver(t *testing.T) {
	ctx := context.Background()
	o := &selfObserver{}
	b, err := machine.New("svc", machine.WithSubscribers(hooks.Inline(o))) // through the wrapper
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.started, []string{"svc"}) || len(o.stopped) != 0 {
		t.Fatalf("after New: started %v, stopped %v", o.started, o.stopped)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.stopped, []string{"svc"}) {
		t.Fatalf("after Close twice: stopped %v, want once", o.stopped)
	}
	bad := &selfObserver{fail: errors.New("no meter")}
	if _, err := machine.New("svc", machine.WithSubscribers(o, bad)); err == nil || !strings.Contains(err.Error(), "no meter") {
		t.Fatalf("New with an observer that fails = %v, want its error", err)
	}
	if !slices.Equal(o.stopped, []string{"svc", "svc"}) {
		t.Fatalf("the observer that started before the failing one was not stopped: %v", o.stopped)
	}
}
