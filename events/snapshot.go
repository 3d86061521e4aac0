package events

import (
	"errors"
	"fmt"
	"time"
)

// Snapshot is the fold of a breaker's history: what its state is after the
// last record applied. The zero Snapshot, with a breaker name, is the state
// of a breaker with no history: closed at sequence 0.
type Snapshot struct {
	// Breaker is the breaker's name.
	Breaker string
	// Seq is the sequence number of the last record applied, 0 for none.
	Seq uint64
	// State is the breaker's state after that record.
	State State
	// Event is the event of the last record applied, 0 for none.
	Event Event
	// Since is the wall time of the last record applied, zero for none.
	Since time.Time
	// OpenFor is the open period chosen by the last record, when State is
	// [Open]; otherwise 0.
	OpenFor time.Duration
	// Opens counts the transitions to open since the breaker was last
	// closed (0 when closed): the first trip makes it 1, each re-trip adds
	// one. A backoff policy chooses the next open period from it, so that a
	// breaker resumed from its journal continues the same sequence.
	Opens uint32
}

// Equal reports whether s and o describe the same fold, comparing times
// with [time.Time.Equal].
func (s Snapshot) Equal(o Snapshot) bool {
	return s.Breaker == o.Breaker && s.Seq == o.Seq && s.State == o.State &&
		s.Event == o.Event && s.Since.Equal(o.Since) && s.OpenFor == o.OpenFor && s.Opens == o.Opens
}

// Initial returns the state of the named breaker before any transition.
func Initial(breaker string) Snapshot { return Snapshot{Breaker: breaker} }

// OpenUntil returns the wall time at which an open breaker's open period
// ends, and false when the snapshot is not open.
func (s Snapshot) OpenUntil() (time.Time, bool) {
	if s.State != Open {
		return time.Time{}, false
	}
	return s.Since.Add(s.OpenFor), true
}

// Errors that [Snapshot.Apply] wraps; match them with [errors.Is].
var (
	// ErrGap: the record's sequence number does not follow the last one.
	ErrGap = errors.New("sequence gap")
	// ErrIllegalTransition: the transition table does not allow the record.
	ErrIllegalTransition = errors.New("illegal transition")
	// ErrWrongBreaker: the record belongs to another breaker.
	ErrWrongBreaker = errors.New("record of another breaker")
	// ErrInvalidRecord: a field of the record is out of range.
	ErrInvalidRecord = errors.New("invalid record")
)

// Apply returns the snapshot after t, or an error saying why t cannot follow
// s: a record of another breaker, a sequence number other than s.Seq+1, a
// From other than s.State, an event the [Table] does not allow from there or
// that leads elsewhere than To, or a transition to open without a positive
// OpenFor. s itself is never modified.
func (s Snapshot) Apply(t Transition) (Snapshot, error) {
	if t.Breaker != s.Breaker {
		return s, fmt.Errorf("%w: breaker %q, want %q", ErrWrongBreaker, t.Breaker, s.Breaker)
	}
	if t.Seq != s.Seq+1 {
		return s, fmt.Errorf("%w: seq %d, want %d", ErrGap, t.Seq, s.Seq+1)
	}
	if !t.Event.Valid() || !t.From.Valid() || !t.To.Valid() {
		return s, fmt.Errorf("%w: event %s from %s to %s", ErrInvalidRecord, t.Event, t.From, t.To)
	}
	if t.From != s.State {
		return s, fmt.Errorf("%w: from %s, but the breaker is %s", ErrIllegalTransition, t.From, s.State)
	}
	if to, ok := Target(t.From, t.Event); !ok || to != t.To {
		return s, fmt.Errorf("%w: %s does not lead from %s to %s", ErrIllegalTransition, t.Event, t.From, t.To)
	}
	if (t.To == Open) != (t.OpenFor > 0) {
		return s, fmt.Errorf("%w: open_for %s with to %s (positive exactly when to is open)", ErrInvalidRecord, t.OpenFor, t.To)
	}
	return Snapshot{
		Breaker: s.Breaker,
		Seq:     t.Seq,
		State:   t.To,
		Event:   t.Event,
		Since:   t.Time,
		OpenFor: t.OpenFor,
		Opens:   opens(s.Opens, t.To),
	}, nil
}

// opens is the Opens count after a transition to to.
func opens(n uint32, to State) uint32 {
	switch to {
	case Open:
		return n + 1
	case Closed:
		return 0
	}
	return n
}

// Replay folds a breaker's whole history, from sequence 1, into its current
// snapshot. The first record that cannot follow the ones before it stops the
// fold with a [*RecordError] naming it.
func Replay(breaker string, history []Transition) (Snapshot, error) {
	return ReplayFrom(Initial(breaker), history)
}

// ReplayFrom folds history onto base, a snapshot taken at base.Seq (from a
// compacted journal, say). Errors are as for [Replay].
func ReplayFrom(base Snapshot, history []Transition) (Snapshot, error) {
	s := base
	for i, t := range history {
		next, err := s.Apply(t)
		if err != nil {
			return s, &RecordError{Position: i + 1, Breaker: t.Breaker, Seq: t.Seq, Err: err}
		}
		s = next
	}
	return s, nil
}

// RecordError names the record of a history or an encoded journal that could
// not be decoded or folded, and why.
type RecordError struct {
	// Position is the 1-based position of the record in its input: the
	// index in the slice given to [Replay], or the line of a JSON-lines
	// stream.
	Position int
	// Breaker and Seq are the record's breaker and sequence number, where
	// they could be read.
	Breaker string
	Seq     uint64
	// Err is the cause.
	Err error
}

func (e *RecordError) Error() string {
	if e.Breaker == "" && e.Seq == 0 {
		return fmt.Sprintf("circuitry: record %d: %v", e.Position, e.Err)
	}
	return fmt.Sprintf("circuitry: record %d (breaker %q, seq %d): %v", e.Position, e.Breaker, e.Seq, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }
