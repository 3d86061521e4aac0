package machine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
	"weak"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/internal/dispatch"

	"github.com/looplab/fsm"

	"github.com/circuitry-go/circuitry/events"
)

// A move is a transition to make: the event, the figures that made it fire,
// and for a transition to open the open period (0: the one the breaker
// chooses, the recovery timeout or the backoff's, jittered).
type move struct {
	ev      events.Event
	reason  events.Reason
	openFor time.Duration
	// wait, when set, is told when the journal stored the move's record,
	// or why it did not (see the manual controls).
	wait chan<- error
}

// transition is the one path every transition takes, end to end. It takes
// the transition lock; asks decide, under the lock and given the snapshot
// calls read, which move to make, if any (decide checks that the breaker is
// still in the generation the move was decided in); fires, appends, folds,
// publishes and enqueues it (transitionLocked); releases the lock, reporting
// what was collected under it; and delivers the record to the inline
// subscribers on the calling goroutine. It returns the move's error, which
// the caller returns to its own caller or reports with noteErr; none when
// decide makes no move.
func (b *Breaker) transition(ctx context.Context, decide func(*snapshot) (move, bool)) error {
	t, made, err := b.transitionGuarded(ctx, decide)
	b.dispatch.Deliver(ctx, t)
	if made {
		b.writeAfter(false)
	}
	return err
}

// transitionOnTimer is transition for a timer's goroutine: the journal
// writer runs there too.
func (b *Breaker) transitionOnTimer(decide func(*snapshot) (move, bool)) error {
	ctx := context.Background()
	t, made, err := b.transitionGuarded(ctx, decide)
	b.dispatch.Deliver(ctx, t)
	if made {
		b.writeAfter(true)
	}
	return err
}

// transitionGuarded is the locked part of transition; made says that a
// transition was made, whose record waits for the writer.
func (b *Breaker) transitionGuarded(ctx context.Context, decide func(*snapshot) (move, bool)) (t dispatch.Ticket, made bool, err error) {
	b.mu.Lock()
	defer b.release()
	s := b.snap.Load()
	if s.state == stateShut {
		return 0, false, ErrClosed
	}
	m, ok := decide(s)
	if !ok {
		return 0, false, nil
	}
	t, err = b.transitionLocked(ctx, m)
	return t, err == nil, err
}

// inGen returns a decide function for transition that makes m while the
// breaker is still in generation gen and state.
func inGen(gen uint64, state events.State, m move) func(*snapshot) (move, bool) {
	return func(s *snapshot) (move, bool) { return m, s.gen == gen && s.state == state }
}

// transitionLocked makes m from the current state, under b.mu. It fires the
// fsm event (the authority on what is legal), folds the record, hands it to
// the journal writer, publishes the new snapshot and enqueues the record for
// the subscribers; the caller releases the lock, delivers the returned
// ticket and starts the writer (see transition). A conflict with another
// writer is met by the writer, later (see appendedLocked).
func (b *Breaker) transitionLocked(ctx context.Context, m move) (dispatch.Ticket, error) {
	ev, reason, openFor := m.ev, m.reason, m.openFor
	from := b.fold.State
	if err := b.fire(ctx, ev, from); err != nil {
		return 0, err
	}
	to, err := events.ParseState(b.fsmLocked().Current())
	if err != nil { // not reached: every fsm state is an events.State
		return 0, err
	}
	if to != events.Open {
		openFor = 0
	} else if openFor == 0 {
		openFor = b.openPeriodLocked()
	}
	now := b.cfg.clock.Now()
	rec := events.Transition{
		Breaker:     b.name,
		Seq:         b.fold.Seq + 1,
		Event:       ev,
		From:        from,
		To:          to,
		Time:        now.Round(0).UTC(),
		OpenFor:     openFor,
		Reason:      reason,
		ObserveOnly: b.observe,
		Writer:      b.cfg.writer,
		ID:          newRecordID(),
	}
	fold, err := b.fold.Apply(rec)
	if err != nil { // not reached: the fsm and the table agree
		return 0, fmt.Errorf("circuitry: breaker %q: record %v does not fold: %w", b.name, rec, err)
	}
	b.fold = fold
	// To the writer first: a record folded is a record stored, even if what
	// follows panics (a clock's AfterFunc).
	b.enqueueLocked(rec, m.wait)
	left := openFor
	if to == events.HalfOpen {
		left = b.cfg.halfOpenTimeout
	}
	b.publishLocked(to, now, left, false)
	return b.dispatch.Publish(ctx, rec), nil
}

