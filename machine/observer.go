package machine

import (
	"context"
	"time"

	"github.com/circuitry-go/circuitry/hooks"
)

// CallObserver is implemented by a subscriber that also wants to hear of
// every rejected call, such as the OpenTelemetry bridge, which marks the
// caller's span. A subscriber given to [WithSubscribers] that implements it
// is registered as one, also through wrappers that implement hooks.Unwrapper
// (hooks.Inline and hooks.Queue do).
//
// CallRejected runs on the caller's goroutine, on the call path, without a
// lock: it must be quick and should not allocate. err is the breaker's
// preallocated rejection; do not modify or retain it.
type CallObserver interface {
	CallRejected(ctx context.Context, err *OpenError)
}

// CallTimer is implemented by a subscriber that wants the outcome and
// duration of every admitted call, such as a latency histogram. When a
// subscriber given to [WithSubscribers] implements it and its TimesCalls
// returns true (asked once, by [New]), the breaker reads its clock before
// and after every admitted call, which costs two clock reads per call: that
// is why timing is opt-in.
//
// CallFinished runs on the caller's goroutine after the outcome is counted,
// without a lock: it must be quick.
type CallTimer interface {
	TimesCalls() bool
	CallFinished(ctx context.Context, breaker string, o Outcome, d time.Duration)
}

// BreakerObserver is implemented by a subscriber that also reads the
// breaker itself, such as the OpenTelemetry bridge, whose observable
// instruments read each breaker's counts and state when metrics are
// collected. [New] calls ObserveBreaker once the breaker is made (also
// through wrappers that implement hooks.Unwrapper), and [Breaker.Close]
// calls the stop function it returned, so that a subscriber given to
// [WithSubscribers] is the one step that wires it. An error fails New.
type BreakerObserver interface {
	ObserveBreaker(b *Breaker) (stop func() error, err error)
}

// breakerObservers returns the subscribers that observe the breaker itself.
func breakerObservers(subs []hooks.Subscriber) []BreakerObserver {
	var out []BreakerObserver
	for _, s := range subs {
		for x := s; x != nil; {
			if o, ok := x.(BreakerObserver); ok {
				out = append(out, o)
				break
			}
			u, ok := x.(hooks.Unwrapper)
			if !ok {
				break
			}
			x = u.Unwrap()
		}
	}
	return out
}

// observers returns the subscribers that observe rejections and those that
// time calls, looking through wrappers ([hooks.Unwrapper]): the outermost
// subscriber of a chain that has the capability is the one called.
func observers(subs []hooks.Subscriber) (rejected []CallObserver, timed []CallTimer) {
	for _, s := range subs {
		var o CallObserver
		var t CallTimer
		for x := s; x != nil; {
			if c, ok := x.(CallObserver); ok && o == nil {
				o = c
			}
			if c, ok := x.(CallTimer); ok && t == nil {
				t = c
			}
			u, ok := x.(hooks.Unwrapper)
			if !ok {
				break
			}
			x = u.Unwrap()
		}
		if o != nil {
			rejected = append(rejected, o)
		}
		if t != nil && t.TimesCalls() {
			timed = append(timed, t)
		}
	}
	return rejected, timed
}

func (b *Breaker) observeRejected(ctx context.Context, err *OpenError) {
	for _, o := range b.onReject {
		o.CallRejected(ctx, err)
	}
}
