package machine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// backlog holds what the journal has not stored of a breaker's transitions.
// It lives apart from the Breaker, pointing nowhere back to it, so that a
// breaker that nothing references any more can be collected and what it
// could not store still be reported (see New).
type backlog struct {
	// mu guards the fields; it is taken under the transition lock, and
	// alone by the cleanup of a collected breaker.
	mu sync.Mutex
	// recs are the records not stored yet, in order, to be appended
	// again; empty once the journal refused a record for good.
	recs []events.Transition
	// refused: the journal refused a record for good, and the breaker no
	// longer appends to it; first and last are the records not stored
	// since then.
	refused     bool
	first, last uint64
	err         error // the journal's last error
}

// unstored returns what is not stored, or nil.
func (q *backlog) unstored(breaker string) *UnstoredError {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.refused:
		return &UnstoredError{Breaker: breaker, FirstSeq: q.first, LastSeq: q.last, Refused: true, Err: q.err}
	case len(q.recs) > 0:
		return &UnstoredError{Breaker: breaker, FirstSeq: q.recs[0].Seq, LastSeq: q.recs[len(q.recs)-1].Seq, Err: q.err}
	}
	return nil
}

// appendLocked appends rec to the journal, after any records the journal
// has not stored yet, in order (see flushLocked).
func (b *Breaker) appendLocked(ctx context.Context, rec events.Transition) error {
	q := b.backlog
	q.mu.Lock()
	if q.refused {
		q.last = rec.Seq
		err := q.err
		q.mu.Unlock()
		b.journErr.Add(1)
		b.toReport = append(b.toReport, &JournalError{Breaker: b.name, Seq: rec.Seq, Refused: true, Err: err})
		return nil
	}
	q.recs = append(q.recs, rec)
	q.mu.Unlock()
	return b.flushLocked(ctx)
}

// flushLocked appends the records the journal has not stored yet, in order.
//
// A conflict is returned (the caller adopts the journal's history), wrapped
// in errDiverged when the refused record was already folded in memory,
// unless the journal holds that very record: an earlier append stored it
// and then reported an error (a network journal's timeout after its
// commit), and it counts as stored. A refusal for good stops the appends
// (see [JournalError]). Any other failure is reported and counted, and the
// records are kept to be appended again (by the retry timer, before the
// next transition, or by Sync), while the transition goes ahead in memory.
func (b *Breaker) flushLocked(ctx context.Context) error {
	q := b.backlog
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.recs) > 0 {
		p := q.recs[0]
		err := b.journalAppend(ctx, p)
		if errors.Is(err, events.ErrConflict) && p.Seq <= b.fold.Seq {
			var stored bool
			if stored, err = b.storedLocked(ctx, p, err); stored {
				err = nil
			}
		}
		switch {
		case err == nil:
			q.recs[0] = events.Transition{}
			q.recs = q.recs[1:]
			continue
		case errors.Is(err, events.ErrConflict):
			q.recs, q.err = nil, nil
			b.retryDelay = 0
			if p.Seq <= b.fold.Seq {
				return fmt.Errorf("%w: transitions from seq %d never reached the journal, and another writer has appended since: %w", errDiverged, p.Seq, err)
			}
			return err
		case errors.Is(err, events.ErrRefused):
			b.journErr.Add(1)
			q.refused, q.first, q.last, q.err = true, p.Seq, q.recs[len(q.recs)-1].Seq, err
			q.recs = nil
			if b.retry != nil {
				b.retry.Stop()
				b.retry = nil
			}
			b.toReport = append(b.toReport, &JournalError{Breaker: b.name, Seq: p.Seq, Refused: true, Err: err})
			return nil
		default:
			q.err = err
			b.journErr.Add(1)
			b.toReport = append(b.toReport, &JournalError{Breaker: b.name, Seq: p.Seq, Err: err})
			b.armRetryLocked()
			return nil
		}
	}
	q.recs, q.err = nil, nil
	b.retryDelay = 0
	return nil
}

