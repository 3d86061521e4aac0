package hooks

import (
	"errors"
	"fmt"
)

// ErrReentrant is matched by the error of a breaker's Flush called from one
// of its own queued subscribers: it would wait for the very delivery it is
// part of.
var ErrReentrant = errors.New("circuitry: Flush called from a queued subscriber of the same breaker, which would wait for itself")

// PanicError reports a subscriber that panicked while handling a transition;
// the breaker's error handler receives it.
type PanicError struct {
	Breaker string
	Seq     uint64
	// Subscriber identifies the subscriber by its position in its lane and
	// its type.
	Subscriber string
	// Value is what the subscriber panicked with; Stack is where.
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("circuitry: subscriber %s panicked on breaker %q seq %d: %v", e.Subscriber, e.Breaker, e.Seq, e.Value)
}

// OverflowError reports transitions the queued lane dropped because its queue
// was full; the breaker's error handler receives it, once per run of
// dropped transitions. The journal still holds them: a subscriber that must see every
// transition can read them from there.
type OverflowError struct {
	Breaker           string
	FirstSeq, LastSeq uint64
	Count             uint64
}

func (e *OverflowError) Error() string {
	return fmt.Sprintf("circuitry: queued subscribers of breaker %q missed %d transitions (seq %d to %d): queue full", e.Breaker, e.Count, e.FirstSeq, e.LastSeq)
}
