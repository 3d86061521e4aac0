package otelbridge

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/circuitry-go/circuitry/events"
)

// edges are the legal transitions, in events.Table order: the index of a
// transition's stream in a tally.
var edges = events.Table()

// edgeIndex returns the index in edges of the transition, -1 for one the
// table does not hold.
func edgeIndex(t *events.Transition) int {
	for i, e := range edges {
		if e.From == t.From && e.To == t.To && e.Event == t.Event {
			return i
		}
	}
	return -1
}

// numFallbacks is the number of fallback streams of a breaker: each
// trigger with each result.
const numFallbacks = 4

// fallbackIndex returns the index of a fallback's stream in a tally:
// rejected before failure, served before failed.
func fallbackIndex(rejected, failed bool) int {
	i := 0
	if !rejected {
		i = 2
	}
	if failed {
		i++
	}
	return i
}

// tally holds the transitions and fallbacks the bridge counted for the
// breakers of one name that it observes, read by the observable
// transitions and fallbacks counters. A tally lives while at least one
// breaker of its name is observed: the last Close or Unregister drops it,
// and its streams end at the next collection, so that a breaker that comes
// and goes (a registry's evicted key) leaves no stream behind.
type tally struct {
	observers  int          // guarded by Bridge.omu: the observed breakers of this name
	subscribed atomic.Int32 // of those, observed through ObserveBreaker: every stream is reported, 0s included

	transitions []atomic.Int64 // by index in edges
	fallbacks   [numFallbacks]atomic.Int64
	tattrs      []metric.ObserveOption // the transitions' attribute sets, by index in edges
	fattrs      [numFallbacks]metric.ObserveOption
}

func (b *Bridge) newTally(breaker string) *tally {
	name := KeyName.String(breaker)
	t := &tally{
		transitions: make([]atomic.Int64, len(edges)),
		tattrs:      make([]metric.ObserveOption, len(edges)),
	}
	for i, e := range edges {
		t.tattrs[i] = metric.WithAttributeSet(attribute.NewSet(b.attrs(name,
			KeyFrom.String(e.From.String()), KeyTo.String(e.To.String()), KeyEvent.String(e.Event.String()))...))
	}
	for _, rejected := range []bool{true, false} {
		trigger := FallbackTriggerFailure
		if rejected {
			trigger = FallbackTriggerRejected
		}
		for _, failed := range []bool{false, true} {
			result := FallbackResultServed
			if failed {
				result = FallbackResultFailed
			}
			t.fattrs[fallbackIndex(rejected, failed)] = metric.WithAttributeSet(attribute.NewSet(b.attrs(name,
				KeyFallbackTrigger.String(trigger), KeyFallbackResult.String(result))...))
		}
	}
	return t
}

// tallyOf returns the tally of the named breaker, nil when the bridge
// observes no breaker of that name.
func (b *Bridge) tallyOf(breaker string) *tally {
	if v, ok := b.tallies.Load(breaker); ok {
		return v.(*tally)
	}
	return nil
}

// countLocked records that a breaker of the given name is observed
// (through ObserveBreaker when subscribed), making the name's tally for the
// first. b.omu is held.
func (b *Bridge) countLocked(breaker string, subscribed bool) {
	t := b.tallyOf(breaker)
	if t == nil {
		t = b.newTally(breaker)
		b.tallies.Store(breaker, t)
	}
	t.observers++
	if subscribed {
		t.subscribed.Add(1)
	}
}

// uncountLocked undoes countLocked, dropping the tally with the last
// observed breaker of its name. b.omu is held.
func (b *Bridge) uncountLocked(breaker string, subscribed bool) {
	t := b.tallyOf(breaker)
	if t == nil {
		return
	}
	if subscribed {
		t.subscribed.Add(-1)
	}
	if t.observers--; t.observers <= 0 {
		b.tallies.Delete(breaker)
	}
}

// observeTallies is the callback of the transitions and fallbacks
// counters. A name observed through ObserveBreaker reports all its
// streams, 0s included, so that a range query sees the first transition; a
// name observed only through Observe, which may not have the bridge as a
// subscriber, reports only the streams that counted something, rather than
// 0s that would say nothing happened.
func (b *Bridge) observeTallies(_ context.Context, ob metric.Observer) error {
	b.tallies.Range(func(_, v any) bool {
		t := v.(*tally)
		all := t.subscribed.Load() > 0
		for i := range t.transitions {
			if n := t.transitions[i].Load(); b.transitions != nil && (n != 0 || all) {
				ob.ObserveInt64(b.transitions, n, t.tattrs[i])
			}
		}
		for i := range t.fallbacks {
			if n := t.fallbacks[i].Load(); b.fallbacks != nil && (n != 0 || all) {
				ob.ObserveInt64(b.fallbacks, n, t.fattrs[i])
			}
		}
		return true
	})
	return nil
}
