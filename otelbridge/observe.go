package otelbridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// Registration undoes an [Bridge.Observe].
type Registration struct {
	once       sync.Once
	reg        metric.Registration
	err        error
	bridge     *Bridge
	breakers   []*machine.Breaker
	subscribed bool // made by ObserveBreaker
}

// Unregister stops the collection of the observed breakers' call counts,
// state, error counts, transitions and fallbacks, so that a removed breaker
// leaks no callback and no stream. It is safe to call more than once; later
// calls return the first call's result.
func (r *Registration) Unregister() error {
	r.once.Do(func() {
		r.err = r.reg.Unregister()
		r.bridge.forget(r.breakers, r.subscribed)
	})
	return r.err
}

// claim marks breakers as observed by this bridge, refusing any that is
// already: its streams would be reported twice. It makes the tallies that
// count their transitions and fallbacks.
func (b *Bridge) claim(breakers []*machine.Breaker, subscribed bool) error {
	b.omu.Lock()
	defer b.omu.Unlock()
	for i, br := range breakers {
		if b.observing[br] {
			return fmt.Errorf("circuitry: Observe: breaker %q is observed by this bridge already (a breaker that has the bridge as a subscriber is observed from New until Close)", br.Name())
		}
		if slices.Contains(breakers[:i], br) {
			return fmt.Errorf("circuitry: Observe: breaker %q is given twice", br.Name())
		}
	}
	if b.observing == nil {
		b.observing = make(map[*machine.Breaker]bool)
	}
	for _, br := range breakers {
		b.observing[br] = true
		b.countLocked(br.Name(), subscribed)
	}
	return nil
}

func (b *Bridge) forget(breakers []*machine.Breaker, subscribed bool) {
	b.omu.Lock()
	defer b.omu.Unlock()
	for _, br := range breakers {
		delete(b.observing, br)
		b.uncountLocked(br.Name(), subscribed)
	}
}

// observed holds a breaker and its attribute sets, built once.
type observed struct {
	b        *machine.Breaker
	states   [2][events.NumStates]metric.ObserveOption // by forced (0: no, 1: yes), then state
	policies []observedPolicy
	outcome  [4]metric.ObserveOption // success, failure, ignored, rejected
	journal  metric.ObserveOption
	subErrs  [2]metric.ObserveOption // panic, queue_full
}

// Observe registers the breakers with the circuitry.breaker.calls,
// circuitry.breaker.state, circuitry.breaker.journal.errors,
// circuitry.breaker.subscriber.errors and policy figure
// (circuitry.breaker.policy.*) observable instruments: at each collection
// the bridge reads each breaker's cumulative counters
// ([machine.Breaker.Counts]), its fold ([machine.Breaker.Snapshot]) and
// what its trip policies see ([machine.Breaker.Policies]), so the calls
// themselves pay nothing. The state points also carry the breaker's mode
// (circuitry.breaker.mode: enforcing or observe_only), so that a dashboard
// tells an open breaker that rejects from one that would, and whether an
// operator set the current state (circuitry.breaker.forced), so that it
// tells a forced-open breaker from a tripped one. The error counters report
// the failures the breaker otherwise only sends to its error handler:
// journal appends that failed, and subscriber panics and queue overflows
// (error.type panic or queue_full). Undo it with [Registration.Unregister].
// A breaker that has the bridge as a subscriber is observed already, from
// New until Close (see [Bridge.ObserveBreaker]); Observe refuses it, and any
// breaker another registration of this bridge observes, since its streams
// would be reported twice.
//
// While it is observed, the transitions ([Bridge.Notify]) and fallbacks
// ([Bridge.FallbackDone]) the bridge hears of for a breaker of that name
// are counted, for the circuitry.breaker.transitions and
// circuitry.breaker.fallbacks observable counters; they are heard of only
// when the bridge is also a subscriber of the breaker, through a wrapper
// that hides ObserveBreaker for instance. Unlike ObserveBreaker, Observe
// does not report those streams at 0: each appears once it counted one,
// since a breaker the bridge does not subscribe to would otherwise report
// 0s that say nothing happened. Unregister ends them with the rest.
func (b *Bridge) Observe(breakers ...*machine.Breaker) (*Registration, error) {
	return b.observe(false, breakers)
}

