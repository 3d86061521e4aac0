package otelbridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// TestFigureGaugesAreReasonFields checks that each policy figure gauge is
// named after a field of the reason, of the kind its unit says: the gauges
// are the reason's figures, declared once.
func TestFigureGaugesAreReasonFields(t *testing.T) {
	full := events.Reason{Policy: "p", Failures: 1, Successes: 1, Threshold: 1, Calls: 1, Slow: 1, Rate: 1,
		RateThreshold: 1, MinCalls: 1, SlowerThan: time.Second, RetryAfter: time.Second, LastError: "e", Operator: "o", Note: "n"}
	kinds := map[string]events.FieldKind{}
	for f := range full.Fields() {
		kinds[f.Name] = f.Kind
	}
	for _, c := range []struct {
		name string
		kind events.FieldKind
	}{
		{otelbridge.PolicyFailuresName, events.KindCount},
		{otelbridge.PolicyThresholdName, events.KindCount},
		{otelbridge.PolicyCallsName, events.KindCount},
		{otelbridge.PolicySlowName, events.KindCount},
		{otelbridge.PolicyRateName, events.KindPercent},
		{otelbridge.PolicyRateThresholdName, events.KindPercent},
		{otelbridge.PolicyMinCallsName, events.KindCount},
	} {
		field, ok := strings.CutPrefix(c.name, otelbridge.PolicyPrefix)
		if got, found := kinds[field]; !ok || !found || got != c.kind {
			t.Errorf("%s: field %q of the reason has kind %v (found %v), want %v", c.name, field, got, found, c.kind)
		}
	}
}

// figurePoint is a policy figure gauge's data point for breaker "rates".
func figurePoint[N int64 | float64](policy string, v N) metricdata.DataPoint[N] {
	return metricdata.DataPoint[N]{Attributes: attribute.NewSet(
		attribute.String("circuitry.breaker.name", "rates"),
		attribute.String("circuitry.breaker.policy", policy),
	), Value: v}
}

// TestPolicyFigures plays calls through breakers with each kind of policy
// and checks every policy figure gauge: a rate of -1 below the minimum
// calls, the rate at and above it, the consecutive failures run, a custom
// policy's window counts, and zero counts once the breaker is open.
func TestPolicyFigures(t *testing.T) {
	window := machine.LastCalls(10)
	rateAndRun := []machine.Option{machine.WithTripPolicy(
		machine.FailureRate(50, 4, window),
		machine.SlowCallRate(80, time.Second, 4, window),
		machine.ConsecutiveFailures(3),
		machine.CustomPolicy("burst", window, func(c machine.WindowCounts) bool { return c.Failures >= 9 }),
	)}
	type figures struct {
		run, calls, failures, slow int64
		failureRate, slowRate      float64
	}
	want := func(f figures) []metricdata.Metrics {
		both := func(fr, sr int64) []metricdata.DataPoint[int64] {
			return []metricdata.DataPoint[int64]{figurePoint("failure_rate", fr), figurePoint("slow_call_rate", sr)}
		}
		windows := func(v int64) []metricdata.DataPoint[int64] {
			return append(both(v, v), figurePoint("burst", v))
		}
		return []metricdata.Metrics{
			intGauge(otelbridge.PolicyFailuresName, policyFailuresDesc, "{call}", append(windows(f.failures), figurePoint("consecutive_failures", f.run))...),
			intGauge(otelbridge.PolicyThresholdName, policyThresholdDesc, "{call}", figurePoint[int64]("consecutive_failures", 3)),
			intGauge(otelbridge.PolicyCallsName, policyCallsDesc, "{call}", windows(f.calls)...),
			intGauge(otelbridge.PolicySlowName, policySlowDesc, "{call}", windows(f.slow)...),
			floatGauge(otelbridge.PolicyRateName, policyRateDesc, "%", figurePoint("failure_rate", f.failureRate), figurePoint("slow_call_rate", f.slowRate)),
			floatGauge(otelbridge.PolicyRateThresholdName, policyRateThresholdDesc, "%", figurePoint[float64]("failure_rate", 50), figurePoint[float64]("slow_call_rate", 80)),
			intGauge(otelbridge.PolicyMinCallsName, policyMinCallsDesc, "{call}", both(4, 4)...),
		}
	}
	// call makes one call through b that fails or not and takes took on
	// the rig's clock.
	call := func(t *testing.T, r *rig, b *machine.Breaker, fail bool, took time.Duration) {
		_ = b.Do(context.Background(), func(context.Context) error {
			r.clock.Advance(took)
			if fail {
				return errDependency
			}
			return nil
		})
	}
	steps := []struct {
		name string
		do   func(t *testing.T, r *rig, b *machine.Breaker)
		want []metricdata.Metrics
	}{
		{
			name: "new: no rate below the minimum calls",
			do:   func(*testing.T, *rig, *machine.Breaker) {},
			want: want(figures{failureRate: -1, slowRate: -1}),
		},
		{
			name: "three calls, still below",
			do: func(t *testing.T, r *rig, b *machine.Breaker) {
				call(t, r, b, false, 2*time.Second) // slow
				call(t, r, b, true, 0)
				call(t, r, b, true, 0)
			},
			want: want(figures{run: 2, calls: 3, failures: 2, slow: 1, failureRate: -1, slowRate: -1}),
		},
		{
			name: "the fourth call: rates",
			do: func(t *testing.T, r *rig, b *machine.Breaker) {
				call(t, r, b, false, 0)
			},
			want: want(figures{calls: 4, failures: 2, slow: 1, failureRate: 50, slowRate: 25}),
		},
		{
			name: "a failure trips at 60%: open, zero counts",
			do: func(t *testing.T, r *rig, b *machine.Breaker) {
				call(t, r, b, true, 0)
				if b.State() != events.Open {
					t.Fatalf("state %s, want open", b.State())
				}
			},
			want: want(figures{failureRate: -1, slowRate: -1}),
		},
	}
	r := newRig(t, nil)
	b := r.newBreaker(t, "rates", rateAndRun...)
	r.observe(t, b)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t, r, b)
			sm := r.collect(t)
			for _, w := range s.want {
				got, ok := metricNamed(sm, w.Name)
				if !ok {
					t.Errorf("no %s metric", w.Name)
					continue
				}
				metricdatatest.AssertEqual(t, w, got, metricdatatest.IgnoreTimestamp())
			}
		})
	}
}

