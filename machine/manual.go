package machine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// ErrInvalidOverride is matched by the error of a manual control given an
// incomplete or inconsistent [Override].
var ErrInvalidOverride = errors.New("circuitry: invalid override")

// Override is an operator's request to move a breaker by hand. The record of
// the transition keeps who asked and why, for the audit trail.
//
// The manual controls refuse, with an error matching [ErrInvalidOverride]
// and before anything changes, an Override whose Operator or Note is
// missing or breaks the limits of [events.CheckOverride], and a nil ctx
// ([ErrNilContext]); an event the state machine refuses from the current
// state returns a [*TransitionError].
//
// A control that is made waits for the inline subscribers, and for the
// journal writer to store its record, bounded by ctx: it returns nil once
// the record is stored; the [*JournalError] when the journal failed (the
// transition is made all the same, and its record kept for retry or refused
// for good); an error matching [events.ErrConflict] when another writer's
// record took its sequence number and the breaker adopted that history;
// an [*UnstoredError] when Close gave up on it; and ctx's error when the
// record is not stored in time. Called from a subscriber that the journal
// writer runs (an adopted record), it does not wait: the writer stores the
// record once the subscriber returns.
type Override struct {
	// Operator says who asks (a person, a tool, a runbook); required: at
	// most [events.MaxOperatorLen] bytes of UTF-8, without control
	// characters.
	Operator string
	// Note says why; required: at most [events.MaxNoteLen] bytes of UTF-8,
	// whose only control characters are newlines and tabs.
	Note string
	// OpenFor is how long [Breaker.ForceOpen] keeps the breaker open before
	// it admits a probe; 0 means the recovery timeout. It must be 0 for the
	// other controls.
	OpenFor time.Duration
}

// ForceOpen opens a closed or half-open breaker by hand (for maintenance, or
// after the dependency answered "429 Too Many Requests"). The breaker then
// behaves as if tripped: after o.OpenFor, or the recovery timeout, a call
// probes.
func (b *Breaker) ForceOpen(ctx context.Context, o Override) error {
	return b.manual(ctx, events.ForceOpen, o)
}

// ForceClose closes an open or half-open breaker by hand.
func (b *Breaker) ForceClose(ctx context.Context, o Override) error {
	return b.manual(ctx, events.ForceClose, o)
}

// ForceHalfOpen moves an open breaker to half-open by hand, so that the next
// calls probe without waiting for the open period to end.
func (b *Breaker) ForceHalfOpen(ctx context.Context, o Override) error {
	return b.manual(ctx, events.ForceHalfOpen, o)
}

// manual fires a manual event. An event the state machine refuses from the
// current state returns a [*TransitionError] matching [ErrIllegalTransition];
// the inline subscribers run before it returns.
func (b *Breaker) manual(ctx context.Context, ev events.Event, o Override) error {
	if ctx == nil {
		return ErrNilContext
	}
	switch {
	case o.Operator == "":
		return fmt.Errorf("%w: %s: Override.Operator is empty: say who asks", ErrInvalidOverride, ev)
	case o.Note == "":
		return fmt.Errorf("%w: %s: Override.Note is empty: say why", ErrInvalidOverride, ev)
	case o.OpenFor < 0:
		return fmt.Errorf("%w: %s: Override.OpenFor %s must not be negative", ErrInvalidOverride, ev, o.OpenFor)
	case o.OpenFor != 0 && ev != events.ForceOpen:
		return fmt.Errorf("%w: %s: Override.OpenFor %s applies only to force_open", ErrInvalidOverride, ev, o.OpenFor)
	}
	if err := events.CheckOverride(o.Operator, o.Note); err != nil {
		return fmt.Errorf("%w: %s: Override: %w", ErrInvalidOverride, ev, err)
	}
	stored := make(chan error, 1)
	m := move{ev: ev, reason: events.Reason{Policy: events.PolicyManual, Operator: o.Operator, Note: o.Note}, openFor: o.OpenFor, wait: stored}
	if err := b.transition(ctx, func(*snapshot) (move, bool) { return m, true }); err != nil {
		return err
	}
	b.mu.Lock()
	self := b.onWriterLocked()
	b.mu.Unlock()
	if self {
		// Called from a subscriber the journal writer runs: the writer
		// appends the record once the subscriber returns.
		return nil
	}
	select {
	case err := <-stored:
		return err
	case <-ctx.Done():
		return fmt.Errorf("circuitry: breaker %q: %s is made, and its record not stored yet: %w", b.name, ev, ctx.Err())
	}
}