// newRecordID returns a record ID: 16 hex digits drawn at random, so that a
// breaker recognises its own record in a journal that many write to.
func newRecordID() string {
	const digits = "0123456789abcdef"
	var id [16]byte
	v := rand.Uint64()
	for i := len(id) - 1; i >= 0; i-- {
		id[i] = digits[v&15]
		v >>= 4
	}
	return string(id[:])
}

// noteErr reports a transition error that has no caller to go to, except a
// plain conflict: another writer moved the breaker first and the breaker
// adopted its history, which is how a shared journal works, not a fault. A
// divergence (transitions of this breaker that never reached the journal are
// lost) is reported.
func (b *Breaker) noteErr(err error) {
	if reportable(err) {
		b.report(err)
	}
}

func reportable(err error) bool {
	return err != nil && !errors.Is(err, ErrClosed) && (!errors.Is(err, events.ErrConflict) || errors.Is(err, errDiverged))
}

// fire fires ev on the fsm with a context that cannot be cancelled (a
// cancelled context would leave looplab/fsm in transition for ever). If the
// fsm is stuck all the same, it is rebuilt in the state the fold says and the
// fault is reported.
func (b *Breaker) fire(ctx context.Context, ev events.Event, from events.State) error {
	err := b.fsmLocked().Event(context.WithoutCancel(ctx), ev.String())
	if err == nil {
		return nil
	}
	if errors.As(err, new(fsm.InTransitionError)) {
		b.toReport = append(b.toReport, fmt.Errorf("circuitry: breaker %q: state machine stuck (%v); rebuilt in state %s", b.name, err, from))
		b.machine = newFSM(from)
		if err = b.machine.Event(context.WithoutCancel(ctx), ev.String()); err == nil {
			return nil
		}
	}
	return &TransitionError{Breaker: b.name, Event: ev, State: from, Err: err}
}