// storedLocked reports whether the journal holds p, a record folded in
// memory whose append now conflicts: it reads the journal's record of p's
// sequence number and compares its ID with p's (or, for a journal that drops
// IDs, the records as encoded, which is how every journal stores them: a
// time in UTC, invalid UTF-8 replaced). When the
// journal cannot be read, the conflict stays unresolved and the error is a
// transient one, so the record is tried again later.
func (b *Breaker) storedLocked(ctx context.Context, p events.Transition, conflict error) (bool, error) {
	var recs []events.Transition
	err := b.journalDo(func() (err error) {
		recs, err = b.cfg.journal.Read(ctx, b.name, p.Seq-1)
		return err
	})
	switch {
	case errors.Is(err, events.ErrCompacted):
		return false, conflict // cannot be told: refold the journal
	case err != nil:
		return false, fmt.Errorf("circuitry: breaker %q: seq %d conflicts, and reading the journal to see whether it holds it failed: %w", b.name, p.Seq, err)
	case len(recs) == 0 || recs[0].Seq != p.Seq:
		return false, conflict
	}
	if p.ID != "" && recs[0].ID != "" {
		return p.ID == recs[0].ID, conflict
	}
	want, err1 := p.MarshalJSON()
	got, err2 := recs[0].MarshalJSON()
	return err1 == nil && err2 == nil && bytes.Equal(want, got), conflict
}

// journalAppend appends rec with a context that cannot be cancelled (the
// record is part of a transition that already happened), turning a panic of
// the journal into an error.
func (b *Breaker) journalAppend(ctx context.Context, rec events.Transition) error {
	jctx := context.WithoutCancel(ctx)
	return b.journalDo(func() error { return b.cfg.journal.Append(jctx, rec) })
}

// journalDo calls f, which calls the journal, and returns its error, or an
// error holding the value a panicking journal panicked with: a faulty
// journal must not take the transition lock down with it.
func (b *Breaker) journalDo(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("circuitry: breaker %q: the journal (%T) panicked: %v", b.name, b.cfg.journal, v)
		}
	}()
	return f()
}

// The kept records are appended again by a timer as well as before the next
// transition, so that a breaker that trips while its journal fails and then
// stays open does not hold the trip only in memory until a crash forgets it.
const (
	firstAppendRetry = time.Second
	maxAppendRetry   = 30 * time.Second
)

// armRetryLocked arms the timer that appends the kept records again, unless
// it is armed: after 1s, then doubling up to 30s while the journal fails.
// The timer holds the breaker weakly, so a breaker dropped by its owner is
// collected all the same.
func (b *Breaker) armRetryLocked() {
	if b.retry != nil {
		return
	}
	d := max(b.retryDelay, firstAppendRetry)
	b.retryDelay = min(2*d, maxAppendRetry)
	self := b.self
	b.retry = b.cfg.clock.AfterFunc(d, func() {
		if b := self.Value(); b != nil {
			b.retryAppends()
		}
	})
}

// retryAppends runs on the retry timer: it appends the kept records, as Sync
// does, and follows the journal if another writer appended meanwhile. A
// failed append was reported as it happened; other errors are reported here.
func (b *Breaker) retryAppends() {
	b.mu.Lock()
	b.retry = nil
	b.mu.Unlock()
	if b.backlog.unstored(b.name) == nil {
		return
	}
	if err := b.Sync(context.Background()); err != nil && !errors.Is(err, ErrUnstored) {
		b.report(err)
	}
}

// errDiverged marks a conflict after records the journal never accepted:
// the breaker's own history and the journal's differ, and it must refold the
// journal from the start.
var errDiverged = errors.New("circuitry: history diverged from the journal")

// reportCollected is the cleanup of a breaker that was garbage collected:
// what it could not store is reported, never silently dropped.
func reportCollected(name string, onError func(error), q *backlog) {
	if u := q.unstored(name); u != nil {
		defer func() { _ = recover() }()
		onError(fmt.Errorf("circuitry: breaker %q was garbage collected: %w", name, u))
	}
}
