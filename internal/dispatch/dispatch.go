// Package dispatch delivers a breaker's transitions to its subscribers in
// order, on the two lanes package hooks describes: the ticket protocol the
// breaker follows under its transition lock, the queued lane's goroutine,
// and panic isolation. Users never call it; the errors it reports are
// package hooks' types.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/circuitry-go/circuitry/hooks"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/goid"
)

// DefaultQueueCapacity is the number of transitions the queued lane of a
// [Dispatcher] holds before it drops, when [DispatcherConfig.QueueCapacity]
// is zero.
const DefaultQueueCapacity = 1024

// DispatcherConfig configures a [Dispatcher]. The zero value is valid.
type DispatcherConfig struct {
	// QueueCapacity bounds the queued lane: how many transitions may wait
	// for the queued subscribers. Zero means [DefaultQueueCapacity]; a
	// negative value is an error. When the queue is full a transition is
	// dropped for the queued lane (never for the inline lane or the
	// journal), counted in [DispatcherStats.Dropped] and reported as an
	// [*hooks.OverflowError].
	QueueCapacity int
	// OnError receives a [*hooks.PanicError] for every subscriber panic and an
	// [*hooks.OverflowError] for every run of transitions dropped by the queued
	// lane. It is called from the goroutine that delivers (the caller's for
	// inline subscribers, the dispatcher's for queued ones), never under a
	// lock. Nil means reporting through slog.Default at level Error.
	OnError func(error)
}

// Dispatcher delivers a breaker's transitions to its subscribers: each
// subscriber sees each transition exactly once, in the order published,
// and a subscriber that panics is recovered and reported without affecting
// the breaker, the call or the other subscribers.
//
// The breaker calls [Dispatcher.Publish] under its transition lock, which only
// enqueues and never blocks, and then, after releasing the lock,
// [Dispatcher.Deliver], which runs the inline subscribers on the calling
// goroutine. Queued subscribers run on a goroutine that the dispatcher starts
// when transitions are waiting and that exits when the queue is empty, so an
// idle dispatcher holds no goroutine.
//
// Memory is bounded by the queue capacity for the queued lane, and for the
// inline lane by the number of goroutines delivering at once.
//
// A nil *Dispatcher is the dispatcher of a breaker without subscribers: it
// publishes to nobody, delivers nothing, flushes at once and counts
// nothing, so that such a breaker does not allocate one.
type Dispatcher struct {
	breaker string
	inline  []hooks.Subscriber
	queued  []hooks.Subscriber
	onError func(error)
	qcap    int

	tickets atomic.Uint64
	dropped atomic.Uint64
	panics  atomic.Uint64

	// Inline lane.
	imu        sync.Mutex
	icond      sync.Cond
	ipending   []item
	idraining  bool
	drainer    uint64 // the goroutine delivering, while idraining
	idelivered uint64

	// Queued lane.
	qmu      sync.Mutex
	queue    []item
	qrunning bool
	qlast    uint64 // ticket of the last item enqueued
	qdone    uint64 // ticket of the last item delivered
	worker   uint64 // the goroutine delivering the queue, while qrunning
	gap      *hooks.OverflowError
	waiters  []waiter
}

type item struct {
	ctx    context.Context
	t      events.Transition
	ticket uint64
}

type waiter struct {
	ticket uint64
	done   chan struct{}
}

// NewDispatcher returns a dispatcher for the named breaker's subscribers,
// split by [LaneOf] and kept in the order given within each lane.
func NewDispatcher(breaker string, subs []hooks.Subscriber, cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.QueueCapacity < 0 {
		return nil, fmt.Errorf("circuitry: QueueCapacity %d must not be negative", cfg.QueueCapacity)
	}
	d := &Dispatcher{breaker: breaker, onError: cfg.OnError, qcap: cfg.QueueCapacity}
	if d.qcap == 0 {
		d.qcap = DefaultQueueCapacity
	}
	for i, s := range subs {
		if s == nil {
			return nil, fmt.Errorf("circuitry: subscriber %d is nil", i)
		}
		switch l := hooks.LaneOf(s); l {
		case hooks.LaneInline:
			d.inline = append(d.inline, s)
		case hooks.LaneQueued:
			d.queued = append(d.queued, s)
		default:
			return nil, fmt.Errorf("circuitry: subscriber %d (%T) asks for unknown lane %v", i, s, l)
		}
	}
	d.icond.L = &d.imu
	return d, nil
}

// Ticket identifies a published transition for [Dispatcher.Deliver].
type Ticket uint64

// Publish enqueues t, caused by the call with context ctx, for both lanes.
// It never blocks on a subscriber. Call it in sequence order, under the lock
// that orders the breaker's transitions, and then call Deliver with the
// returned ticket after releasing that lock.
func (d *Dispatcher) Publish(ctx context.Context, t events.Transition) Ticket {
	if d == nil {
		return 0
	}
	it := item{ctx: ctx, t: t, ticket: d.tickets.Add(1)}
	if len(d.inline) > 0 {
		d.imu.Lock()
		d.ipending = append(d.ipending, it)
		d.imu.Unlock()
	}
	if len(d.queued) > 0 {
		d.enqueue(it)
	}
	return Ticket(it.ticket)
}