// observe is Observe; subscribed says that the breaker has the bridge as a
// subscriber (ObserveBreaker), so that its transitions and fallbacks
// streams are reported from the start, at 0.
func (b *Bridge) observe(subscribed bool, breakers []*machine.Breaker) (*Registration, error) {
	if len(breakers) == 0 {
		return nil, errors.New("circuitry: Observe: no breakers given")
	}
	obs := make([]observed, len(breakers))
	for i, br := range breakers {
		if br == nil {
			return nil, fmt.Errorf("circuitry: Observe: breaker %d is nil", i)
		}
		name := KeyName.String(br.Name())
		o := observed{b: br}
		for f, forced := range []bool{false, true} {
			for _, s := range events.States() {
				o.states[f][s] = metric.WithAttributeSet(attribute.NewSet(b.attrs(name, KeyState.String(s.String()), KeyMode.String(br.Mode().String()), KeyForced.Bool(forced))...))
			}
		}
		o.policies = b.observePolicies(br, name)
		for i, out := range []string{machine.Success.String(), machine.Failure.String(), machine.Ignored.String(), OutcomeRejected} {
			o.outcome[i] = metric.WithAttributeSet(attribute.NewSet(b.attrs(name, KeyOutcome.String(out))...))
		}
		o.journal = metric.WithAttributeSet(attribute.NewSet(b.attrs(name)...))
		for i, typ := range []string{ErrorTypePanic, ErrorTypeQueueFull} {
			o.subErrs[i] = metric.WithAttributeSet(attribute.NewSet(b.attrs(name, KeyErrorType.String(typ))...))
		}
		obs[i] = o
	}
	if err := b.claim(breakers, subscribed); err != nil {
		return nil, err
	}
	reg, err := b.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		for i := range obs {
			o := &obs[i]
			snap := o.b.Snapshot()
			forced := 0
			if snap.Event.Manual() {
				forced = 1
			}
			for _, s := range events.States() {
				v := int64(0)
				if s == snap.State {
					v = 1
				}
				ob.ObserveInt64(b.state, v, o.states[forced][s])
			}
			b.observeFigures(ob, o)
			c := o.b.Counts()
			ob.ObserveInt64(b.calls, int64(c.Successes), o.outcome[0])
			ob.ObserveInt64(b.calls, int64(c.Failures), o.outcome[1])
			ob.ObserveInt64(b.calls, int64(c.Ignored), o.outcome[2])
			ob.ObserveInt64(b.calls, int64(c.Rejected), o.outcome[3])
			ob.ObserveInt64(b.journalErrors, int64(c.JournalErrors), o.journal)
			ob.ObserveInt64(b.subscriberErrors, int64(c.SubscriberPanics), o.subErrs[0])
			ob.ObserveInt64(b.subscriberErrors, int64(c.QueueDropped), o.subErrs[1])
		}
		return nil
	}, append([]metric.Observable{b.calls, b.state, b.journalErrors, b.subscriberErrors}, observables(b.figures)...)...)
	if err != nil {
		b.forget(breakers, subscribed)
		return nil, fmt.Errorf("circuitry: Observe: %w", err)
	}
	return &Registration{reg: reg, bridge: b, breakers: breakers, subscribed: subscribed}, nil
}

// ObserveBreaker registers b as [Bridge.Observe] does, and returns the
// Unregister of the registration. A breaker calls it when the bridge is
// one of its subscribers ([machine.BreakerObserver]), and calls the
// function it returned at Close: giving the bridge to
// machine.WithSubscribers is the one step that wires a breaker's span
// events, transitions and the call, state and error metrics. Do not also
// call Observe for such a breaker, or its streams are reported twice.
//
// From ObserveBreaker until Close, the bridge counts the breaker's
// transitions and fallbacks itself, and reports them through the
// transitions and fallbacks observable counters: every stream of the
// breaker, one for every legal transition (events.Table) and one for each
// fallback trigger and result, starts at 0, so that a query over a range
// (Prometheus' increase or rate) sees the first transition and the first
// fallback (a stream born at 1 is a first sample, not an increase). Close
// ends the breaker's streams, so that breakers that come and go (a
// registry's evicted keys) do not pile up streams up to the SDK's
// cardinality limit. Breakers of one name share their streams.
func (b *Bridge) ObserveBreaker(br *machine.Breaker) (func() error, error) {
	reg, err := b.observe(true, []*machine.Breaker{br})
	if err != nil {
		return nil, err
	}
	return reg.Unregister, nil
}

var _ machine.BreakerObserver = (*Bridge)(nil)
