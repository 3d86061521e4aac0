package events

import (
	"context"
	"errors"
	"fmt"
)

// Journal stores the transitions of one or many breakers, in sequence order
// per breaker. It is the source of truth of a breaker's state.
//
// Implementations must be safe for concurrent use, and are shaped for many
// writers (several processes sharing one breaker's history):
//
//   - Append stores t only if the last record stored for t.Breaker has
//     sequence number t.Seq-1 (0 for none). Otherwise it stores nothing and
//     returns an error matching [ErrConflict], best a [*ConflictError]: another
//     writer got there first, and the caller folds the records it missed
//     (read with Read) instead of writing its own.
//   - Read returns the records of breaker with sequence numbers above after,
//     in order. A journal that has compacted records away returns an error
//     matching [ErrCompacted] when asked for them, and offers the fold of
//     what it dropped through [Snapshotter].
type Journal interface {
	Append(ctx context.Context, t Transition) error
	Read(ctx context.Context, breaker string, after uint64) ([]Transition, error)
}

// Snapshotter is implemented by journals that keep a checkpoint of each
// breaker. Snapshot returns the fold of breaker's records up to the
// checkpoint, from which [Load] reads the rest ([Initial] when there is
// none): every record that Read can no longer return, and possibly more (a
// segmented journal still returns older records, from its sealed segments,
// when Read asks for them).
type Snapshotter interface {
	Snapshot(ctx context.Context, breaker string) (Snapshot, error)
}

var (
	// ErrConflict is matched by the error of an Append whose sequence number
	// does not follow the last stored record of its breaker.
	ErrConflict = errors.New("circuitry: journal append conflict")
	// ErrCompacted is matched by the error of a Read that asks for records
	// the journal no longer holds.
	ErrCompacted = errors.New("circuitry: records compacted away")
)

// ConflictError is the detail of an [ErrConflict].
type ConflictError struct {
	// Breaker is the breaker whose history was appended to.
	Breaker string
	// Seq is the sequence number of the refused record; Last is the last
	// sequence number the journal holds for the breaker.
	Seq, Last uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("circuitry: journal append conflict for breaker %q: record seq %d does not follow last seq %d", e.Breaker, e.Seq, e.Last)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// CompactedError is the detail of an [ErrCompacted].
type CompactedError struct {
	Breaker string
	// After is the sequence number asked for; Base is the last sequence
	// number folded into the journal's snapshot.
	After, Base uint64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("circuitry: breaker %q: records after seq %d were compacted up to seq %d; start from the journal's snapshot", e.Breaker, e.After, e.Base)
}

// Is makes errors.Is(err, ErrCompacted) true.
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }

// Load returns the current fold of breaker's history in j: from the
// journal's snapshot when it implements [Snapshotter], then every record
// after it, validated by [ReplayFrom]. If the journal compacts between the
// two reads (another writer appended meanwhile), Load starts again from the
// newer snapshot, a bounded number of times.
func Load(ctx context.Context, j Journal, breaker string) (Snapshot, error) {
	sn, compacts := j.(Snapshotter)
	for attempt := 0; ; attempt++ {
		base := Initial(breaker)
		if compacts {
			s, err := sn.Snapshot(ctx, breaker)
			if err != nil {
				return base, fmt.Errorf("circuitry: loading snapshot of breaker %q: %w", breaker, err)
			}
			base = s
		}
		recs, err := j.Read(ctx, breaker, base.Seq)
		if errors.Is(err, ErrCompacted) && compacts && attempt < maxLoadAttempts {
			continue
		}
		if err != nil {
			return base, fmt.Errorf("circuitry: reading journal of breaker %q: %w", breaker, err)
		}
		return ReplayFrom(base, recs)
	}
}

// maxLoadAttempts bounds how often Load starts again when the journal keeps
// compacting under it.
const maxLoadAttempts = 8

// ErrRefused is matched by the error of an Append that can never succeed
// for that record, however often it is tried: the record is invalid for the
// journal (a breaker name it cannot store, a transition its history does not
// allow), or the journal can no longer be written (closed, read-only).
// Journals return it as a [*RefusedError]. A breaker reports a refusal and
// does not retry it; it takes any other error as transient and appends the
// record again later.
var ErrRefused = errors.New("circuitry: record refused for good")

// RefusedError is the detail of an [ErrRefused]: the record and why.
type RefusedError struct {
	Breaker string
	Seq     uint64
	// Err is the reason, such as an error matching [ErrInvalidRecord].
	Err error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("circuitry: record seq %d of breaker %q refused for good: %v", e.Seq, e.Breaker, e.Err)
}

// Unwrap returns the reason.
func (e *RefusedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Watcher is implemented by journals that push records as they are stored,
// so that a breaker follows the other writers of its journal without
// polling. One watch serves every breaker of a journal: positions are the
// journal's own, across breakers, and resumable.
//
// Watch returns, in the order they were stored, the records of every
// breaker stored after position after (0: from the oldest the journal
// still tells of), waiting until there is at least one or ctx is done
// (then returning ctx's error). Each comes with its position; the last one
// is where the next Watch resumes. A position older than the journal still
// tells of returns an error matching [ErrCompacted]: the watcher reads each
// breaker's history instead, and resumes from [Watcher.Head].
type Watcher interface {
	Watch(ctx context.Context, after uint64) ([]Stored, error)
	// Head returns the position of the last record stored, 0 for none.
	Head(ctx context.Context) (uint64, error)
}

// Stored is a record as a [Watcher] returns it: with its position in the
// journal, across breakers.
type Stored struct {
	Pos uint64
	Transition
}

// Immediate is implemented by journals whose Append does no I/O and never
// waits, such as [Memory]: a breaker appends to them on the goroutine that
// made the transition, after releasing its lock, rather than on a writer
// goroutine of its own, which would cost more than the append. A journal
// that does I/O must not implement it.
type Immediate interface {
	Journal
	// Immediate says that Append does no I/O and never waits.
	Immediate()
}
