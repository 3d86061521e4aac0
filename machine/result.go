package machine

import (
	"context"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// Result is how a finished call counts, as its caller or a
// [ResultClassifier] states it: for calls whose outcome is not an error,
// such as an HTTP response with status 503, or a 429 whose Retry-After asks
// the caller to wait.
type Result struct {
	// Outcome is how the call counts.
	Outcome Outcome
	// Cause is the failure's text for the record of a transition the call
	// causes (its reason's last error), such as "HTTP 503", in place of the
	// call's error's. Like an error's text it is kept up to 1 KiB.
	Cause string
	// RetryAfter, on a failure, is how long the dependency asked not to
	// be called (an HTTP Retry-After, say). The failure opens the breaker
	// at once, from closed or half-open, for that long, capped by
	// [WithMaxRetryAfter]: the record's reason is [events.PolicyRetryAfter]
	// with the time asked for, and its open period the time granted.
	// Zero or negative: no time was asked for, and the failure counts as
	// any other. It is ignored on a success or an ignored call.
	RetryAfter time.Duration
}

// ResultClassifier decides how a call that returned v and err counts, for
// [ExecuteResult]. It runs on the call path: keep it quick. A classifier
// that panics or returns an undeclared Outcome makes the call count as
// [Ignored], reported once per breaker as a [*ClassifierError], as the
// breaker's own [Classifier] would.
type ResultClassifier[T any] func(ctx context.Context, v T, err error) Result

// verdict is a finished call's outcome, with what a record of the
// transition it causes says of it.
type verdict struct {
	o          Outcome
	err        error  // the call's error
	cause      string // the caller's words for a failure, in place of err's text
	retryAfter time.Duration
}

// lastError is the text of the failure for a record.
func (v *verdict) lastError() string {
	if v.cause != "" {
		return clipText(v.cause)
	}
	return errText(v.err)
}

// Report ends the admitted call with r, instead of an error to classify:
// for a caller that learns the outcome from something other than an
// error, such as a proxy that sees only a status code. The breaker's
// [Classifier] is not used. End a permit once, with Report or [Permit.Done].
// Report on the zero Permit does nothing.
func (p Permit) Report(r Result) {
	if p.b != nil {
		p.b.conclude(&p, r, nil)
	}
}

// ReportFunc ends the admitted call with the Result f returns, as
// [Permit.Report] does, running f guarded: when f panics the call counts as
// [Ignored] and the panic is reported once per breaker as a
// [*ClassifierError]. It is for integrations that run a user's classifier,
// such as an HTTP transport. ReportFunc on the zero Permit does nothing.
func (p Permit) ReportFunc(f func() Result) {
	if p.b != nil {
		p.b.conclude(&p, p.b.guardResult(f), nil)
	}
}

// guardResult runs f, turning a panic into an Ignored outcome reported
// once.
func (b *Breaker) guardResult(f func() Result) (r Result) {
	defer func() {
		if x := recover(); x != nil {
			b.classifierFault(&ClassifierError{Breaker: b.name, Panic: x})
			r = Result{Outcome: Ignored}
		}
	}()
	return f()
}

// conclude records r for the call of permit p, whose error was err.
func (b *Breaker) conclude(p *Permit, r Result, err error) {
	v := verdict{o: r.Outcome, err: err, cause: r.Cause, retryAfter: r.RetryAfter}
	if v.o > Ignored {
		b.classifierFault(&ClassifierError{Breaker: b.name, Outcome: v.o})
		v.o = Ignored
	}
	b.finishVerdict(p, &v)
}

// ExecuteResult is [Execute] with a classifier that sees the call's value
// as well as its error, so that a response can be a failure without an
// error, name its cause and carry the time the dependency asked for (see
// [Result]). The breaker's own [Classifier] is not used for the call. A
// panic in fn is classified with the zero value and a [*PanicError], then
// re-raised. A nil fn or classify returns [ErrNilFunc].
func ExecuteResult[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error), classify ResultClassifier[T]) (T, error) {
	var zero T
	if fn == nil || classify == nil {
		return zero, ErrNilFunc
	}
	p, err := b.Allow(ctx)
	if err != nil {
		return zero, err
	}
	returned := false
	defer func() {
		if returned {
			return
		}
		if v := recover(); v != nil {
			perr := &PanicError{Value: v}
			b.conclude(&p, classifyResult(b, p.ctx, classify, zero, perr), perr)
			panic(v)
		}
		b.record(&p, &verdict{o: Ignored}, 0) // runtime.Goexit
	}()
	v, err := fn(p.ctx)
	returned = true
	b.conclude(&p, classifyResult(b, p.ctx, classify, v, err), err)
	return v, err
}

// classifyResult runs classify, turning a panic into an Ignored outcome
// reported once.
func classifyResult[T any](b *Breaker, ctx context.Context, classify ResultClassifier[T], v T, err error) Result {
	return b.guardResult(func() Result { return classify(ctx, v, err) })
}

// openAsked is the move that opens the breaker for the time a failed
// call's dependency asked for, capped.
func (b *Breaker) openAsked(ev events.Event, v *verdict) move {
	return move{ev: ev, openFor: min(v.retryAfter, b.cfg.maxRetryAfter), reason: events.Reason{
		Policy:     events.PolicyRetryAfter,
		Failures:   1,
		RetryAfter: v.retryAfter,
		LastError:  v.lastError(),
	}}
}

// openOnRequest opens a closed breaker for the time a failed call's
// dependency asked for, unless the breaker left the call's generation.
func (b *Breaker) openOnRequest(p *Permit, v *verdict) {
	b.noteErr(b.transition(p.ctx, inGen(p.gen(), events.Closed, b.openAsked(events.Trip, v))))
}
