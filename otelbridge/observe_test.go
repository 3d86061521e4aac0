package otelbridge_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// observedNames are the metrics that Observe registers.
var observedNames = []string{
	"circuitry.breaker.calls",
	"circuitry.breaker.state",
	"circuitry.breaker.journal.errors",
	"circuitry.breaker.subscriber.errors",
	"circuitry.breaker.policy.failures",
	"circuitry.breaker.policy.threshold",
	"circuitry.breaker.policy.calls",
	"circuitry.breaker.policy.slow",
	"circuitry.breaker.policy.rate",
	"circuitry.breaker.policy.rate_threshold",
	"circuitry.breaker.policy.min_calls",
}

// observedOnly keeps the metrics of sm that Observe registers.
func observedOnly(sm metricdata.ScopeMetrics) metricdata.ScopeMetrics {
	out := metricdata.ScopeMetrics{Scope: sm.Scope}
	for _, m := range sm.Metrics {
		if slices.Contains(observedNames, m.Name) {
			out.Metrics = append(out.Metrics, m)
		}
	}
	return out
}

// dataPoints counts the data points of the named metric in sm (0 when it is
// absent).
// unregisterAll undoes reg and checks that a collection then reports no
// data point of any instrument Observe registers; it returns that collection.
func unregisterAll(t *testing.T, r *rig, reg *otelbridge.Registration) metricdata.ScopeMetrics {
	t.Helper()
	if err := reg.Unregister(); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	sm := r.collect(t)
	for _, name := range observedNames {
		if n := dataPoints(t, sm, name); n != 0 {
			t.Errorf("%s: %d data points after Unregister, want 0", name, n)
		}
	}
	return sm
}

func dataPoints(t *testing.T, sm metricdata.ScopeMetrics, name string) int {
	t.Helper()
	m, ok := metricNamed(sm, name)
	if !ok {
		return 0
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		return len(d.DataPoints)
	case metricdata.Gauge[int64]:
		return len(d.DataPoints)
	}
	t.Fatalf("%s has data of type %T", name, m.Data)
	return 0
}

// TestUnregister checks that Unregister removes a registration's
// callbacks: later collections no longer report that breaker's calls, state
// and error counts, the other registration's streams carry on, a second
// Unregister returns nil, and once both are gone no call, state, error or
// transitions stream is reported: a's trip ends with its registration.
func TestUnregister(t *testing.T) {
	r := newRig(t, nil)
	a := r.newBreaker(t, "a", machine.WithFailureThreshold(1))
	b := r.newBreaker(t, "b")
	regA, err := r.bridge.Observe(a)
	if err != nil {
		t.Fatal(err)
	}
	regB, err := r.bridge.Observe(b)
	if err != nil {
		t.Fatal(err)
	}
	r.call(t, a, "a-1", failure) // trips a
	r.call(t, b, "b-1", success)

	steps := []struct {
		name        string
		do          func(t *testing.T)
		want        metricdata.ScopeMetrics
		transitions []metricdata.DataPoint[int64] // those of the breakers still observed
	}{
		{
			name: "both registered",
			do:   func(*testing.T) {},
			want: metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
				callsMetric(append(callPoints("a", 0, 1, 0, 0), callPoints("b", 1, 0, 0, 0)...)...),
				stateMetric(append(statePoints("a", events.Open), statePoints("b", events.Closed)...)...),
			}, append(noFaults("a", "b"), consecutiveMetrics(nil, consecutive{"a", 0, 1}, consecutive{"b", 0, 5})...)...)},
			transitions: []metricdata.DataPoint[int64]{transitionPoint("a", "closed", "open", "trip", 1)},
		},
		{
			name: "a unregistered",
			do: func(t *testing.T) {
				if err := regA.Unregister(); err != nil {
					t.Fatalf("Unregister: %v", err)
				}
				r.call(t, a, "a-2", rejected) // counted by a, but no longer reported
				r.call(t, b, "b-2", success)
			},
			want: metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
				callsMetric(callPoints("b", 2, 0, 0, 0)...),
				stateMetric(statePoints("b", events.Closed)...),
			}, idle("b")...)},
		},
		{
			name: "a unregistered twice",
			do: func(t *testing.T) {
				if err := regA.Unregister(); err != nil {
					t.Fatalf("second Unregister: %v", err)
				}
			},
			want: metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
				callsMetric(callPoints("b", 2, 0, 0, 0)...),
				stateMetric(statePoints("b", events.Closed)...),
			}, idle("b")...)},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			sm := r.collect(t)
			metricdatatest.AssertEqual(t, s.want, observedOnly(sm), metricdatatest.IgnoreTimestamp())
			if len(s.transitions) == 0 {
				if n := dataPoints(t, sm, otelbridge.TransitionsName); n != 0 {
					t.Errorf("%s: %d data points, want 0", otelbridge.TransitionsName, n)
				}
				return
			}
			metricdatatest.AssertEqual(t, transitionsMetric(s.transitions...), mustMetric(t, sm, otelbridge.TransitionsName), metricdatatest.IgnoreTimestamp())
		})
	}

	t.Run("both unregistered", func(t *testing.T) {
		sm := unregisterAll(t, r, regB)
		// The transitions streams end with the registration too.
		if n := dataPoints(t, sm, otelbridge.TransitionsName); n != 0 {
			t.Errorf("%s: %d data points after Unregister, want 0", otelbridge.TransitionsName, n)
		}
	})
	if c := a.Counts(); c.Rejected != 1 {
		t.Errorf("a counted %d rejections, want 1", c.Rejected)
	}
}

