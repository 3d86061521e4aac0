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
// keep it quick and free of allocation. It must not panic: a classifier that
// panics leaves the call unrecorded, and in half-open its probe slot taken
// until the next transition (or the half-open timeout).
type Classifier func(ctx context.Context, err error) Outcome

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
