package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// Registry holds a breaker per key, each made on first use from one set of
// machine options. It is safe for concurrent use. Make one with [New] and
// close it with [Registry.Close].
//
// Finding a key's breaker ([Registry.Get], and so [Registry.Do] and
// [Execute]) takes no lock and allocates nothing: a read of a concurrent
// map, and of the entry's flags. The only write a call may make is to mark
// its entry used, once per sweep.
type Registry struct {
	cfg config

	m sync.Map     // key → *entry
	n atomic.Int64 // breakers held: made or being made, and not yet closed

	// makers counts the goroutines making a breaker, from before they take
	// a place for it until they have published or forgotten its entry,
	// plus closedBit once Close was called. A maker joins only while
	// closedBit is unset, in the same compare-and-swap that checks it, so
	// that once Close has set it the count only falls: Close waits for it
	// to reach zero, which closes drained.
	makers  atomic.Int64
	drained chan struct{} // closed when Close was called and no maker is left

	// sweepMu makes the passes that evict (the sweeper's, a full
	// registry's, Remove and Close) one at a time, and guards what follows.
	sweepMu sync.Mutex
	timer   clock.Timer // the next sweep; nil when none is armed
	round   uint64      // sweeps so far
	// fruitless is round+1 when a full registry's pass of this round
	// evicted nothing: the next pass waits for the next sweep, which is
	// when breakers become candidates (their used marks cleared), so that
	// a registry full of busy breakers does not scan them for every key
	// it refuses. (One that turns quiet meanwhile waits for that sweep.)
	fruitless uint64
	closing   sync.WaitGroup // the passes closing what they evicted
}

// The states of an entry: made, then live, then evicted (evicting while
// the evictor checks it, put back to live if it finds it in use), then
// gone. Only live entries give their breaker.
const (
	creating int32 = iota
	live
	evicting
	gone
)

// entry is a key's breaker and the flags its callers and the sweeper
// share.
type entry struct {
	state atomic.Int32
	// used says the breaker was handed out since the last sweep: set by
	// Get only when it is not (a call writes nothing when it is), cleared
	// by the sweeper. Get sets it before it reads state, and an evictor
	// reads it after it set state to evicting, so that one of the two sees
	// the other: no Get hands out a breaker being evicted, and no breaker
	// is evicted under a Get that found it.
	used atomic.Bool
	// made is held by the goroutine making the breaker, so that other
	// callers of the same key wait for it instead of making another.
	made sync.Mutex
	b    *machine.Breaker // set before state becomes live
	err  error            // why the breaker could not be made, set before made is unlocked
}

// waitMade waits until e's breaker is made, or failed to be.
func (e *entry) waitMade() {
	e.made.Lock()
	//lint:ignore SA2001 the lock is held by e's maker: taking it waits for it
	e.made.Unlock()
}

// acquire returns e's breaker, marking it used, if e is live.
func (e *entry) acquire() *machine.Breaker {
	if !e.used.Load() {
		e.used.Store(true)
	}
	if e.state.Load() == live {
		return e.b
	}
	return nil
}

// New returns an empty registry configured by opts over the defaults listed
// with [DefaultMaxKeys]. It returns an [*events.OptionError] for an invalid
// option. With an idle timeout, it arms the sweeper on the registry's
// clock: call [Registry.Close] when done.
func New(opts ...Option) (*Registry, error) {
	r := &Registry{cfg: defaults(), drained: make(chan struct{})}
	for i, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: fmt.Sprintf("registry option %d", i), Value: "nil", Reason: "must not be nil"}
		}
		if err := o.apply(&r.cfg); err != nil {
			return nil, err
		}
	}
	if r.cfg.idle > 0 {
		r.sweepMu.Lock() // the sweep may run before AfterFunc returns
		r.timer = r.cfg.clock.AfterFunc(r.cfg.idle, r.sweep)
		r.sweepMu.Unlock()
	}
	return r, nil
}