func mustMetric(t *testing.T, sm metricdata.ScopeMetrics, name string) metricdata.Metrics {
	t.Helper()
	m, ok := metricNamed(sm, name)
	if !ok {
		t.Fatalf("no %s metric", name)
	}
	return m
}

// TestManyBreakers checks that several breakers on one meter each report
// their own call, state and error streams, whether registered one at a time
// on one bridge, all at once, or through two bridges on one meter provider.
func TestManyBreakers(t *testing.T) {
	// Each breaker gets its own calls: a succeeds once; b trips on its
	// first failure and rejects twice; c succeeds three times and ignores
	// one call.
	script := map[string]func(t *testing.T, r *rig, b *machine.Breaker){
		"a": func(t *testing.T, r *rig, b *machine.Breaker) { r.call(t, b, "a", success) },
		"b": func(t *testing.T, r *rig, b *machine.Breaker) {
			r.call(t, b, "b-1", failure)
			r.call(t, b, "b-2", rejected)
			r.call(t, b, "b-3", rejected)
		},
		"c": func(t *testing.T, r *rig, b *machine.Breaker) {
			for _, o := range []string{success, success, ignored, success} {
				r.call(t, b, "c", o)
			}
		},
	}
	wantCalls := map[string][]metricdata.DataPoint[int64]{
		"a": callPoints("a", 1, 0, 0, 0),
		"b": callPoints("b", 0, 1, 0, 2),
		"c": callPoints("c", 3, 0, 1, 0),
	}
	wantState := map[string]events.State{"a": events.Closed, "b": events.Open, "c": events.Closed}

	for _, c := range []struct {
		name    string
		groups  [][]string // one Observe per group
		bridges bool       // one bridge per group, on one meter provider
	}{
		{name: "two registrations on one bridge", groups: [][]string{{"a"}, {"b"}}},
		{name: "one registration of three breakers", groups: [][]string{{"a", "b", "c"}}},
		{name: "two bridges on one meter provider", groups: [][]string{{"a", "c"}, {"b"}}, bridges: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			want := metricdata.ScopeMetrics{Scope: scope}
			var calls, states []metricdata.DataPoint[int64]
			var names []string
			for gi, group := range c.groups {
				bridge := r.bridge
				if c.bridges && gi > 0 {
					var err error
					bridge, err = otelbridge.New(otelbridge.WithMeterProvider(r.mp))
					if err != nil {
						t.Fatal(err)
					}
				}
				var brs []*machine.Breaker
				for _, name := range group {
					br, err := machine.New(name, machine.WithClock(r.clock), machine.WithSubscribers(observedApart{bridge}),
						machine.WithFailureThreshold(1))
					if err != nil {
						t.Fatal(err)
					}
					script[name](t, r, br)
					brs = append(brs, br)
					calls = append(calls, wantCalls[name]...)
					states = append(states, statePoints(name, wantState[name])...)
					names = append(names, name)
				}
				reg, err := bridge.Observe(brs...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = reg.Unregister() })
			}
			want.Metrics = append([]metricdata.Metrics{callsMetric(calls...), stateMetric(states...)}, idleAt(1, names...)...)
			metricdatatest.AssertEqual(t, want, observedOnly(r.collect(t)), metricdatatest.IgnoreTimestamp())
		})
	}
}

// TestObserveWithoutSubscribing checks that Observe alone, on a breaker the
// bridge is not subscribed to, reports its calls, state and error counts
// (but, being no subscriber, no transitions).
func TestObserveWithoutSubscribing(t *testing.T) {
	r := newRig(t, nil)
	b, err := machine.New("solo", machine.WithClock(r.clock), machine.WithFailureThreshold(1))
	if err != nil {
		t.Fatal(err)
	}
	r.observe(t, b)
	doCall(t, context.Background(), b, "trips", failure)
	want := metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
		callsMetric(callPoints("solo", 0, 1, 0, 0)...),
		stateMetric(statePoints("solo", events.Open)...),
	}, idleAt(1, "solo")...)}
	metricdatatest.AssertEqual(t, want, r.collect(t), metricdatatest.IgnoreTimestamp())
}

// TestOneStep: a breaker that has the bridge as a subscriber is observed
// from New, without Observe, and no longer once closed; Observe refuses it
// meanwhile, as its streams would be reported twice.
func TestOneStep(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	b, err := machine.New("payments", machine.WithClock(r.clock), machine.WithSubscribers(r.bridge))
	if err != nil {
		t.Fatal(err)
	}
	r.run(t, b, []step{{span: "c-1", outcome: success}, {span: "c-2", outcome: failure}})
	got, ok := metricNamed(r.collect(t), "circuitry.breaker.calls")
	if !ok {
		t.Fatal("no circuitry.breaker.calls metric for a breaker with the bridge as a subscriber")
	}
	metricdatatest.AssertEqual(t, callsMetric(callPoints("payments", 1, 1, 0, 0)...), got, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	if _, err := r.bridge.Observe(b); err == nil || !strings.Contains(err.Error(), "observed by this bridge already") {
		t.Fatalf("Observe of a breaker the bridge observes from New = %v, want a refusal", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := metricNamed(r.collect(t), "circuitry.breaker.calls"); ok && len(got.Data.(metricdata.Sum[int64]).DataPoints) > 0 {
		t.Fatalf("calls reported after Close: %+v", got)
	}
	reg, err := r.bridge.Observe(b) // closed, and no longer observed: allowed
	if err != nil {
		t.Fatalf("Observe after Close: %v", err)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
}
