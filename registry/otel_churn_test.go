package registry_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// TestOpenTelemetryKeyChurn checks, on the real OpenTelemetry SDK, that
// keys that come and go leave no transitions streams behind: 300 hosts
// pass through the registry and are evicted when idle (more than the
// SDK's 2000 streams per instrument would hold at 9 streams a breaker),
// then payments trips, and its trip is counted in its own stream, not in
// the overflow stream, with only the streams of the breakers held now.
func TestOpenTelemetryKeyChurn(t *testing.T) {
	ctx := context.Background()
	reg, reader, clk := observedRegistry(t)
	for i := range 300 {
		if err := reg.Do(ctx, fmt.Sprintf("host-%d", i), succeed); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 { // two sweeps: the last 50 hosts go
			clk.Advance(idle)
			clk.Advance(idle)
		}
	}
	for range machine.DefaultFailureThreshold {
		_ = reg.Do(ctx, "payments", fail)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var points []metricdata.DataPoint[int64]
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == otelbridge.TransitionsName {
				points = m.Data.(metricdata.Sum[int64]).DataPoints
			}
		}
	}
	tripped := false
	for _, p := range points {
		if str(p.Attributes, otelbridge.KeyName) == "payments" && str(p.Attributes, otelbridge.KeyEvent) == "trip" && p.Value == 1 {
			tripped = true
		}
		if v, ok := p.Attributes.Value("otel.metric.overflow"); ok && v.AsBool() {
			t.Errorf("an overflow stream counts %d transitions", p.Value)
		}
	}
	if !tripped {
		t.Error("payments' trip is not in its own stream of the transitions counter")
	}
	if want := reg.Len() * len(events.Table()); len(points) != want {
		t.Errorf("%d transitions streams, want %d: %d for each of the %d breakers held", len(points), want, len(events.Table()), reg.Len())
	}
}
