package machine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/dispatch"
	"github.com/circuitry-go/circuitry/internal/goid"
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
	// waiters are the manual controls waiting for their record to be
	// stored, by record ID.
	waiters map[string]chan<- error
	// watched: a cleanup reports what the breaker left here if it is
	// collected (registered with the first record, not by New).
	watched bool
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

// enqueueLocked hands rec, a transition already folded, to the journal
// writer (see write and writeAfter). A journal that refused a
// record for good gets nothing more: the transition is reported as unstored.
func (b *Breaker) enqueueLocked(rec events.Transition, wait chan<- error) {
	q := b.backlog
	if !q.watched {
		// A breaker dropped while its journal failed reports what it
		// could not store when it is collected.
		q.watched = true
		runtime.AddCleanup(b, collected.report, collected{b.name, b.cfg.onError, q})
	}
	q.mu.Lock()
	if q.refused {
		q.last = rec.Seq
		err := &JournalError{Breaker: b.name, Seq: rec.Seq, Refused: true, Err: q.err}
		q.mu.Unlock()
		b.journErr.Add(1)
		b.toReport = append(b.toReport, err)
		if wait != nil {
			wait <- err
		}
		return
	}
	q.recs = append(q.recs, rec)
	if wait != nil {
		if q.waiters == nil {
			q.waiters = make(map[string]chan<- error)
		}
		q.waiters[rec.ID] = wait
	}
	q.mu.Unlock()
}

// writeAfter runs the journal writer once a transition is made: on a
// goroutine of its own for a call, so that no call waits on journal I/O;
// on the calling goroutine for a timer, which waits for nobody (and so
// that a test clock that fires it sees the outcome when it returns), and
// for a journal that does no I/O ([events.Immediate]).
func (b *Breaker) writeAfter(inline bool) {
	b.mu.Lock()
	run := b.claimWriterLocked()
	b.mu.Unlock()
	switch {
	case !run:
	case inline || b.immediate:
		b.write()
	default:
		go b.write()
	}
}

// kickLocked starts the journal writer on a goroutine of its own, unless
// it runs or has nothing to append.
func (b *Breaker) kickLocked() {
	if b.claimWriterLocked() {
		go b.write()
	}
}

// claimWriterLocked marks the writer running, and reports whether the
// caller is to run it: false when it runs already or has nothing to append.
func (b *Breaker) claimWriterLocked() bool {
	if b.writing {
		b.again = true // a transition made while it appends: try once more after a failure
		return false
	}
	if len(b.backlog.recs) == 0 {
		return false
	}
	b.writing = true
	b.writerG = 0 // until the writer says which goroutine it runs on
	b.drained = make(chan struct{})
	return true
}

// write is the journal writer: a goroutine that appends the backlog, in
// order, while it is not empty, and then exits, so that no call ever waits
// on journal I/O and an idle breaker holds no goroutine. It appends outside
// the transition lock, with the journal timeout (WithJournalTimeout). A
// transient failure is reported and arms the retry timer, which starts the
// writer again (so do the next transition, Sync and Close). A conflict
// whose record is not the breaker's own means that another writer's history
// replaced transitions the breaker had published: it adopts that history
// and delivers its records, marked adopted, to the subscribers.
func (b *Breaker) write() {
	ctx := context.Background()
	for {
		b.mu.Lock()
		p, ok := b.backlog.head()
		if !ok {
			drained := b.drained
			b.writing, b.again = false, false
			b.unlock()
			b.writerDone(drained)
			return
		}
		b.mu.Unlock()

		err := b.journalAppend(p)
		var stored bool
		var theirs *history
		if errors.Is(err, events.ErrConflict) {
			if stored, err = b.holdsOwn(p, err); !stored && errors.Is(err, events.ErrConflict) {
				theirs = b.readHistory(p.Seq - 1)
			}
		}

		b.mu.Lock()
		t, stop := b.appendedLocked(p, err, stored, theirs)
		if stop && b.again && !b.backlog.refused {
			// A transition was made during the append: its record is
			// tried at once, as if this writer had been started by it.
			stop = false
		}
		b.again = false
		drained := b.drained
		if stop {
			b.writing = false
		}
		b.unlock()
		if t != 0 {
			b.deliverAdopted(ctx, t)
		}
		if stop {
			b.writerDone(drained)
			return
		}
	}
}

