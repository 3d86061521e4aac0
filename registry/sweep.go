package registry

import (
	"context"
	"fmt"

	"github.com/circuitry-go/circuitry/machine"
)

// evicted is a breaker an eviction pass took from the registry, to be
// closed.
type evicted struct {
	key string
	b   *machine.Breaker
}

// sweep runs every idle timeout, on the registry's clock: it evicts the
// quiet breakers that were not used since the previous sweep, clears the
// used flag of the others, arms the next sweep, and closes what it
// evicted.
func (r *Registry) sweep() {
	r.sweepMu.Lock()
	if r.closed() {
		r.sweepMu.Unlock()
		return
	}
	r.round++
	out := r.evictLocked(true)
	r.timer = r.cfg.clock.AfterFunc(r.cfg.idle, r.sweep)
	r.closing.Add(1)
	r.sweepMu.Unlock()
	defer r.closing.Done()
	r.closeEvicted(out)
}

// evictForRoom evicts, for a full registry, the quiet breakers not used
// since the last sweep, and reports whether it evicted any. Without an
// idle timeout there is no sweep, and no breaker is ever unused since one.
func (r *Registry) evictForRoom() bool {
	if r.cfg.idle == 0 {
		return false
	}
	r.sweepMu.Lock()
	if r.closed() || r.fruitless == r.round+1 {
		r.sweepMu.Unlock()
		return false
	}
	out := r.evictLocked(false)
	if len(out) == 0 {
		r.fruitless = r.round + 1
	}
	r.closing.Add(1)
	r.sweepMu.Unlock()
	defer r.closing.Done()
	r.closeEvicted(out)
	return len(out) > 0
}

// evictLocked is one eviction pass, under sweepMu: it takes from the map
// every live entry not used since the last sweep whose breaker is quiet.
// A sweep (clear) clears the used marks it finds set, so that the next
// sweep sees which entries went unused for a whole round.
func (r *Registry) evictLocked(clear bool) []evicted {
	var out []evicted
	r.m.Range(func(k, v any) bool {
		if ev, ok := r.evictOne(k.(string), v.(*entry), clear); ok {
			out = append(out, ev)
		}
		return true
	})
	return out
}

// evictOne evicts key's entry e if it is live, unused since the last
// sweep and quiet; a sweep (clear) clears its used mark instead when set.
func (r *Registry) evictOne(key string, e *entry, clear bool) (evicted, bool) {
	if e.state.Load() != live {
		return evicted{}, false
	}
	if e.used.Load() {
		if clear {
			e.used.Store(false)
		}
		return evicted{}, false
	}
	if !e.state.CompareAndSwap(live, evicting) {
		return evicted{}, false
	}
	return r.evictClaimed(key, e)
}

// evictClaimed decides on key's entry e, which the caller moved to
// evicting: a Get that marked it used before that is seen here, and the
// entry goes back to live; one after sees evicting, and looks again. A
// breaker that is not quiet goes back to live too.
func (r *Registry) evictClaimed(key string, e *entry) (evicted, bool) {
	if e.used.Load() || !e.b.Quiet() {
		e.state.Store(live)
		return evicted{}, false
	}
	r.m.CompareAndDelete(key, e)
	e.state.Store(gone)
	return evicted{key, e.b}, true
}

// closeEvicted closes the breakers a pass evicted, within
// EvictCloseTimeout together, and gives back their places once each is
// closed, so that the registry never holds more open breakers than its
// bound.
func (r *Registry) closeEvicted(out []evicted) {
	if len(out) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), EvictCloseTimeout)
	defer cancel()
	for _, ev := range out {
		if err := ev.b.Close(ctx); err != nil {
			r.report(fmt.Errorf("circuitry: registry: closing the evicted breaker of key %q: %w", ev.key, err))
		}
		r.n.Add(-1)
	}
}
