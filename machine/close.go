package machine

import (
	"context"
	"errors"

	"github.com/circuitry-go/circuitry/events"
)

// ErrClosed is returned by every call, manual control and Sync on a breaker
// after [Breaker.Close]: the protected function is not called and nothing
// is counted.
var ErrClosed = errors.New("circuitry: breaker is closed")

// stateShut is the state a closed breaker publishes to calls: neither
// closed nor open, so that both inline paths of Do and Allow fall through
// to admit, which refuses the call with ErrClosed. State reports the state
// the breaker was in when it was closed.
const stateShut = events.State(events.NumStates)

// Close shuts the breaker down: it stops its timers (the open period, the
// half-open timeout, the append retry), ends a request for the probe lease
// ([WithProbeLease]) and waits for it, stops following its journal
// ([WithFollow]) and being observed ([BreakerObserver], such as the
// OpenTelemetry bridge's instruments), appends the transitions its journal
// has not stored yet, and waits until its queued subscribers have been given
// every transition, each within ctx. It returns an [*UnstoredError] for the
// transitions it could not store (they are then reported nowhere else), and
// ctx's error when the queued subscribers did not finish in time.
//
// After Close, Do, Execute and Allow return [ErrClosed] without calling the
// function or counting anything, as do the manual controls and Sync; a call
// admitted before Close may still report its outcome with Done, which is
// counted and moves nothing. State, Snapshot, Counts and Windows go on
// answering. Close may be called again, for instance after ctx expired: a
// later call waits for the queued subscribers again, and returns nil once
// they are done.
func (b *Breaker) Close(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	b.shut()
	if b.cfg.follow > 0 {
		b.unfollow()
	}
	var errs []error
	if err := b.stopObserving(); err != nil {
		errs = append(errs, err)
	}
	if err := b.waitWriter(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := b.waitLease(ctx); err != nil {
		errs = append(errs, err)
	}
	if u := b.backlog.unstored(b.name); u != nil {
		errs = append(errs, u)
		q := b.backlog
		q.mu.Lock()
		for _, r := range q.recs { // the manual controls still waiting learn it too
			q.notify(r.ID, u)
		}
		q.recs, q.refused = nil, false // returned here, not reported again
		q.mu.Unlock()
	}
	if err := b.dispatch.Flush(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// shut stops the timers and publishes the snapshot that refuses every call,
// once; Close then lets the writer make a last attempt at the backlog.
func (b *Breaker) shut() {
	b.mu.Lock()
	defer b.release()
	if b.closing {
		return
	}
	b.closing = true
	b.endLeaseLocked()
	if b.retry != nil {
		b.retry.Stop()
		b.retry = nil
	}
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.gen++
	b.snap.Store(&snapshot{gen: b.gen, state: stateShut, last: b.fold.State})
}
