package otelbridge_test

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// TestStateGaugeObserveOnly checks that the state gauge of a breaker that
// only observes says so on every point, next to an enforcing one.
func TestStateGaugeObserveOnly(t *testing.T) {
	r := newRig(t, nil)
	shadow := r.newBreaker(t, "shadow", machine.WithObserveOnly())
	live := r.newBreaker(t, "live")
	r.observe(t, shadow, live)
	r.run(t, shadow, []step{
		{span: "s-1", outcome: failure}, {span: "s-2", outcome: failure}, {span: "s-3", outcome: failure},
		{span: "s-4", outcome: failure}, {span: "s-5", outcome: failure}, // would trip
		{span: "s-6", outcome: success}, // runs all the same
	})
	got, ok := metricNamed(r.collect(t), "circuitry.breaker.state")
	if !ok {
		t.Fatal("no circuitry.breaker.state metric")
	}
	want := stateMetric(append(modeStatePoints("shadow", "observe_only", events.Open), statePoints("live", events.Closed)...)...)
	metricdatatest.AssertEqual(t, want, got, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestTransitionSpanEventFigures checks that the span event of a trip by a
// window policy carries the window's figures, and that of a breaker that
// only observes its mode.
func TestTransitionSpanEventFigures(t *testing.T) {
	// figures are a window policy's figures that are set: calls, slow (when
	// any), rate, rate threshold and min calls.
	figures := func(calls, slow int64, rate, threshold float64, minCalls int64) []attribute.KeyValue {
		kvs := []attribute.KeyValue{attribute.Int64("circuitry.breaker.reason.calls", calls)}
		if slow != 0 {
			kvs = append(kvs, attribute.Int64("circuitry.breaker.reason.slow", slow))
		}
		if rate != 0 {
			kvs = append(kvs, attribute.Float64("circuitry.breaker.reason.rate", rate),
				attribute.Float64("circuitry.breaker.reason.rate_threshold", threshold),
				attribute.Int64("circuitry.breaker.reason.min_calls", minCalls))
		}
		return kvs
	}
	with := func(e wantEvent, kvs ...attribute.KeyValue) wantEvent {
		e.attrs = append(e.attrs, kvs...)
		return e
	}
	script := []step{
		{span: "c-1", outcome: success}, {span: "c-2", outcome: failure},
		{span: "c-3", outcome: success}, {span: "c-4", outcome: failure}, // 2 of 4
	}
	cases := []struct {
		name string
		opts []machine.Option
		want map[string][]wantEvent
	}{
		{
			name: "failure rate",
			opts: []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 4, machine.LastCalls(4)))},
			want: map[string][]wantEvent{"c-4": {with(failed(transitionEvent("rates", 1, "closed", "open", "trip", "failure_rate", 2, 0, 0, 30)), figures(4, 0, 50, 50, 4)...)}},
		},
		{
			name: "failure rate, observe only",
			opts: []machine.Option{machine.WithObserveOnly(), machine.WithTripPolicy(machine.FailureRate(50, 4, machine.LastCalls(4)))},
			want: map[string][]wantEvent{"c-4": {with(failed(transitionEvent("rates", 1, "closed", "open", "trip", "failure_rate", 2, 0, 0, 30)),
				append(figures(4, 0, 50, 50, 4), attribute.String("circuitry.breaker.mode", "observe_only"))...)}},
		},
		{
			name: "custom policy: figures without a rate",
			opts: []machine.Option{machine.WithTripPolicy(machine.CustomPolicy("two", machine.LastCalls(8), func(c machine.WindowCounts) bool { return c.Failures >= 2 }))},
			want: map[string][]wantEvent{"c-4": {with(failed(transitionEvent("rates", 1, "closed", "open", "trip", "two", 2, 0, 0, 30)), figures(4, 0, 0, 0, 0)...)}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			b := r.newBreaker(t, "rates", c.opts...)
			r.run(t, b, script)
			assertSpanEvents(t, r.rec.Ended(), c.want)
		})
	}
}