// Deliver runs the inline subscribers for every published transition up to
// and including ticket, in order, on the calling goroutine, and returns when
// the transition of ticket has been delivered inline. When another goroutine
// is already delivering, Deliver waits for it to reach ticket. Called on the
// goroutine that is delivering (from within an inline subscriber of this
// dispatcher, whatever context the subscriber passes on), it returns at once
// and the transition is delivered right after the current one.
func (d *Dispatcher) Deliver(ctx context.Context, ticket Ticket) {
	if d == nil || len(d.inline) == 0 {
		return
	}
	d.imu.Lock()
	defer d.imu.Unlock()
	var me uint64
	for d.idraining {
		if d.idelivered >= uint64(ticket) {
			return
		}
		if me == 0 {
			me = goid.ID()
		}
		if me == d.drainer {
			return // re-entered from an inline subscriber: delivered after it
		}
		d.icond.Wait()
	}
	if d.idelivered >= uint64(ticket) {
		return
	}
	if me == 0 {
		me = goid.ID()
	}
	d.idraining, d.drainer = true, me
	for len(d.ipending) > 0 {
		it := d.ipending[0]
		d.ipending[0] = item{}
		d.ipending = d.ipending[1:]
		d.imu.Unlock()
		d.run(d.inline, it.ctx, it.t)
		d.imu.Lock()
		d.idelivered = it.ticket
		d.icond.Broadcast()
	}
	d.ipending = nil
	d.idraining, d.drainer = false, 0
	d.icond.Broadcast()
}

func (d *Dispatcher) enqueue(it item) {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	if len(d.queue) >= d.qcap {
		d.dropped.Add(1)
		if d.gap == nil {
			d.gap = &hooks.OverflowError{Breaker: d.breaker, FirstSeq: it.t.Seq}
		}
		d.gap.LastSeq = it.t.Seq
		d.gap.Count++
		return
	}
	d.queue = append(d.queue, it)
	d.qlast = it.ticket
	if !d.qrunning {
		d.qrunning = true
		go d.work()
	}
}

func (d *Dispatcher) work() {
	id := goid.ID()
	d.qmu.Lock()
	d.worker = id
	for {
		if gap := d.gap; gap != nil {
			d.gap = nil
			d.qmu.Unlock()
			d.report(gap)
			d.qmu.Lock()
			continue
		}
		if len(d.queue) == 0 {
			d.qrunning = false
			d.queue = nil
			d.worker = 0
			d.qmu.Unlock()
			return
		}
		it := d.queue[0]
		d.queue[0] = item{}
		d.queue = d.queue[1:]
		d.qmu.Unlock()
		d.run(d.queued, it.ctx, it.t)
		d.qmu.Lock()
		d.qdone = it.ticket
		d.releaseWaiters()
	}
}

// releaseWaiters wakes the Flush calls whose ticket has been delivered. It
// runs under qmu.
func (d *Dispatcher) releaseWaiters() {
	kept := d.waiters[:0]
	for _, w := range d.waiters {
		if w.ticket <= d.qdone {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	clear(d.waiters[len(kept):])
	d.waiters = kept
}

// Flush waits until the queued subscribers have been given every transition
// published before the call (or dropped it), or until ctx is done, and then
// returns ctx's error. Called from a queued subscriber of this dispatcher, it
// returns [hooks.ErrReentrant] at once.
func (d *Dispatcher) Flush(ctx context.Context) error {
	if d == nil {
		return nil
	}
	d.qmu.Lock()
	if d.qdone >= d.qlast {
		d.qmu.Unlock()
		return nil
	}
	if d.worker != 0 && d.worker == goid.ID() {
		d.qmu.Unlock()
		return hooks.ErrReentrant
	}
	w := waiter{ticket: d.qlast, done: make(chan struct{})}
	d.waiters = append(d.waiters, w)
	d.qmu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Dispatcher) run(subs []hooks.Subscriber, ctx context.Context, t events.Transition) {
	for i, s := range subs {
		d.notify(i, s, ctx, t)
	}
}

func (d *Dispatcher) notify(i int, s hooks.Subscriber, ctx context.Context, t events.Transition) {
	defer func() {
		if v := recover(); v != nil {
			d.panics.Add(1)
			d.report(&hooks.PanicError{Breaker: t.Breaker, Seq: t.Seq, Subscriber: fmt.Sprintf("%d (%T)", i, s), Value: v, Stack: debug.Stack()})
		}
	}()
	s.Notify(ctx, t)
}

func (d *Dispatcher) report(err error) {
	defer func() { _ = recover() }() // an error handler that panics must not take the breaker down
	if d.onError != nil {
		d.onError(err)
		return
	}
	slog.Default().Error("circuitry: subscriber delivery", "breaker", d.breaker, "error", err)
}

// DispatcherStats are a dispatcher's cumulative counts.
type DispatcherStats struct {
	// Dropped counts transitions the queued lane dropped because its queue
	// was full.
	Dropped uint64
	// Panics counts subscriber panics recovered.
	Panics uint64
}

// Stats returns the dispatcher's cumulative counts.
func (d *Dispatcher) Stats() DispatcherStats {
	if d == nil {
		return DispatcherStats{}
	}
	return DispatcherStats{Dropped: d.dropped.Load(), Panics: d.panics.Load()}
}
