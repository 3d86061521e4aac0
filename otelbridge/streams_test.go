package otelbridge_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// subscribed returns a breaker with the bridge as its subscriber (observed
// from New until Close) that trips on its first failure.
func (r *rig) subscribed(t testing.TB, name string) *machine.Breaker {
	t.Helper()
	b, err := machine.New(name, machine.WithClock(r.clock), machine.WithSubscribers(r.bridge),
		machine.WithFailureThreshold(1),
		machine.WithErrorHandler(func(err error) { t.Errorf("breaker %s reported: %v", name, err) }))
	if err != nil {
		t.Fatalf("machine.New(%q): %v", name, err)
	}
	return b
}

// allTransitions are the points of every legal transition of breaker, at
// 0 but for those in n, keyed by event and from state ("trip closed").
func allTransitions(breaker string, n map[string]int64) []metricdata.DataPoint[int64] {
	var out []metricdata.DataPoint[int64]
	for _, e := range events.Table() {
		out = append(out, transitionPoint(breaker, e.From.String(), e.To.String(), e.Event.String(), n[e.Event.String()+" "+e.From.String()]))
	}
	return out
}

// allFallbacks are the four fallback points of breaker, rejected before
// failure, served before failed, with the given values.
func allFallbacks(breaker string, temporality metricdata.Temporality, v [4]int64) metricdata.Metrics {
	var pts []metricdata.DataPoint[int64]
	i := 0
	for _, trigger := range []string{otelbridge.FallbackTriggerRejected, otelbridge.FallbackTriggerFailure} {
		for _, result := range []string{otelbridge.FallbackResultServed, otelbridge.FallbackResultFailed} {
			pts = append(pts, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(
				otelbridge.KeyName.String(breaker),
				otelbridge.KeyFallbackTrigger.String(trigger),
				otelbridge.KeyFallbackResult.String(result),
			), Value: v[i]})
			i++
		}
	}
	return metricdata.Metrics{
		Name: otelbridge.FallbacksName, Description: fallbacksDesc, Unit: "{fallback}",
		Data: metricdata.Sum[int64]{Temporality: temporality, IsMonotonic: true, DataPoints: pts},
	}
}

// fallback runs a call that fails through b with a fallback that serves.
func fallback(t *testing.T, b *machine.Breaker) {
	t.Helper()
	v, err := machine.ExecuteFallback(context.Background(), b,
		func(context.Context) (int, error) { return 0, errDependency },
		func(context.Context, error) (int, error) { return 1, nil },
		machine.OnFailure())
	if v != 1 || err != nil {
		t.Fatalf("ExecuteFallback = %d, %v; want the fallback's 1", v, err)
	}
}

// TestStreamsEndWithClose checks that the transitions and fallbacks
// streams of a breaker with the bridge as a subscriber are reported, 0s
// included, from New until Close and not after, and that a breaker made
// again under the same name starts from 0.
func TestStreamsEndWithClose(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	b := r.subscribed(t, "payments")
	fallback(t, b) // fails, trips, served
	sm := r.collect(t)
	metricdatatest.AssertEqual(t, transitionsMetric(allTransitions("payments", map[string]int64{"trip closed": 1})...),
		mustMetric(t, sm, otelbridge.TransitionsName), metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, allFallbacks("payments", metricdata.CumulativeTemporality, [4]int64{0, 0, 1, 0}),
		mustMetric(t, sm, otelbridge.FallbacksName), metricdatatest.IgnoreTimestamp())

	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sm = r.collect(t)
	for _, name := range []string{otelbridge.TransitionsName, otelbridge.FallbacksName} {
		if n := dataPoints(t, sm, name); n != 0 {
			t.Errorf("%s: %d data points after Close, want 0", name, n)
		}
	}

	again := r.subscribed(t, "payments")
	t.Cleanup(func() { _ = again.Close(ctx) })
	sm = r.collect(t)
	metricdatatest.AssertEqual(t, transitionsMetric(allTransitions("payments", nil)...),
		mustMetric(t, sm, otelbridge.TransitionsName), metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, allFallbacks("payments", metricdata.CumulativeTemporality, [4]int64{}),
		mustMetric(t, sm, otelbridge.FallbacksName), metricdatatest.IgnoreTimestamp())
}

// TestStreamsOfOneName checks that two breakers of one name, both with the
// bridge as a subscriber, share their transitions and fallbacks streams,
// each reported once: they add up, and stay until the last is closed.
func TestStreamsOfOneName(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	a, b := r.subscribed(t, "twin"), r.subscribed(t, "twin")
	fallback(t, a)
	fallback(t, b)
	want := transitionsMetric(allTransitions("twin", map[string]int64{"trip closed": 2})...)
	sm := r.collect(t)
	metricdatatest.AssertEqual(t, want, mustMetric(t, sm, otelbridge.TransitionsName), metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, allFallbacks("twin", metricdata.CumulativeTemporality, [4]int64{0, 0, 2, 0}),
		mustMetric(t, sm, otelbridge.FallbacksName), metricdatatest.IgnoreTimestamp())

	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	metricdatatest.AssertEqual(t, want, mustMetric(t, r.collect(t), otelbridge.TransitionsName), metricdatatest.IgnoreTimestamp())
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := dataPoints(t, r.collect(t), otelbridge.TransitionsName); n != 0 {
		t.Errorf("%d transitions data points once both are closed, want 0", n)
	}
}

