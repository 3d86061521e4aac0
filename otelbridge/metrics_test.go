package otelbridge_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// scope is the instrumentation scope every bridge metric reports under.
var scope = instrumentation.Scope{Name: "github.com/circuitry-go/circuitry/otelbridge", Version: "0.1.0"}

func TestScope(t *testing.T) {
	if otelbridge.ScopeName != scope.Name {
		t.Errorf("ScopeName = %q, want %q", otelbridge.ScopeName, scope.Name)
	}
	if got := otelbridge.Version(); got != scope.Version {
		t.Errorf("Version() = %q, want %q", got, scope.Version)
	}
}

// TestOutageMetrics plays the scripted outage through the real SDK and
// checks every data point of the transitions counter, the state gauge, the
// calls counter and the two error counters (0: nothing failed), with their
// scope, units and descriptions: once while the breaker is open and once
// after it recovered.
func TestOutageMetrics(t *testing.T) {
	r := newRig(t, nil)
	b := r.newBreaker(t, "payments")
	r.observe(t, b)

	tripped := transitionPoint("payments", "closed", "open", "trip", 1)
	checkpoints := []struct {
		name  string
		steps []step
		want  metricdata.ScopeMetrics
	}{
		{
			name:  "open after the trip and three rejections",
			steps: outage[:11],
			want: metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
				transitionsMetric(tripped),
				stateMetric(statePoints("payments", events.Open)...),
				callsMetric(callPoints("payments", 2, 5, 1, 3)...),
			}, idle("payments")...)},
		},
		{
			name:  "closed after the probe and recovery",
			steps: outage[11:],
			want: metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
				transitionsMetric(
					tripped,
					transitionPoint("payments", "open", "half_open", "probe", 1),
					transitionPoint("payments", "half_open", "closed", "recover", 1),
				),
				stateMetric(statePoints("payments", events.Closed)...),
				callsMetric(callPoints("payments", outageSuccesses, outageFailures, outageIgnored, outageRejected)...),
			}, idle("payments")...)},
		},
	}
	for _, c := range checkpoints {
		t.Run(c.name, func(t *testing.T) {
			r.run(t, b, c.steps)
			metricdatatest.AssertEqual(t, c.want, r.collect(t), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		})
	}
}

// TestStateGaugeHalfOpen checks that the state gauge reports half_open
// while a breaker probes.
func TestStateGaugeHalfOpen(t *testing.T) {
	r := newRig(t, nil)
	b := r.newBreaker(t, "inventory")
	r.observe(t, b)
	r.run(t, b, outage[:8]) // trips
	r.clock.Advance(machine.DefaultRecoveryTimeout)
	p, err := b.Allow(context.Background()) // the probe, held open
	if err != nil {
		t.Fatalf("probe not admitted: %v", err)
	}
	defer p.Done(nil)
	got, ok := metricNamed(r.collect(t), "circuitry.breaker.state")
	if !ok {
		t.Fatal("no circuitry.breaker.state metric")
	}
	metricdatatest.AssertEqual(t, stateMetric(statePoints("inventory", events.HalfOpen)...), got, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestWithSpanEventsOff checks that WithSpanEvents(false) adds no span event
// to a recording span while every metric is still counted.
func TestWithSpanEventsOff(t *testing.T) {
	for _, c := range []struct {
		name       string
		opts       []otelbridge.Option
		wantEvents bool
	}{
		{name: "default", wantEvents: true},
		{name: "WithSpanEvents(true)", opts: []otelbridge.Option{otelbridge.WithSpanEvents(true)}, wantEvents: true},
		{name: "WithSpanEvents(false)", opts: []otelbridge.Option{otelbridge.WithSpanEvents(false)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil, c.opts...)
			b := r.newBreaker(t, "search")
			r.observe(t, b)
			r.run(t, b, outage)

			added := 0
			for _, sp := range r.rec.Ended() {
				added += len(sp.Events())
			}
			if want := 3 + outageRejected; !c.wantEvents {
				if added != 0 {
					t.Errorf("%d span events, want none", added)
				}
			} else if added != want {
				t.Errorf("%d span events, want %d", added, want)
			}
			if n := len(r.rec.Ended()); n != len(outage) {
				t.Errorf("%d spans recorded, want %d", n, len(outage))
			}

			want := metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
				transitionsMetric(
					transitionPoint("search", "closed", "open", "trip", 1),
					transitionPoint("search", "open", "half_open", "probe", 1),
					transitionPoint("search", "half_open", "closed", "recover", 1),
				),
				stateMetric(statePoints("search", events.Closed)...),
				callsMetric(callPoints("search", outageSuccesses, outageFailures, outageIgnored, outageRejected)...),
			}, idle("search")...)}
			metricdatatest.AssertEqual(t, want, r.collect(t), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		})
	}
}