// deliverAdopted delivers adopted records to the inline subscribers on the
// writer's goroutine, marked as such (see onWriterLocked) for as long as
// they run: the one time the writer runs user code. Telling goroutines
// apart costs a microsecond or two, paid only here.
func (b *Breaker) deliverAdopted(ctx context.Context, t dispatch.Ticket) {
	id := goid.ID()
	b.mu.Lock()
	b.writerG = id
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.writerG = 0
		b.mu.Unlock()
	}()
	b.dispatch.Deliver(ctx, t)
}

// writerDone tells who waits for the writer that it stopped, once its
// reports are made and its deliveries done: drained stays published until
// it is closed, so that no waiter returns before.
func (b *Breaker) writerDone(drained chan struct{}) {
	close(drained)
	b.mu.Lock()
	if b.drained == drained {
		b.drained = nil
	}
	b.mu.Unlock()
}

// head returns the first record not stored yet.
func (q *backlog) head() (events.Transition, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.recs) == 0 || q.refused {
		return events.Transition{}, false
	}
	return q.recs[0], true
}

// notify tells the manual control waiting for the record id, if any.
func (q *backlog) notify(id string, err error) {
	if w, ok := q.waiters[id]; ok {
		w <- err
		delete(q.waiters, id)
	}
}

// appendedLocked applies the outcome of the append of p, under the
// transition lock: it returns the ticket of adopted records to deliver, and
// whether the writer stops (a transient failure waits for the retry).
func (b *Breaker) appendedLocked(p events.Transition, err error, stored bool, theirs *history) (dispatch.Ticket, bool) {
	q := b.backlog
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.recs) == 0 || q.recs[0].ID != p.ID {
		return 0, false // the backlog changed meanwhile (adopted by Sync)
	}
	switch {
	case err == nil || stored:
		q.recs[0] = events.Transition{}
		q.recs = q.recs[1:]
		q.notify(p.ID, nil)
		if len(q.recs) == 0 {
			q.recs, q.err = nil, nil
			b.retryDelay = 0
		}
		return 0, false
	case errors.Is(err, events.ErrConflict) && theirs != nil && theirs.err == nil:
		// Two writers moved the breaker at once, and the other's record
		// came first: how a shared journal works, not a fault. After an
		// outage of the journal, transitions are lost: that is reported.
		return b.divergedLocked(p, err, theirs, q.err != nil), false
	case errors.Is(err, events.ErrRefused):
		b.journErr.Add(1)
		je := &JournalError{Breaker: b.name, Seq: p.Seq, Refused: true, Err: err}
		q.refused, q.first, q.last, q.err = true, p.Seq, q.recs[len(q.recs)-1].Seq, err
		for _, r := range q.recs {
			q.notify(r.ID, je)
		}
		q.recs = nil
		if b.retry != nil {
			b.retry.Stop()
			b.retry = nil
		}
		b.toReport = append(b.toReport, je)
		return 0, true
	}
	if theirs != nil && theirs.err != nil {
		err = fmt.Errorf("%w; and reading the journal to follow it failed: %w", err, theirs.err)
	}
	q.err = err
	b.journErr.Add(1)
	je := &JournalError{Breaker: b.name, Seq: p.Seq, Err: err}
	b.toReport = append(b.toReport, je)
	for _, r := range q.recs { // none of them is stored before the retry
		q.notify(r.ID, je)
	}
	b.armRetryLocked()
	return 0, true
}

// divergedLocked adopts theirs, another writer's history, in place of the
// transitions from p on that the breaker published but the journal never
// got: the manual controls waiting for them get the conflict, they are
// reported as lost when report says so, and the journal's records after the
// last one both agree on are delivered to the subscribers, marked adopted.
func (b *Breaker) divergedLocked(p events.Transition, conflict error, theirs *history, report bool) dispatch.Ticket {
	q := b.backlog
	lost := q.recs
	q.recs, q.err = nil, nil
	b.retryDelay = 0
	err := fmt.Errorf("circuitry: breaker %q: transitions seq %d to %d never reached the journal, another writer's history replaced them: %w",
		b.name, lost[0].Seq, lost[len(lost)-1].Seq, conflict)
	for _, r := range lost {
		q.notify(r.ID, err)
	}
	if report {
		b.toReport = append(b.toReport, fmt.Errorf("%w: %w", errDiverged, err))
	}
	b.machine = nil // rebuilt from the adopted fold
	b.adoptLocked(theirs.fold)
	var t dispatch.Ticket
	for _, r := range theirs.recs {
		r.Adopted = true
		t = b.dispatch.Publish(context.Background(), r)
	}
	return t
}

// history is what readHistory read of the journal: the fold of the
// breaker's history, the records after a position, or why it could not.
type history struct {
	fold events.Snapshot
	recs []events.Transition
	err  error
}