// Get returns the breaker of key, making it on first use with the
// registry's breaker options and the key's name ([WithName]). It returns a
// [*KeyError] (matching [ErrInvalidKey]) for a key that cannot name a
// breaker, a [*FullError] (matching [ErrFull]) when the registry is full
// and can evict none, [ErrClosed] after Close, and machine.New's error when
// the breaker cannot be made (an invalid option, a journal that cannot be
// read); an error is not remembered, and the next Get tries again. If
// making the breaker panics (a [machine.BreakerObserver] that panics in
// ObserveBreaker, say), the panic goes on to the Get that was making it,
// the Gets of the same key waiting for it return an error saying so, and
// the key's next Get tries again.
//
// Get never returns a breaker that the registry has started to evict or
// close. A breaker held on to after Get may be evicted once it has gone
// unused for the idle timeout, after which its calls return
// machine.ErrClosed: call Get for each call, or use [Registry.Do] and
// [Execute], which do so and try again with a new breaker when the one
// they found was closed meanwhile.
func (r *Registry) Get(key string) (*machine.Breaker, error) {
	if v, ok := r.m.Load(key); ok {
		if b := v.(*entry).acquire(); b != nil {
			return b, nil
		}
	}
	return r.get(key)
}

// get is Get's slow path: the key has no live entry.
func (r *Registry) get(key string) (*machine.Breaker, error) {
	for {
		if r.closed() {
			return nil, ErrClosed
		}
		v, ok := r.m.Load(key)
		if !ok {
			name, err := r.nameOf(key)
			if err != nil {
				return nil, err
			}
			e := new(entry)
			e.made.Lock()
			if v, ok = r.m.LoadOrStore(key, e); !ok {
				return r.make(key, name, e)
			}
		}
		e := v.(*entry)
		switch e.state.Load() {
		case creating:
			e.waitMade()
			if e.err != nil {
				return nil, e.err
			}
		case live:
			if b := e.acquire(); b != nil {
				return b, nil
			}
		case evicting:
			runtime.Gosched() // its evictor deletes it, or puts it back
		case gone:
			r.m.CompareAndDelete(key, e) // its evictor is about to
		}
	}
}

// nameOf returns the breaker name of key, or a *KeyError.
func (r *Registry) nameOf(key string) (string, error) {
	name := key
	if r.cfg.name != nil {
		name = r.cfg.name(key)
	}
	if err := events.CheckName(name); err != nil {
		return "", &KeyError{Key: cut(key), Len: len(key), Named: r.cfg.name != nil, Err: err}
	}
	return name, nil
}

// make makes the breaker of key's new entry e, which the caller stored
// with e.made locked: it joins the makers (unless Close came first), takes
// a place for the breaker (evicting if the registry is full), makes it,
// and publishes it.
//
// If making it panics (a BreakerObserver's ObserveBreaker, a journal's
// reads under machine.WithFollow: machine.New does not recover those), or
// exits the goroutine, the entry is forgotten with an error for the callers
// waiting for it, its place is given back, and the panic goes on to the
// caller: no key is left locked, and its next Get tries again.
func (r *Registry) make(key, name string, e *entry) (*machine.Breaker, error) {
	if !r.startMaking() {
		return nil, r.unmake(key, e, ErrClosed)
	}
	defer r.doneMaking()
	pending := true // e.made is still locked, and e unsettled
	held := false   // this maker holds a place in n
	defer func() {
		if !pending {
			return
		}
		v := recover()
		if held {
			r.n.Add(-1)
		}
		err := fmt.Errorf("circuitry: registry key %q: making its breaker panicked: %v", key, v)
		if v == nil {
			err = fmt.Errorf("circuitry: registry key %q: making its breaker exited its goroutine", key)
		}
		r.unmake(key, e, err)
		if v != nil {
			panic(v)
		}
	}()
	if !r.reserve() {
		pending = false
		return nil, r.unmake(key, e, &FullError{Key: cut(key), MaxKeys: r.cfg.maxKeys})
	}
	held = true
	b, err := machine.New(name, r.cfg.breaker...)
	if err != nil {
		r.n.Add(-1)
		held = false
		pending = false
		return nil, r.unmake(key, e, fmt.Errorf("circuitry: registry key %q: %w", key, err))
	}
	e.b = b
	e.used.Store(true)
	if !e.state.CompareAndSwap(creating, live) {
		// Close claimed the entry: it gave up waiting for this maker, its
		// ctx done. The place goes back with the breaker closed.
		held = false
		r.closeOwn(b)
		pending = false
		return nil, r.unmake(key, e, ErrClosed)
	}
	pending = false
	e.made.Unlock()
	// Close, once called, waits for this maker before it takes the live
	// entries: it takes this one, and closes its breaker.
	if r.closed() {
		return nil, ErrClosed
	}
	return b, nil
}