// TestWithAttributes checks that the extra attributes appear on every data
// point of every instrument (the duration histogram included) and on every
// span event.
func TestWithAttributes(t *testing.T) {
	extra := []attribute.KeyValue{attribute.String("deployment.region", "eu-west-1"), attribute.Int("shard", 7)}
	r := newRig(t, nil, otelbridge.WithAttributes(extra[0]), otelbridge.WithAttributes(extra[1]), otelbridge.WithCallDuration(true))
	b := r.newBreaker(t, "ledger")
	r.observe(t, b)
	r.run(t, b, outage)

	sm := r.collect(t)
	if len(sm.Metrics) != 8 {
		t.Fatalf("%d metrics, want 8", len(sm.Metrics))
	}
	for _, m := range sm.Metrics {
		t.Run(m.Name, func(t *testing.T) {
			metricdatatest.AssertHasAttributes(t, m, extra...)
		})
	}
	want := metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
		transitionsMetric(
			transitionPoint("ledger", "closed", "open", "trip", 1, extra...),
			transitionPoint("ledger", "open", "half_open", "probe", 1, extra...),
			transitionPoint("ledger", "half_open", "closed", "recover", 1, extra...),
		),
		stateMetric(statePoints("ledger", events.Closed, extra...)...),
		callsMetric(callPoints("ledger", outageSuccesses, outageFailures, outageIgnored, outageRejected, extra...)...),
	}, append(faultMetrics(extra, faults{breaker: "ledger"}), consecutiveMetrics(extra, consecutive{"ledger", 0, 5})...)...)}
	got := metricdata.ScopeMetrics{Scope: sm.Scope}
	for _, m := range sm.Metrics {
		if m.Name != "circuitry.breaker.call.duration" { // its values are checked by TestWithCallDuration
			got.Metrics = append(got.Metrics, m)
		}
	}
	metricdatatest.AssertEqual(t, want, got, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	assertSpanEvents(t, r.rec.Ended(), outageSpanEvents("ledger"), extra...)
}