// readHistory reads the journal's history of the breaker, outside the
// transition lock: its fold, and the records after seq (none when the
// journal compacted them away).
func (b *Breaker) readHistory(after uint64) *history {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.journalTimeout)
	defer cancel()
	h := &history{}
	h.err = b.journalDo(func() (err error) {
		h.fold, err = events.Load(ctx, b.cfg.journal, b.name)
		if err != nil {
			return err
		}
		h.recs, err = b.cfg.journal.Read(ctx, b.name, after)
		if errors.Is(err, events.ErrCompacted) {
			h.recs, err = nil, nil
		}
		// Records stored after the fold was read are for the next
		// follow or Sync, with a fold that includes them.
		for len(h.recs) > 0 && h.recs[len(h.recs)-1].Seq > h.fold.Seq {
			h.recs = h.recs[:len(h.recs)-1]
		}
		return err
	})
	return h
}

// holdsOwn reports whether the journal holds p, a record whose append now
// conflicts: an earlier append of it stored it and then reported an error
// (a network journal's timeout after its commit). It reads the journal's
// record of p's sequence number and compares its ID with p's (or, for a
// journal that drops IDs, the records as encoded, which is how every
// journal stores them: a time in UTC, invalid UTF-8 replaced). When the
// journal cannot be read, the error is a transient one, so that the record
// is tried again later.
func (b *Breaker) holdsOwn(p events.Transition, conflict error) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.journalTimeout)
	defer cancel()
	var recs []events.Transition
	err := b.journalDo(func() (err error) {
		recs, err = b.cfg.journal.Read(ctx, b.name, p.Seq-1)
		return err
	})
	switch {
	case errors.Is(err, events.ErrCompacted):
		return false, conflict // cannot be told: follow the journal
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

// journalAppend appends rec with the journal timeout, turning a panic of
// the journal into an error.
func (b *Breaker) journalAppend(rec events.Transition) error {
	ctx := context.Background()
	if !b.immediate { // a journal without I/O needs no deadline, nor its timer
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.journalTimeout)
		defer cancel()
	}
	return b.journalDo(func() error { return b.cfg.journal.Append(ctx, rec) })
}

// journalDo calls f, which calls the journal, and returns its error, or an
// error holding the value a panicking journal panicked with: a faulty
// journal must not take the breaker down with it.
func (b *Breaker) journalDo(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("circuitry: breaker %q: the journal (%T) panicked: %v", b.name, b.cfg.journal, v)
		}
	}()
	return f()
}

// onWriterLocked reports whether the caller runs on the journal writer's
// goroutine: an inline subscriber that the writer gives an adopted record.
// Waiting for the writer there would wait for itself.
func (b *Breaker) onWriterLocked() bool {
	return b.writing && b.writerG != 0 && b.writerG == goid.ID()
}

// waitWriter waits until the journal writer has done what it could with
// the backlog (stored it, or met a failure), or until ctx is done. On the
// writer's own goroutine it returns at once: the writer goes on with the
// backlog once the subscriber returns.
func (b *Breaker) waitWriter(ctx context.Context) error {
	b.mu.Lock()
	if b.onWriterLocked() {
		b.mu.Unlock()
		return nil
	}
	b.kickLocked()
	drained := b.drained
	b.mu.Unlock()
	if drained == nil {
		return nil
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
	if b.retry != nil || b.closing {
		return
	}
	d := max(b.retryDelay, firstAppendRetry)
	b.retryDelay = min(2*d, maxAppendRetry)
	self := weak.Make(b) // the timer must not keep the breaker alive
	b.retry = b.cfg.clock.AfterFunc(d, func() {
		if b := self.Value(); b != nil {
			b.retryAppends()
		}
	})
}

// retryAppends runs on the retry timer: it runs the journal writer again,
// on the timer's goroutine (so that a test clock that fires it sees the
// outcome when it returns).
func (b *Breaker) retryAppends() {
	b.mu.Lock()
	b.retry = nil
	run := b.claimWriterLocked()
	b.mu.Unlock()
	if run {
		b.write()
	}
}

// errDiverged marks transitions the breaker published that the journal
// never got, replaced by another writer's history.
var errDiverged = errors.New("circuitry: history diverged from the journal")

// reportCollected is the cleanup of a breaker that was garbage collected:
// what it could not store is reported, never silently dropped.
func reportCollected(name string, onError func(error), q *backlog) {
	if u := q.unstored(name); u != nil {
		defer func() { _ = recover() }()
		onError(fmt.Errorf("circuitry: breaker %q was garbage collected: %w", name, u))
	}
}
