package machine

import (
	"errors"
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
)

// ErrOpen is matched by the error of every rejected call, in open and in
// half-open when all probe slots are taken. errors.As gives the
// [*OpenError] with the details.
var ErrOpen = errors.New("circuitry: breaker is open")

// ErrIllegalTransition is matched by the error of a manual control that the
// state machine refuses from the current state.
var ErrIllegalTransition = events.ErrIllegalTransition

// ErrNilFunc is returned by [Breaker.Do] and [Execute] when given a nil
// function.
var ErrNilFunc = errors.New("circuitry: the protected function is nil")

// OpenError is the rejection of a call. Each breaker allocates one per open
// or half-open period, when it changes state, so a rejection allocates
// nothing; treat it as read-only.
type OpenError struct {
	// Breaker is the breaker's name.
	Breaker string
	// State is the state that rejected the call: [events.Open], or
	// [events.HalfOpen] when every probe slot was taken.
	State events.State
	// Until is when the open period ends (on the breaker's clock); zero in
	// half-open.
	Until time.Time

	clock hooks.Clock
}

// RetryAfter returns how long until the breaker admits a probe: the rest of
// the open period, or 0 in half-open (a slot frees when a probe ends).
func (e *OpenError) RetryAfter() time.Duration {
	if e.Until.IsZero() || e.clock == nil {
		return 0
	}
	return max(0, e.Until.Sub(e.clock.Now()))
}

func (e *OpenError) Error() string {
	if e.State == events.HalfOpen {
		return fmt.Sprintf("circuitry: breaker %q is half-open and all probe slots are taken", e.Breaker)
	}
	return fmt.Sprintf("circuitry: breaker %q is open; retry after %s", e.Breaker, e.RetryAfter())
}

// Is makes errors.Is(err, ErrOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// PanicError is what a [Classifier] sees when the protected function
// panicked; the panic itself is re-raised to the caller after the failure is
// counted.
type PanicError struct {
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// JournalError reports a transition that could not be appended to the
// journal. The transition happened in memory all the same; the record is kept
// and appended again, in order, before the next one and by a timer (after 1s,
// then doubling up to 30s while the journal fails), or at once by
// [Breaker.Sync], so none is lost.
type JournalError struct {
	Breaker string
	Seq     uint64
	Err     error
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("circuitry: breaker %q: journal append of seq %d failed (kept for retry): %v", e.Breaker, e.Seq, e.Err)
}

// Unwrap returns the journal's error.
func (e *JournalError) Unwrap() error { return e.Err }

// TransitionError reports an event the state machine refused.
type TransitionError struct {
	Breaker string
	Event   events.Event
	State   events.State
	Err     error
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("circuitry: breaker %q: event %s refused in state %s: %v", e.Breaker, e.Event, e.State, e.Err)
}

// Unwrap returns ErrIllegalTransition and the state machine's error.
func (e *TransitionError) Unwrap() []error { return []error{ErrIllegalTransition, e.Err} }
