package otelbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// Registration undoes an [Bridge.Observe].
type Registration struct {
	once     sync.Once
	reg      metric.Registration
	err      error
	bridge   *Bridge
	breakers []*machine.Breaker
}

// Unregister stops the collection of the observed breakers' call counts,
// state and error counts, so that a removed breaker leaks no callback. It is
// safe to call more than once; later calls return the first call's result.
func (r *Registration) Unregister() error {
	r.once.Do(func() {
		r.err = r.reg.Unregister()
		r.bridge.forget(r.breakers)
	})
	return r.err
}

// claim marks breakers as observed by this bridge, refusing any that is
// already: its streams would be reported twice.
func (b *Bridge) claim(breakers []*machine.Breaker) error {
	b.omu.Lock()
	defer b.omu.Unlock()
	for _, br := range breakers {
		if b.observing[br] {
			return fmt.Errorf("circuitry: Observe: breaker %q is observed by this bridge already (a breaker that has the bridge as a subscriber is observed from New until Close)", br.Name())
		}
	}
	if b.observing == nil {
		b.observing = make(map[*machine.Breaker]bool)
	}
	for _, br := range breakers {
		b.observing[br] = true
	}
	return nil
}

func (b *Bridge) forget(breakers []*machine.Breaker) {
	b.omu.Lock()
	defer b.omu.Unlock()
	for _, br := range breakers {
		delete(b.observing, br)
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
func (b *Bridge) Observe(breakers ...*machine.Breaker) (*Registration, error) {
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
	if err := b.claim(breakers); err != nil {
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
		b.forget(breakers)
		return nil, fmt.Errorf("circuitry: Observe: %w", err)
	}
	return &Registration{reg: reg, bridge: b, breakers: breakers}, nil
}

// ObserveBreaker registers b as [Bridge.Observe] does, and returns the
// Unregister of the registration. A breaker calls it when the bridge is
// one of its subscribers ([machine.BreakerObserver]), and calls the
// function it returned at Close: giving the bridge to
// machine.WithSubscribers is the one step that wires a breaker's span
// events, transitions and the call, state and error metrics. Do not also
// call Observe for such a breaker, or its streams are reported twice.
//
// ObserveBreaker also creates, at zero, the breaker's streams of the
// transitions counter (one for every legal transition, events.Table) and of
// the fallbacks counter (each trigger and result), so that a query over a
// range (Prometheus' increase or rate) sees the first transition and the
// first fallback: a stream born at 1 is a first sample, not an increase.
func (b *Bridge) ObserveBreaker(br *machine.Breaker) (func() error, error) {
	reg, err := b.Observe(br)
	if err != nil {
		return nil, err
	}
	b.zeroStreams(br.Name())
	return reg.Unregister, nil
}

// zeroStreams adds 0 to every stream of the transitions and fallbacks
// counters of the named breaker.
func (b *Bridge) zeroStreams(breaker string) {
	ctx := context.Background()
	name := KeyName.String(breaker)
	if b.transitions != nil {
		for _, e := range events.Table() {
			b.transitions.Add(ctx, 0, metric.WithAttributes(b.attrs(name,
				KeyFrom.String(e.From.String()), KeyTo.String(e.To.String()), KeyEvent.String(e.Event.String()))...))
		}
	}
	if b.fallbacks != nil {
		for _, trigger := range []string{FallbackTriggerRejected, FallbackTriggerFailure} {
			for _, result := range []string{FallbackResultServed, FallbackResultFailed} {
				b.fallbacks.Add(ctx, 0, metric.WithAttributes(b.attrs(name, KeyFallbackTrigger.String(trigger), KeyFallbackResult.String(result))...))
			}
		}
	}
}

var _ machine.BreakerObserver = (*Bridge)(nil)