// unmake forgets key's entry e, whose breaker could not be made, with err
// for the callers waiting for it, and lets them go. It returns err.
func (r *Registry) unmake(key string, e *entry, err error) error {
	e.err = err
	e.state.Store(gone)
	r.m.CompareAndDelete(key, e)
	e.made.Unlock()
	return err
}

// closedBit is set in makers by Close.
const closedBit = 1 << 62

// closed reports whether Close was called.
func (r *Registry) closed() bool { return r.makers.Load()&closedBit != 0 }

// startMaking joins the makers, unless Close was called: it reports
// whether it did.
func (r *Registry) startMaking() bool {
	for {
		n := r.makers.Load()
		if n&closedBit != 0 {
			return false
		}
		if r.makers.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// doneMaking leaves the makers; the last to leave after Close was called
// lets Close go on.
func (r *Registry) doneMaking() {
	if r.makers.Add(-1) == closedBit {
		close(r.drained)
	}
}

// closeOwn closes a breaker the registry made and no longer holds, and
// gives back its place.
func (r *Registry) closeOwn(b *machine.Breaker) {
	ctx, cancel := context.WithTimeout(context.Background(), EvictCloseTimeout)
	defer cancel()
	defer r.n.Add(-1)
	if err := b.Close(ctx); err != nil {
		r.report(fmt.Errorf("circuitry: registry: closing breaker %q: %w", b.Name(), err))
	}
}

// reserve takes a place for a new breaker, evicting if the registry is
// full, and reports whether it got one.
func (r *Registry) reserve() bool {
	for {
		n := r.n.Load()
		if n < int64(r.cfg.maxKeys) {
			if r.n.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		if !r.evictForRoom() {
			return false
		}
	}
}

// Lookup returns the breaker of key if the registry holds one, without
// making it and without counting as a use: for inspection, such as an
// admin page. Like Get, it never returns a breaker the registry has started
// to evict or close; as it does not count as a use, a sweep may evict that
// breaker right after.
func (r *Registry) Lookup(key string) (*machine.Breaker, bool) {
	v, ok := r.m.Load(key)
	if !ok {
		return nil, false
	}
	e := v.(*entry)
	if e.state.Load() != live {
		return nil, false
	}
	return e.b, true
}

// Len returns how many breakers the registry holds: at most its
// [WithMaxKeys], counting those being made and those being closed.
func (r *Registry) Len() int { return int(r.n.Load()) }

// Keys returns the keys of the breakers the registry holds, in no order.
func (r *Registry) Keys() []string {
	var keys []string
	r.m.Range(func(k, v any) bool {
		if v.(*entry).state.Load() == live {
			keys = append(keys, k.(string))
		}
		return true
	})
	return keys
}

// Do calls fn through the breaker of key, as [machine.Breaker.Do] does,
// making the breaker on first use. If the breaker it found was closed
// before it admitted the call (evicted meanwhile, or closed by its holder),
// it forgets it and tries again with a new one: Do returns
// machine.ErrClosed only if fn itself does. It returns Get's errors, and
// fn's error or the breaker's rejection (matching machine.ErrOpen). A nil
// fn returns machine.ErrNilFunc and a nil ctx machine.ErrNilContext,
// before any breaker is made.
func (r *Registry) Do(ctx context.Context, key string, fn func(context.Context) error) error {
	if fn == nil {
		return machine.ErrNilFunc
	}
	if ctx == nil {
		return machine.ErrNilContext
	}
	for attempt := 0; ; attempt++ {
		b, err := r.Get(key)
		if err != nil {
			return err
		}
		called := false
		err = b.Do(ctx, func(ctx context.Context) error {
			called = true
			return fn(ctx)
		})
		if called || !errors.Is(err, machine.ErrClosed) || attempt == maxAttempts {
			return err
		}
		r.retire(key, b)
	}
}

// maxAttempts bounds how often Do and Execute try again with a new
// breaker. A new breaker is marked used, so that no sweep evicts it before
// the next one; only a holder closing breakers as fast as they are made
// exhausts it.
const maxAttempts = 8

// Execute is [Registry.Do] for a function that returns a value, as
// [machine.Execute] is for a breaker.
func Execute[T any](ctx context.Context, r *Registry, key string, fn func(context.Context) (T, error)) (T, error) {
	var v T
	if fn == nil {
		return v, machine.ErrNilFunc
	}
	err := r.Do(ctx, key, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}

// retire forgets key's entry if it still holds b, which was found closed:
// closed by its holder rather than evicted, as an evicted entry is no
// longer live.
func (r *Registry) retire(key string, b *machine.Breaker) {
	v, ok := r.m.Load(key)
	if !ok {
		return
	}
	if e := v.(*entry); e.b == b && e.state.CompareAndSwap(live, gone) {
		r.m.CompareAndDelete(key, e)
		r.n.Add(-1)
	}
}

// Remove closes the breaker of key, whatever its state, and forgets it:
// the key's next use makes a new one, which resumes from the journal when
// the breakers share one. It returns the breaker's Close error, and nil
// when the registry holds no breaker for key.
func (r *Registry) Remove(ctx context.Context, key string) error {
	if ctx == nil {
		return machine.ErrNilContext
	}
	v, ok := r.m.Load(key)
	if !ok {
		return nil
	}
	e := v.(*entry)
	e.waitMade()
	r.sweepMu.Lock()
	claimed := e.state.CompareAndSwap(live, gone)
	if claimed {
		r.m.CompareAndDelete(key, e)
	}
	r.sweepMu.Unlock()
	if !claimed {
		return nil
	}
	defer r.n.Add(-1)
	return e.b.Close(ctx)
}

// Close stops the sweeper, waits for the breakers being made (each
// machine.New: its journal load, its observers' registration), closes
// every breaker the registry holds ([machine.Breaker.Close], each within
// ctx) and forgets them, and waits for the breakers the sweeper is
// closing. Afterwards Get, Do and Execute return [ErrClosed], Len is 0 and
// no breaker is made: what the breakers share (a journal's connection, a
// meter provider) may be shut down. It returns the breakers' Close errors,
// joined.
//
// If ctx is done before the breakers being made are, Close stops waiting
// for them and returns an error matching ctx's: each of them is then
// closed by its maker as soon as made (within [EvictCloseTimeout], an
// error going to [WithErrorHandler]'s handler), and gives back its place
// then. Close may be called again; a later call has nothing left to close,
// but waits for the breakers still being made as the first did.
func (r *Registry) Close(ctx context.Context) error {
	if ctx == nil {
		return machine.ErrNilContext
	}
	if r.makers.Or(closedBit) == 0 { // no maker to wait for, and the first Close
		close(r.drained)
	}
	var errs []error
	select {
	case <-r.drained:
	default:
		select {
		case <-r.drained:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("circuitry: registry: Close stopped waiting for the breakers being made: %w", context.Cause(ctx)))
		}
	}
	r.sweepMu.Lock()
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	var held []*machine.Breaker
	r.m.Range(func(k, v any) bool {
		e := v.(*entry)
		// Under sweepMu no evictor runs: an entry is being made (by a
		// maker Close stopped waiting for, or one that came too late to
		// join), live, or gone already.
		if e.state.CompareAndSwap(creating, gone) { // its maker closes what it makes
			r.m.CompareAndDelete(k, e)
		} else if e.state.CompareAndSwap(live, gone) {
			r.m.CompareAndDelete(k, e)
			held = append(held, e.b)
		}
		return true
	})
	r.sweepMu.Unlock()
	for _, b := range held {
		if err := b.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		r.n.Add(-1)
	}
	r.closing.Wait()
	return errors.Join(errs...)
}

// report hands err to the error handler.
func (r *Registry) report(err error) {
	if r.cfg.onError == nil {
		slog.Default().Error("circuitry: registry error", "error", err)
		return
	}
	defer func() { _ = recover() }() // a panicking handler must not break the sweeper
	r.cfg.onError(err)
}
