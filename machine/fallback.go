package machine

import (
	"context"
	"errors"
	"fmt"

	"github.com/circuitry-go/circuitry/hooks"
)

// FallbackError reports a fallback that failed: Err is why the fallback
// was asked for (an [*OpenError], or the failed call's error) and Fallback
// the fallback's own error. errors.Is and errors.As see both, so
// errors.Is(err, ErrOpen) still holds for a rejected call.
type FallbackError struct {
	Breaker  string
	Err      error
	Fallback error
}

func (e *FallbackError) Error() string {
	return fmt.Sprintf("circuitry: breaker %q: the fallback failed: %v (after: %v)", e.Breaker, e.Fallback, e.Err)
}

// Unwrap returns the error that asked for the fallback and the fallback's
// own.
func (e *FallbackError) Unwrap() []error { return []error{e.Err, e.Fallback} }

// FallbackOption configures [ExecuteFallback]. The zero FallbackOption
// changes nothing.
type FallbackOption struct {
	onFailure bool
}

// OnFailure makes [ExecuteFallback] serve the fallback for a call that
// failed too (one its classifier counted as a [Failure]), not only for a
// rejected one. Default: only rejected calls are served a fallback.
func OnFailure() FallbackOption { return FallbackOption{onFailure: true} }

// FallbackObserver is implemented by a subscriber that wants to hear of
// every fallback [ExecuteFallback] ran, such as the OpenTelemetry bridge,
// which counts them and marks the caller's span. A subscriber given to
// [WithSubscribers] that implements it is told, also through wrappers
// that implement hooks.Unwrapper.
//
// FallbackDone runs on the caller's goroutine, after the fallback returned:
// rejected says whether it stood in for a rejected call (else for a failed
// one), and err is the fallback's own error, nil when it served a value.
type FallbackObserver interface {
	FallbackDone(ctx context.Context, breaker string, rejected bool, err error)
}

// ExecuteFallback is [Execute] with a fallback, the pattern's advice to
// return cached data or a default value when the circuit is open: when the
// breaker rejects the call (an error matching [ErrOpen]), and with
// [OnFailure] when the call fails, it returns what fallback returns
// instead. fallback gets the error that asked for it, so it can tell a
// rejection from a failure. A fallback that serves a value returns it with
// a nil error; one that fails returns a [*FallbackError] holding both
// errors, so errors.Is(err, ErrOpen) still holds. A fallback that panics
// is told to the observers as failed, and its panic re-raised. Other
// refusals (a nil ctx, a closed breaker) are returned as they are, without
// a fallback. A nil fn or fallback returns [ErrNilFunc].
func ExecuteFallback[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error), fallback func(context.Context, error) (T, error), opts ...FallbackOption) (T, error) {
	var zero T
	if fn == nil || fallback == nil {
		return zero, ErrNilFunc
	}
	onFailure := false
	for _, o := range opts {
		onFailure = onFailure || o.onFailure
	}
	p, err := b.Allow(ctx)
	if err != nil {
		if !errors.Is(err, ErrOpen) {
			return zero, err
		}
		return serveFallback(ctx, b, fallback, err, true)
	}
	var v T
	failed, err := b.callOutcome(&p, func(ctx context.Context) (err error) {
		v, err = fn(ctx)
		return err
	})
	if failed && onFailure {
		return serveFallback(p.ctx, b, fallback, err, false)
	}
	return v, err
}

// serveFallback runs fallback in place of a call that was rejected or
// failed with cause, and tells the observers.
func serveFallback[T any](ctx context.Context, b *Breaker, fallback func(context.Context, error) (T, error), cause error, rejected bool) (T, error) {
	var zero T
	returned := false
	defer func() {
		if !returned {
			b.fallbackDone(ctx, rejected, errFallbackPanicked)
		}
	}()
	v, err := fallback(ctx, cause)
	returned = true
	b.fallbackDone(ctx, rejected, err)
	if err != nil {
		return zero, &FallbackError{Breaker: b.name, Err: cause, Fallback: err}
	}
	return v, nil
}

// errFallbackPanicked is what the observers are told of a fallback that
// panicked or exited its goroutine.
var errFallbackPanicked = errors.New("circuitry: the fallback panicked")

// callOutcome is call for ExecuteFallback: it also says whether the call
// counted as a failure.
func (b *Breaker) callOutcome(p *Permit, fn func(context.Context) error) (failed bool, err error) {
	returned := false
	defer func() {
		if !returned {
			b.abort(p, recover())
		}
	}()
	err = fn(p.ctx)
	returned = true
	return b.finish(p, err) == Failure, err
}

// ReportFallback tells the breaker's [FallbackObserver] subscribers of a
// fallback that ran outside [ExecuteFallback], such as an HTTP handler's
// fallback handler: rejected says it stood in for a rejected call (else
// for a failed one), err is the fallback's own error (nil: it served). A
// panicking observer is recovered and reported to the error handler.
func (b *Breaker) ReportFallback(ctx context.Context, rejected bool, err error) {
	b.fallbackDone(ctx, rejected, err)
}

// fallbackDone tells the fallback observers among the breaker's
// subscribers of a fallback that ran. A panicking observer is recovered
// and reported: it must not break the call.
func (b *Breaker) fallbackDone(ctx context.Context, rejected bool, err error) {
	for _, s := range b.cfg.subscribers {
		for x := s; x != nil; {
			if o, ok := x.(FallbackObserver); ok {
				b.tellFallback(o, ctx, rejected, err)
				break
			}
			u, ok := x.(hooks.Unwrapper)
			if !ok {
				break
			}
			x = u.Unwrap()
		}
	}
}

func (b *Breaker) tellFallback(o FallbackObserver, ctx context.Context, rejected bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			b.report(fmt.Errorf("circuitry: breaker %q: fallback observer %T panicked: %v", b.name, o, v))
		}
	}()
	o.FallbackDone(ctx, b.name, rejected, err)
}