// catchUp folds the records other writers appended after the breaker's
// last one, when the journal holds all of the breaker's own, and delivers
// them to the subscribers, marked adopted. It reads the journal outside the
// transition lock, bounded by ctx and the journal timeout.
func (b *Breaker) catchUp(ctx context.Context) (dispatch.Ticket, error) {
	if u := b.backlog.unstored(b.name); u != nil {
		return 0, u
	}
	b.mu.Lock()
	seq := b.fold.Seq
	b.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, b.cfg.journalTimeout)
	defer cancel()
	var recs []events.Transition
	var fold events.Snapshot
	err := b.journalDo(func() (err error) {
		recs, err = b.cfg.journal.Read(rctx, b.name, seq)
		if errors.Is(err, events.ErrCompacted) {
			// Too far behind to see each record: take the journal's fold.
			recs = nil
			fold, err = events.Load(rctx, b.cfg.journal, b.name)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("circuitry: breaker %q: following the journal: %w", b.name, err)
	}
	b.mu.Lock()
	defer b.release()
	if b.fold.Seq != seq || b.snap.Load().state == stateShut {
		return 0, nil // the breaker moved meanwhile: its writer will meet what it missed
	}
	if recs != nil || fold.Breaker == "" {
		if fold, err = events.ReplayFrom(b.fold, recs); err != nil {
			return 0, fmt.Errorf("circuitry: breaker %q: following the journal: %w", b.name, err)
		}
	}
	if fold == b.fold {
		return 0, nil
	}
	b.machine = nil // rebuilt from the adopted fold
	b.adoptLocked(fold)
	var t dispatch.Ticket
	for _, r := range recs {
		r.Adopted = true
		t = b.dispatch.Publish(ctx, r)
	}
	return t, nil
}

// adoptLocked makes fold the breaker's state: on New, and after following
// other writers. An open period, and the longest time in half-open, are
// measured from the recorded wall time.
func (b *Breaker) adoptLocked(fold events.Snapshot) {
	b.fold = fold
	now := b.cfg.clock.Now()
	var left time.Duration
	switch fold.State {
	case events.Open:
		until, _ := fold.OpenUntil()
		left = until.Sub(now)
	case events.HalfOpen:
		left = fold.Since.Add(b.cfg.halfOpenTimeout).Sub(now)
	}
	b.publishLocked(fold.State, now, max(left, 0), fold.State == events.Open && left <= 0)
}

// publishLocked starts a new generation in state: it resets the state's
// counters (a new set of windows in closed), arms the state's timer, and
// publishes the snapshot calls read. left is the time left in an open
// period, or in half-open before its timeout (when WithHalfOpenTimeout is
// set); due says an open period is already over.
func (b *Breaker) publishLocked(state events.State, now time.Time, left time.Duration, due bool) {
	b.gen++
	gen := b.gen
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.probes.Store(0)
	b.probeOK.Store(0)
	b.endLeaseLocked()
	if b.closing {
		// Closed: the writer's last attempt may still adopt other
		// writers' records, which the fold takes; calls keep being
		// refused, and no timer or lease starts.
		b.snap.Store(&snapshot{gen: gen, state: stateShut, last: state})
		return
	}
	s := &snapshot{gen: gen, state: state}
	switch state {
	case events.Closed:
		b.run.start(gen)
		if b.pol != nil {
			s.win = b.pol.newWindowSet(now.Sub(b.epoch))
		}
	case events.Open:
		s.due, s.over = due || b.observe, due
		s.reject = &OpenError{Breaker: b.name, State: events.Open, Until: now.Add(left), clock: b.cfg.clock}
		switch {
		case !due:
			b.timer = b.afterLocked(left, gen, (*Breaker).openElapsed)
		case b.cfg.probeOnTimer:
			b.timer = b.afterLocked(0, gen, (*Breaker).probeOnTimer)
		}
	case events.HalfOpen:
		s.reject = &OpenError{Breaker: b.name, State: events.HalfOpen}
		if b.cfg.halfOpenTimeout > 0 {
			b.timer = b.afterLocked(left, gen, (*Breaker).halfOpenExpired)
		}
		if b.cfg.lease != nil {
			b.leaseLocked(gen, b.fold.Seq)
		}
	}
	b.snap.Store(s)
}

// afterLocked arms a timer that calls f(b, gen) after d. The timer holds the
// breaker weakly, so that a breaker its owner dropped is collected without
// waiting for its timers.
func (b *Breaker) afterLocked(d time.Duration, gen uint64, f func(*Breaker, uint64)) clock.Timer {
	self := weak.Make(b) // the timer must not keep the breaker alive
	return b.cfg.clock.AfterFunc(d, func() {
		if b := self.Value(); b != nil {
			f(b, gen)
		}
	})
}

// openElapsed runs when the open period of generation gen ends: it marks
// the snapshot over, so that the next call probes, taking no lock; with
// WithProbeOnTimer it then fires probe itself.
func (b *Breaker) openElapsed(gen uint64) {
	s := b.snap.Load()
	if s.gen != gen || s.state != events.Open {
		return
	}
	if !s.over {
		over := *s
		over.due, over.over = true, true
		b.snap.CompareAndSwap(s, &over)
	}
	if b.cfg.probeOnTimer {
		b.probeOnTimer(gen)
	}
}

// probeOnTimer fires probe from the open timer of generation gen, unless
// the breaker moved on. If the event cannot be applied, the snapshot stays
// flagged, and the next call probes.
func (b *Breaker) probeOnTimer(gen uint64) {
	b.noteErr(b.transitionOnTimer(inGen(gen, events.Open, move{
		ev: events.Probe, reason: events.Reason{Policy: events.PolicyOpenTimeout},
	})))
}

// halfOpenExpired re-opens the breaker when half-open generation gen has
// lasted its longest allowed time (WithHalfOpenTimeout).
func (b *Breaker) halfOpenExpired(gen uint64) {
	b.noteErr(b.transitionOnTimer(func(s *snapshot) (move, bool) {
		return move{ev: events.Retrip, reason: events.Reason{
			Policy:    events.PolicyHalfOpenTimeout,
			Successes: uint64(b.probeOK.Load()),
			Threshold: uint64(b.cfg.successThreshold),
		}}, s.gen == gen && s.state == events.HalfOpen
	}))
}
