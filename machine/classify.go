package machine

import (
	"context"
	"errors"
	"fmt"
)

// Outcome is how a finished call counts.
type Outcome uint8

const (
	// Success counts toward closing a half-open breaker and resets the
	// consecutive failures of a closed one.
	Success Outcome = iota
	// Failure counts toward tripping.
	Failure
	// Ignored counts neither way: the call's slot is released and the state
	// does not move. It still counts in [Counts.Ignored].
	Ignored
)

// String returns "success", "failure" or "ignored".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Classifier decides how a call's result counts. ctx is the context the call
// was made with; err is what the protected function returned (a
// [*PanicError] when it panicked). It runs on the call path of every call:
// keep it quick and free of allocation.
//
// A classifier that returns a value other than [Success], [Failure] or
// [Ignored], or that panics, is a bug the breaker survives: the call counts
// as Ignored (it moves no state, and frees its probe slot in half-open), and
// the first such call of each breaker is reported to the error handler as a
// [*ClassifierError]. The call's own result is returned to the caller as it
// was.
type Classifier func(ctx context.Context, err error) Outcome

// ClassifierError reports a [Classifier] that returned an undeclared
// [Outcome] or panicked (Panic holds the value then).
type ClassifierError struct {
	Breaker string
	Outcome Outcome
	Panic   any
}

func (e *ClassifierError) Error() string {
	if e.Panic != nil {
		return fmt.Sprintf("circuitry: breaker %q: the classifier panicked: %v; the call counts as ignored", e.Breaker, e.Panic)
	}
	return fmt.Sprintf("circuitry: breaker %q: the classifier returned the undeclared %s; the call counts as ignored", e.Breaker, e.Outcome)
}

// classifyGuarded runs the user's classifier, and turns what it must not do
// into Ignored, reported for the first call of the breaker that does it.
func (b *Breaker) classifyGuarded(ctx context.Context, err error) (o Outcome) {
	defer func() {
		if v := recover(); v != nil {
			o = Ignored
			b.classifierFault(&ClassifierError{Breaker: b.name, Panic: v})
		}
	}()
	o = b.classify(ctx, err)
	if o > Ignored {
		b.classifierFault(&ClassifierError{Breaker: b.name, Outcome: o})
		o = Ignored
	}
	return o
}

func (b *Breaker) classifierFault(err *ClassifierError) {
	if b.badClassifier.CompareAndSwap(false, true) {
		b.report(err)
	}
}

// DefaultClassifier counts nil as [Success]; a [context.Canceled] error when
// the caller's own ctx is cancelled as [Ignored] (the caller gave up; the
// dependency did not fail); and any other error, a deadline included, as
// [Failure].
func DefaultClassifier(ctx context.Context, err error) Outcome {
	if err == nil {
		return Success
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return Ignored
	}
	return Failure
}
