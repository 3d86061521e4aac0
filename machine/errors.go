package machine

import (
	"errors"
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/events"
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

// ErrNilContext is returned by every method that takes a context when given
// a nil one ([Breaker.Do], [Execute], [Breaker.Allow], the manual controls,
// [Breaker.Sync] and [Breaker.Flush]); the function is not called and
// nothing is counted. Pass context.Background() when there is no other.
var ErrNilContext = errors.New("circuitry: nil context")

// ErrUnstored is matched by the error of [Breaker.Sync] while transitions
// that happened in memory are not in the journal (an [*UnstoredError]).
var ErrUnstored = errors.New("circuitry: transitions not stored in the journal")

// UnstoredError reports the transitions of a breaker that happened in memory
// but are not in its journal: from FirstSeq to LastSeq, and why.
type UnstoredError struct {
	Breaker           string
	FirstSeq, LastSeq uint64
	// Refused says that the journal refused a record for good (its error
	// matches [events.ErrRefused]): the breaker no longer appends to it and
	// goes on in memory. Otherwise the records are kept and appended again.
	Refused bool
	// Err is the journal's last error.
	Err error
}

func (e *UnstoredError) Error() string {
	what := "kept for retry"
	if e.Refused {
		what = "the journal refused a record for good and is no longer appended to"
	}
	return fmt.Sprintf("circuitry: breaker %q: transitions seq %d to %d are not in the journal (%s): %v", e.Breaker, e.FirstSeq, e.LastSeq, what, e.Err)
}

// Unwrap returns ErrUnstored and the journal's error.
func (e *UnstoredError) Unwrap() []error { return []error{ErrUnstored, e.Err} }

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

	clock clock.Clock
}

// MinRetryAfter is the least wait a rejection reports: in half-open (a
// probe slot frees when a probe ends), and in open once Until has passed
// but the open period's timer has not fired yet.
const MinRetryAfter = time.Millisecond

// RetryAfter returns how long to wait before calling again: the rest of the
// open period, and never less than [MinRetryAfter].
//
// The open period ends when its timer fires, at Until or a little after:
// Go's timers fire late by well under a millisecond on an idle machine, and
// by more on an overloaded one. Until then calls are rejected; a rejection
// after Until reports MinRetryAfter, so a caller that waits RetryAfter and
// calls again gets, at worst, another short wait, never a zero one.
func (e *OpenError) RetryAfter() time.Duration {
	if e.Until.IsZero() || e.clock == nil {
		return MinRetryAfter
	}
	return max(MinRetryAfter, e.Until.Sub(e.clock.Now()))
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
// journal. The transition happened in memory all the same.
//
// When the failure is transient, the record is kept and appended again, in
// order, before the next one and by a timer (after 1s, then doubling up to
// 30s while the journal fails), or at once by [Breaker.Sync], so none is
// lost. When the journal refuses the record for good (its error matches
// [events.ErrRefused]: Refused is set), appending it again cannot succeed,
// and neither can any later record, which must follow it: the breaker stops
// appending, goes on protecting its callers in memory, and reports each
// later transition as refused too; [Breaker.Sync] then returns an
// [*UnstoredError]. Breakers refuse the text no journal could store where it
// is given (see [events.CheckName]), so a refusal means a journal with
// stricter rules, or one that was closed.
type JournalError struct {
	Breaker string
	Seq     uint64
	Refused bool
	Err     error
}

func (e *JournalError) Error() string {
	if e.Refused {
		return fmt.Sprintf("circuitry: breaker %q: journal refused seq %d for good (the breaker goes on in memory, unjournaled): %v", e.Breaker, e.Seq, e.Err)
	}
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
