package otelbridge

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// PolicyPrefix starts the names of the policy figure gauges: PolicyPrefix +
// the name of a field of the reason (events.Field.Name), the same name that
// follows [ReasonPrefix] on a transition span event. Each gauge reports,
// for every trip policy of an observed breaker (machine.Breaker.Policies),
// the figure the reason of its trip would carry now, with [KeyPolicy]: how
// close the breaker is to tripping.
const PolicyPrefix = "circuitry.breaker.policy."

// The policy figure gauges.
const (
	// PolicyFailuresName is the failures a policy counts now: in a row
	// for consecutive_failures, in the window for the others.
	PolicyFailuresName = PolicyPrefix + "failures"
	// PolicyThresholdName is the failures in a row that trip
	// (consecutive_failures only).
	PolicyThresholdName = PolicyPrefix + "threshold"
	// PolicyCallsName is the calls in a window policy's window.
	PolicyCallsName = PolicyPrefix + "calls"
	// PolicySlowName is the slow calls in a window policy's window.
	PolicySlowName = PolicyPrefix + "slow"
	// PolicyRateName is the rate a rate policy computes now, in percent
	// (failures, or slow calls, per 100 calls in its window), and -1 while
	// its window holds fewer than its minimum calls, as resilience4j
	// reports it.
	PolicyRateName = PolicyPrefix + "rate"
	// PolicyRateThresholdName is the rate at or above which a rate policy
	// trips, in percent.
	PolicyRateThresholdName = PolicyPrefix + "rate_threshold"
	// PolicyMinCallsName is the fewest calls in its window for which a
	// rate policy computes a rate.
	PolicyMinCallsName = PolicyPrefix + "min_calls"
)

// KeyPolicy names the trip policy of a policy figure gauge point: the
// reason's policy name (consecutive_failures, failure_rate, slow_call_rate,
// or a custom policy's name). When a breaker has two policies of one name,
// the first is reported.
const KeyPolicy = attribute.Key("circuitry.breaker.policy")

// The kinds of trip policy, by the figures their reasons carry.
const (
	consecutivePolicy uint8 = 1 << iota // failures in a row and the threshold
	windowPolicy                        // a custom policy: the window's counts
	ratePolicy                          // a rate policy: the window's counts and the rate
)

// figure is one policy figure gauge: the reason's field it reports, its
// unit and description, and the kinds of policy that have it. A count is
// an int64 gauge, a percent a float64 one.
type figure struct {
	field string // events.Field.Name
	kind  events.FieldKind
	unit  string
	desc  string
	of    uint8
}

// figures are the policy figure gauges, each a field of the reason.
var figures = []figure{
	{"failures", events.KindCount, "{call}", "Failures a trip policy counts now: in a row for consecutive_failures, in the window for the others.", consecutivePolicy | windowPolicy | ratePolicy},
	{"threshold", events.KindCount, "{call}", "Failures in a row that trip the consecutive_failures policy.", consecutivePolicy},
	{"calls", events.KindCount, "{call}", "Calls in a trip policy's window.", windowPolicy | ratePolicy},
	{"slow", events.KindCount, "{call}", "Slow calls in a trip policy's window.", windowPolicy | ratePolicy},
	{"rate", events.KindPercent, "%", "The rate a trip policy computes now, in percent; -1 below its minimum calls.", ratePolicy},
	{"rate_threshold", events.KindPercent, "%", "The rate at or above which a trip policy trips, in percent.", ratePolicy},
	{"min_calls", events.KindCount, "{call}", "The fewest calls in its window for which a trip policy computes a rate.", ratePolicy},
}

// gauge is a figure's instrument: ints holds a count's, floats a percent's.
type gauge struct {
	ints   metric.Int64ObservableGauge
	floats metric.Float64ObservableGauge
}

// figureGauges creates the policy figure gauges, in the order of figures.
func (b *Bridge) figureGauges() ([]gauge, error) {
	gs := make([]gauge, len(figures))
	var errs error
	for i, f := range figures {
		var err error
		opts := []metric.InstrumentOption{metric.WithUnit(f.unit), metric.WithDescription(f.desc)}
		if f.kind == events.KindPercent {
			gs[i].floats, err = b.meter.Float64ObservableGauge(PolicyPrefix+f.field, floatOpts(opts)...)
		} else {
			gs[i].ints, err = b.meter.Int64ObservableGauge(PolicyPrefix+f.field, intOpts(opts)...)
		}
		errs = errors.Join(errs, err)
	}
	return gs, errs
}

func floatOpts(opts []metric.InstrumentOption) []metric.Float64ObservableGaugeOption {
	out := make([]metric.Float64ObservableGaugeOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

func intOpts(opts []metric.InstrumentOption) []metric.Int64ObservableGaugeOption {
	out := make([]metric.Int64ObservableGaugeOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

// observables returns the instruments of gs that exist, for a callback's
// registration.
func observables(gs []gauge) []metric.Observable {
	var out []metric.Observable
	for _, g := range gs {
		switch {
		case g.ints != nil:
			out = append(out, g.ints)
		case g.floats != nil:
			out = append(out, g.floats)
		}
	}
	return out
}

// policyKind returns the kind of a policy from what it sees.
func policyKind(pc machine.PolicyCounts) uint8 {
	switch {
	case pc.Policy == events.PolicyConsecutiveFailures && pc.Figures.Threshold != 0:
		return consecutivePolicy
	case pc.Figures.RateThreshold != 0:
		return ratePolicy
	}
	return windowPolicy
}

// observedPolicy is one trip policy of an observed breaker: its index in
// Breaker.Policies, and the attribute set of each figure it reports (nil
// for the others).
type observedPolicy struct {
	index int
	sets  []metric.ObserveOption
}

// observePolicies builds the attribute sets of br's policies, from what
// they see when it is first observed; a policy named like an earlier one is
// left out.
func (b *Bridge) observePolicies(br *machine.Breaker, name attribute.KeyValue) []observedPolicy {
	var out []observedPolicy
	seen := map[string]bool{}
	for i, pc := range br.Policies() {
		if seen[pc.Policy] {
			continue
		}
		seen[pc.Policy] = true
		kind := policyKind(pc)
		set := metric.WithAttributeSet(attribute.NewSet(b.attrs(name, KeyPolicy.String(pc.Policy))...))
		op := observedPolicy{index: i, sets: make([]metric.ObserveOption, len(figures))}
		for j, f := range figures {
			if f.of&kind != 0 {
				op.sets[j] = set
			}
		}
		out = append(out, op)
	}
	return out
}

// observeFigures reports the figures of o's policies.
func (b *Bridge) observeFigures(ob metric.Observer, o *observed) {
	if len(o.policies) == 0 {
		return
	}
	ps := o.b.Policies()
	for _, op := range o.policies {
		if op.index >= len(ps) {
			continue // not reached: a breaker's policies are fixed
		}
		pc := ps[op.index]
		vals := make([]events.Field, len(figures)) // by figure index
		for f := range pc.Figures.Fields() {
			for j := range figures {
				if figures[j].field == f.Name {
					vals[j] = f
				}
			}
		}
		for j, f := range figures {
			set := op.sets[j]
			if set == nil {
				continue
			}
			g := b.figures[j]
			switch {
			case g.floats != nil:
				v := vals[j].Percent
				if f.field == "rate" && pc.Figures.Calls < pc.Figures.MinCalls {
					v = -1 // no rate below the minimum calls
				}
				ob.ObserveFloat64(g.floats, v, set)
			case g.ints != nil:
				ob.ObserveInt64(g.ints, int64(vals[j].Count), set)
			}
		}
	}
}