// TestZeroStreams checks that a breaker with the bridge as its subscriber
// reports, before any call, every legal transition's stream and every
// fallback stream at 0, so that Prometheus sees the first increment.
func TestZeroStreams(t *testing.T) {
	r := newRig(t, nil)
	b, err := machine.New("fresh", machine.WithClock(r.clock), machine.WithSubscribers(r.bridge))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	sm := r.collect(t)

	var transitions []metricdata.DataPoint[int64]
	for _, e := range events.Table() {
		transitions = append(transitions, transitionPoint("fresh", e.From.String(), e.To.String(), e.Event.String(), 0))
	}
	if len(transitions) != 9 {
		t.Fatalf("%d legal transitions, want 9", len(transitions))
	}
	got, _ := metricNamed(sm, otelbridge.TransitionsName)
	metricdatatest.AssertEqual(t, transitionsMetric(transitions...), got, metricdatatest.IgnoreTimestamp())

	var fallbacks []metricdata.DataPoint[int64]
	for _, trigger := range []string{"rejected", "failure"} {
		for _, result := range []string{"served", "failed"} {
			fallbacks = append(fallbacks, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(
				attribute.String("circuitry.breaker.name", "fresh"),
				attribute.String("circuitry.breaker.fallback.trigger", trigger),
				attribute.String("circuitry.breaker.fallback.result", result),
			)})
		}
	}
	got, _ = metricNamed(sm, otelbridge.FallbacksName)
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name: otelbridge.FallbacksName, Description: fallbacksDesc, Unit: "{fallback}",
		Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: fallbacks},
	}, got, metricdatatest.IgnoreTimestamp())
}

// TestForcedState checks the forced attribute of the state gauge: true
// while the state is one an operator set, false once the breaker moved by
// itself, in every state.
func TestForcedState(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	b := r.newBreaker(t, "payments")
	r.observe(t, b)
	op := machine.Override{Operator: "oncall", Note: "failover", OpenFor: 10 * time.Second}
	for _, s := range []struct {
		name   string
		do     func(t *testing.T)
		forced bool
		state  events.State
	}{
		{name: "new", do: func(*testing.T) {}, state: events.Closed},
		{name: "forced open", do: func(t *testing.T) {
			if err := b.ForceOpen(ctx, op); err != nil {
				t.Fatal(err)
			}
		}, forced: true, state: events.Open},
		{name: "probed by a call", do: func(t *testing.T) {
			r.clock.Advance(10 * time.Second)
			p, err := b.Allow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Done(nil) })
		}, state: events.HalfOpen},
		{name: "forced closed", do: func(t *testing.T) {
			if err := b.ForceClose(ctx, machine.Override{Operator: "oncall", Note: "failed over"}); err != nil {
				t.Fatal(err)
			}
		}, forced: true, state: events.Closed},
		{name: "tripped", do: func(t *testing.T) {
			for range machine.DefaultFailureThreshold {
				doCall(t, ctx, b, "fails", failure)
			}
		}, state: events.Open},
	} {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			got, _ := metricNamed(r.collect(t), otelbridge.StateName)
			metricdatatest.AssertEqual(t, stateMetric(statePointsOf("payments", "enforcing", s.forced, s.state)...), got, metricdatatest.IgnoreTimestamp())
		})
	}
}
