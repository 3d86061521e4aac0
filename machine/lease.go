package machine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/goid"
)

// A ProbeLease limits the probes of a fleet: of the processes that share a
// breaker through one journal, only the one holding the lease for a
// half-open period admits probes in it, up to its probe limit, so that a
// recovering dependency sees at most [WithProbeLimit] probes from the whole
// fleet instead of that many from each process. natsjournal.ProbeLeases is
// one, on a JetStream key-value bucket.
//
// The breaker asks for the lease once per half-open period, when it enters
// half-open (by its own probe, an adopted one, or a manual control), on a
// goroutine of its own, never for each call; a breaker New has not yet
// returned does not ask. The call that moved the breaker to half-open waits
// for the answer (within its ctx); other calls in half-open, until the
// answer comes, and all of them when it is no, are rejected as when every
// probe slot is taken. Each request is bounded by [WithJournalTimeout] or
// half the [WithHalfOpenTimeout], whichever is shorter. When Acquire fails
// (an error, a panic, or no answer in that time), the breaker reports a
// [*LeaseError] and admits probes up to its own probe limit, as without a
// lease: a fleet whose lease store is down still recovers.
type ProbeLease interface {
	// Acquire reports whether writer holds the lease on the half-open
	// period of breaker that record seq began; exactly one writer may hold
	// it. seq identifies the period across the fleet, as every process
	// folds the same record. One writer may ask twice for one period (after
	// adopting another writer's record of the same sequence number) and
	// must be given the same answer. A lease on an earlier period is
	// over: the one for a later period replaces it.
	Acquire(ctx context.Context, breaker string, seq uint64, writer string) (bool, error)
}

// WithProbeLease makes the breaker admit probes in half-open only while it
// holds l's lease on the half-open period (see [ProbeLease]). It needs
// [WithHalfOpenTimeout], so that a half-open period whose lease holder is
// gone (crashed, or never called) ends and a new period, with a new lease,
// begins; and it is meant for a breaker that follows its journal
// ([WithFollow]), so that the holder's recover or retrip reaches the other
// processes at once. Default none: each process admits up to its own probe
// limit.
func WithProbeLease(l ProbeLease) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return &events.OptionError{Option: "WithProbeLease", Value: "nil", Reason: "must not be nil"}
		}
		c.lease = l
		return nil
	})
}

// LeaseError reports a [ProbeLease] that could not answer for a half-open
// period: the breaker admitted probes up to its own probe limit instead.
type LeaseError struct {
	Breaker string
	// Seq is the sequence number of the record that began the half-open
	// period.
	Seq uint64
	Err error
}

func (e *LeaseError) Error() string {
	return fmt.Sprintf("circuitry: breaker %q: the probe lease for half-open seq %d failed (probing up to this process's own limit): %v", e.Breaker, e.Seq, e.Err)
}

// Unwrap returns the lease's error.
func (e *LeaseError) Unwrap() error { return e.Err }

// leasing is the state of the probe lease, guarded by the breaker's
// transition lock.
type leasing struct {
	// made: New has returned the breaker. Until then no lease is asked
	// for, so that a New that fails takes no lease from the fleet.
	made     bool
	gen      uint64             // the half-open generation whose probes this process may admit
	cancel   context.CancelFunc // ends the request under way; nil when none is
	asked    uint64             // the generation of the latest request
	answered chan struct{}      // closed when the latest request has its answer
	deadline <-chan struct{}    // closed when the latest request's time is up
	wg       sync.WaitGroup     // the requests under way
	// reporter is the goroutine of a request while it reports its
	// failure to the error handler, which may call Close.
	reporter atomic.Uint64
}

// leaseLocked asks for the lease on the half-open period just published
// (generation gen, begun by record seq) on a goroutine of its own, ending
// the request for an earlier period if one is under way. It runs under
// b.mu.
func (b *Breaker) leaseLocked(gen, seq uint64) {
	b.endLeaseLocked()
	if !b.lease.made {
		return // New asks once the breaker is made (see leaseMade)
	}
	// Half the half-open period at most: a lease store that does not
	// answer leaves the other half to probe on this process's own limit.
	ctx, cancel := context.WithTimeout(context.Background(), min(b.cfg.journalTimeout, b.cfg.halfOpenTimeout/2))
	answered := make(chan struct{})
	b.lease.cancel, b.lease.asked, b.lease.answered, b.lease.deadline = cancel, gen, answered, ctx.Done()
	b.lease.wg.Go(func() {
		defer cancel()
		defer close(answered)
		held, err := b.acquire(ctx, seq)
		if err != nil && errors.Is(ctx.Err(), context.Canceled) {
			return // the breaker left the period, or was closed: nobody waits for the answer
		}
		if err != nil {
			held = true // fall back on the process's own probe limit
		}
		b.mu.Lock()
		if held && b.gen == gen {
			b.lease.gen = gen
		}
		b.mu.Unlock()
		if err != nil {
			b.lease.reporter.Store(goid.ID())
			b.report(&LeaseError{Breaker: b.name, Seq: seq, Err: err})
			b.lease.reporter.Store(0)
		}
	})
}

// leaseMade is the end of a New that succeeds: from now on the breaker
// asks for the lease, starting with the half-open period it resumed in.
func (b *Breaker) leaseMade() {
	if b.lease == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lease.made = true
	if s := b.snap.Load(); s.state == events.HalfOpen {
		b.leaseLocked(s.gen, b.fold.Seq)
	}
}

// awaitLease waits, within ctx, for the answer of the lease on half-open
// generation gen, for the call that moved the breaker to half-open: with
// little traffic, the next call may come after the period is over.
func (b *Breaker) awaitLease(ctx context.Context, gen uint64) {
	b.mu.Lock()
	ch, deadline := b.lease.answered, b.lease.deadline
	asked := b.lease.asked == gen
	b.mu.Unlock()
	if !asked || ch == nil {
		return
	}
	select {
	case <-ch:
	case <-deadline: // a lease that ignores its deadline is not waited for
	case <-ctx.Done():
	}
}

// endLeaseLocked ends the request for the lease under way, if any: the
// breaker has left the half-open period it was for.
func (b *Breaker) endLeaseLocked() {
	if b.lease != nil && b.lease.cancel != nil {
		b.lease.cancel()
		b.lease.cancel = nil
	}
}

// acquire calls the lease, turning a panic into an error. Like a journal,
// the lease must return when ctx is done.
func (b *Breaker) acquire(ctx context.Context, seq uint64) (held bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			held, err = false, fmt.Errorf("the lease (%T) panicked: %v", b.cfg.lease, v)
		}
	}()
	return b.cfg.lease.Acquire(ctx, b.name, seq, b.cfg.writer)
}

// holdsLeaseLocked reports whether calls in half-open generation gen may
// take a probe slot: always without a lease. It runs under b.mu.
func (b *Breaker) holdsLeaseLocked(gen uint64) bool {
	return b.lease == nil || b.lease.gen == gen
}

// waitLease waits, within ctx, for the request for the lease that Close
// ended.
func (b *Breaker) waitLease(ctx context.Context) error {
	if b.lease == nil || b.lease.reporter.Load() == goid.ID() {
		return nil // not from the request's own report, which would wait for itself
	}
	done := make(chan struct{})
	go func() {
		b.lease.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("circuitry: breaker %q: the probe lease did not return: %w", b.name, ctx.Err())
	}
}
