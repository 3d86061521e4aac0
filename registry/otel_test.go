package registry_test

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
	"github.com/circuitry-go/circuitry/registry"
)

// TestOpenTelemetryObservesEveryBreaker checks, on the real OpenTelemetry
// SDK with a manual metric reader, that the bridge given once in the
// breaker options observes every breaker the registry makes, including
// those made after the first collection, and that an evicted breaker's
// streams end with it.
func TestOpenTelemetryObservesEveryBreaker(t *testing.T) {
	ctx := context.Background()
	reg, reader, clk := observedRegistry(t)
	// names returns the breakers with a state stream, and the calls
	// counted per breaker and outcome.
	collect := func() (names []string, calls map[string]int64) {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		calls = make(map[string]int64)
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch m.Name {
				case otelbridge.StateName:
					for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
						if n := str(p.Attributes, otelbridge.KeyName); !slices.Contains(names, n) {
							names = append(names, n)
						}
					}
				case otelbridge.CallsName:
					for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
						calls[str(p.Attributes, otelbridge.KeyName)+"/"+str(p.Attributes, otelbridge.KeyOutcome)] += p.Value
					}
				}
			}
		}
		slices.Sort(names)
		return names, calls
	}
	if err := reg.Do(ctx, "a.example", succeed); err != nil {
		t.Fatal(err)
	}
	names, calls := collect()
	if !slices.Equal(names, []string{"a.example"}) || calls["a.example/success"] != 1 {
		t.Fatalf("after a.example's call: breakers %q, calls %v", names, calls)
	}
	clk.Advance(idle) // a sweep: a.example was used
	for range 2 {
		if err := reg.Do(ctx, "b.example", fail); err != errDependency {
			t.Fatal(err)
		}
	}
	names, calls = collect()
	if !slices.Equal(names, []string{"a.example", "b.example"}) || calls["a.example/success"] != 1 || calls["b.example/failure"] != 2 {
		t.Fatalf("after b.example's calls: breakers %q, calls %v", names, calls)
	}
	clk.Advance(idle) // a.example, unused for a round and quiet, goes
	names, calls = collect()
	if !slices.Equal(names, []string{"b.example"}) || calls["a.example/success"] != 0 || calls["b.example/failure"] != 2 {
		t.Fatalf("after a.example's eviction: breakers %q, calls %v", names, calls)
	}
	if err := reg.Do(ctx, "a.example", succeed); err != nil {
		t.Fatal(err)
	}
	names, _ = collect()
	if !slices.Equal(names, []string{"a.example", "b.example"}) {
		t.Fatalf("after a.example came back: breakers %q", names)
	}
}

func str(s attribute.Set, k attribute.Key) string {
	v, _ := s.Value(k)
	return v.AsString()
}

// observedRegistry returns a registry, closed when the test ends, whose
// breakers have an OpenTelemetry bridge on the real SDK as a subscriber
// and the fake clock it returns, evicted after idle; and the SDK's manual
// reader.
func observedRegistry(t *testing.T) (*registry.Registry, *sdkmetric.ManualReader, *clocktest.Clock) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(t0)
	reg, err := registry.New(
		registry.WithClock(clk),
		registry.WithIdleTimeout(idle),
		registry.WithBreakerOptions(machine.WithClock(clk), machine.WithSubscribers(bridge)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the breakers close before the meter provider shuts down
		if err := reg.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return reg, reader, clk
}