// TestWithCallDuration checks the opt-in histogram: one data point per
// outcome of the admitted calls, with counts, sums, extrema and buckets
// taken from the fake clock advanced inside the calls; rejected calls are
// not timed. Without the option no histogram exists.
func TestWithCallDuration(t *testing.T) {
	ctx := context.Background()
	calls := []struct {
		outcome string
		took    time.Duration
	}{
		{success, 250 * time.Millisecond},
		{success, 500 * time.Millisecond},
		{failure, 125 * time.Millisecond},
		{ignored, 2 * time.Second},
	}
	script := func(t *testing.T, r *rig, b *machine.Breaker) {
		for i, c := range calls {
			callCtx := ctx
			if c.outcome == ignored {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				callCtx = cctx
			}
			err := b.Do(callCtx, func(ctx context.Context) error {
				r.clock.Advance(c.took)
				switch c.outcome {
				case failure:
					return errDependency
				case ignored:
					return ctx.Err()
				}
				return nil
			})
			if (err == nil) != (c.outcome == success) {
				t.Fatalf("call %d (%s): err = %v", i, c.outcome, err)
			}
		}
		if err := b.ForceOpen(ctx, machine.Override{Operator: "test", Note: "reject the next call"}); err != nil {
			t.Fatal(err)
		}
		doCall(t, ctx, b, "rejected call", rejected)
	}
	// bucket returns the bucket counts of the boundaries with one value in
	// each of the given buckets (index i counts (bounds[i-1], bounds[i]]).
	bucket := func(idx ...int) []uint64 {
		counts := make([]uint64, len(durationBounds)+1)
		for _, i := range idx {
			counts[i]++
		}
		return counts
	}
	point := func(outcome string, count uint64, lo, hi, sum float64, buckets []uint64) metricdata.HistogramDataPoint[float64] {
		return metricdata.HistogramDataPoint[float64]{
			Attributes: attribute.NewSet(
				attribute.String("circuitry.breaker.name", "quotes"),
				attribute.String("circuitry.breaker.outcome", outcome),
			),
			Count:        count,
			Bounds:       durationBounds,
			BucketCounts: buckets,
			Min:          metricdata.NewExtrema(lo),
			Max:          metricdata.NewExtrema(hi),
			Sum:          sum,
		}
	}

	for _, c := range []struct {
		name string
		opts []otelbridge.Option
		want *metricdata.Metrics // nil: no histogram
	}{
		{name: "off by default"},
		{name: "WithCallDuration(false)", opts: []otelbridge.Option{otelbridge.WithCallDuration(false)}},
		{name: "WithCallDuration(true)", opts: []otelbridge.Option{otelbridge.WithCallDuration(true)}, want: new(durationMetric(
			point(success, 2, 0.25, 0.5, 0.75, bucket(6, 7)),
			point(failure, 1, 0.125, 0.125, 0.125, bucket(6)),
			point(ignored, 1, 2, 2, 2, bucket(10)),
		))},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil, c.opts...)
			if got := r.bridge.TimesCalls(); got != (c.want != nil) {
				t.Errorf("TimesCalls() = %v, want %v", got, c.want != nil)
			}
			b := r.newBreaker(t, "quotes")
			r.observe(t, b)
			script(t, r, b)
			sm := r.collect(t)
			got, ok := metricNamed(sm, "circuitry.breaker.call.duration")
			if c.want == nil {
				if ok {
					t.Errorf("histogram reported without WithCallDuration(true): %+v", got)
				}
				if len(sm.Metrics) != 7 {
					t.Errorf("%d metrics, want 7", len(sm.Metrics))
				}
				return
			}
			if !ok {
				t.Fatal("no circuitry.breaker.call.duration metric")
			}
			metricdatatest.AssertEqual(t, *c.want, got, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
			// The calls counter agrees with the histogram's counts.
			calls, _ := metricNamed(sm, "circuitry.breaker.calls")
			metricdatatest.AssertEqual(t, callsMetric(callPoints("quotes", 2, 1, 1, 1)...), calls, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		})
	}
}

// TestTransitionsCountedWhileObserved checks that the bridge counts the
// transitions of the breakers it observes only: a breaker that has it as a
// subscriber through a wrapper that hides ObserveBreaker gets its span
// events from the start, but its transitions are counted from Observe on,
// each stream appearing with its first transition.
func TestTransitionsCountedWhileObserved(t *testing.T) {
	r := newRig(t, nil)
	b := r.newBreaker(t, "payments")
	r.run(t, b, outage[:8]) // trips, not observed
	if n := dataPoints(t, r.collect(t), otelbridge.TransitionsName); n != 0 {
		t.Errorf("%d transitions data points for a breaker the bridge does not observe, want 0", n)
	}
	r.observe(t, b)
	r.run(t, b, outage[8:]) // probes and recovers, observed
	metricdatatest.AssertEqual(t, transitionsMetric(
		transitionPoint("payments", "open", "half_open", "probe", 1),
		transitionPoint("payments", "half_open", "closed", "recover", 1),
	), mustMetric(t, r.collect(t), otelbridge.TransitionsName), metricdatatest.IgnoreTimestamp())
	assertSpanEvents(t, r.rec.Ended(), outageSpanEvents("payments"))
}