// TestStreamsDelta checks the transitions and fallbacks counters through a
// reader that asks for delta temporality: each collection reports what was
// counted since the one before, and a breaker made again under a closed
// one's name reports its own counts, not the difference from the closed
// one's.
func TestStreamsDelta(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	reader := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
		return metricdata.DeltaTemporality
	}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(ctx) })
	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	r.mp, r.reader, r.bridge = mp, reader, bridge

	delta := func(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
		m := transitionsMetric(points...)
		sum := m.Data.(metricdata.Sum[int64])
		sum.Temporality = metricdata.DeltaTemporality
		m.Data = sum
		return m
	}
	check := func(t *testing.T, transitions map[string]int64, fallbacks [4]int64) {
		t.Helper()
		sm := r.collect(t)
		metricdatatest.AssertEqual(t, delta(allTransitions("payments", transitions)...),
			mustMetric(t, sm, otelbridge.TransitionsName), metricdatatest.IgnoreTimestamp())
		metricdatatest.AssertEqual(t, allFallbacks("payments", metricdata.DeltaTemporality, fallbacks),
			mustMetric(t, sm, otelbridge.FallbacksName), metricdatatest.IgnoreTimestamp())
	}

	b := r.subscribed(t, "payments")
	check(t, nil, [4]int64{})
	fallback(t, b) // trips
	check(t, map[string]int64{"trip closed": 1}, [4]int64{0, 0, 1, 0})
	check(t, nil, [4]int64{})
	r.clock.Advance(machine.DefaultRecoveryTimeout)
	doCall(t, ctx, b, "probe", failure) // probes and trips again
	check(t, map[string]int64{"probe open": 1, "retrip half_open": 1}, [4]int64{})
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := dataPoints(t, r.collect(t), otelbridge.TransitionsName); n != 0 {
		t.Errorf("%d transitions data points after Close, want 0", n)
	}
	again := r.subscribed(t, "payments")
	t.Cleanup(func() { _ = again.Close(ctx) })
	fallback(t, again)
	check(t, map[string]int64{"trip closed": 1}, [4]int64{0, 0, 1, 0})
}

// TestStreamsChurn makes and closes many more breakers than the SDK's
// cardinality limit (2000 streams per instrument) allows streams for, each
// with the bridge as a subscriber, and checks that a breaker made after
// them counts its trip in its own stream, not in the overflow one: a
// closed breaker's streams are gone.
func TestStreamsChurn(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	for i := range 300 {
		b := r.subscribed(t, fmt.Sprintf("host-%d", i))
		doCall(t, ctx, b, "host", success)
		if i%50 == 0 {
			doCall(t, ctx, b, "host", failure) // trips
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			r.collect(t)
		}
	}
	b := r.subscribed(t, "payments")
	t.Cleanup(func() { _ = b.Close(ctx) })
	doCall(t, ctx, b, "payments", failure) // trips
	sm := r.collect(t)
	metricdatatest.AssertEqual(t, transitionsMetric(allTransitions("payments", map[string]int64{"trip closed": 1})...),
		mustMetric(t, sm, otelbridge.TransitionsName), metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertEqual(t, allFallbacks("payments", metricdata.CumulativeTemporality, [4]int64{}),
		mustMetric(t, sm, otelbridge.FallbacksName), metricdatatest.IgnoreTimestamp())
}

// TestStreamsConcurrentChurn makes, trips and closes breakers of a few
// names from several goroutines, while another collects over and over;
// once every breaker is closed, no transitions or fallbacks stream is left.
// Run it with -race.
func TestStreamsConcurrentChurn(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	stop := make(chan struct{})
	var collector, workers sync.WaitGroup
	collector.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var rm metricdata.ResourceMetrics
			if err := r.reader.Collect(ctx, &rm); err != nil {
				t.Errorf("Collect: %v", err)
				return
			}
		}
	})
	for w := range 8 {
		workers.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("key-%d", (w+i)%3)
				b, err := machine.New(name, machine.WithClock(r.clock), machine.WithSubscribers(r.bridge), machine.WithFailureThreshold(1))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = machine.ExecuteFallback(ctx, b,
					func(context.Context) (int, error) { return 0, errDependency },
					func(context.Context, error) (int, error) { return 1, nil },
					machine.OnFailure())
				if err := b.Close(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	collector.Wait()
	sm := r.collect(t)
	for _, name := range []string{otelbridge.TransitionsName, otelbridge.FallbacksName} {
		if n := dataPoints(t, sm, name); n != 0 {
			t.Errorf("%s: %d data points once every breaker is closed, want 0", name, n)
		}
	}
}

// TestObserveOneBreakerTwice checks that Observe refuses a breaker given
// twice, whose streams would be reported twice.
func TestObserveOneBreakerTwice(t *testing.T) {
	r := newRig(t, nil)
	b := r.newBreaker(t, "twice")
	reg, err := r.bridge.Observe(b, b)
	if err == nil || !strings.Contains(err.Error(), `breaker "twice" is given twice`) || reg != nil {
		t.Fatalf("Observe(b, b) = %v, %v; want a refusal", reg, err)
	}
	// The refusal left nothing behind: b can be observed.
	r.observe(t, b)
}
