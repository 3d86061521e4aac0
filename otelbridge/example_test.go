package otelbridge_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// formatAttrs writes attributes as key=value, in key order, without the
// circuitry.breaker. prefix.
func formatAttrs(kvs []attribute.KeyValue) string {
	s := attribute.NewSet(kvs...)
	var parts []string
	for it := s.Iter(); it.Next(); {
		kv := it.Attribute()
		parts = append(parts, strings.TrimPrefix(string(kv.Key), "circuitry.breaker.")+"="+kv.Value.String())
	}
	return strings.Join(parts, " ")
}

// printMetrics prints the int64 data points of the named metrics, one per
// line, sorted.
func printMetrics(rm metricdata.ResourceMetrics, names ...string) {
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !slices.Contains(names, m.Name) {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				lines = append(lines, fmt.Sprintf("%s %s: %d", m.Name, formatAttrs(p.Attributes.ToSlice()), p.Value))
			}
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}

// A bridge given to a breaker as a subscriber is the one step that wires
// it: span events and transitions as they happen, and the breaker's state,
// calls and policy figures read at each collection, until the breaker is
// closed. Every legal transition's stream starts at 0, so that a range
// query sees the first one.
func ExampleNew() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)

	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	b, err := machine.New("payments", machine.WithFailureThreshold(2), machine.WithSubscribers(bridge))
	if err != nil {
		panic(err)
	}
	defer b.Close(ctx) // stops its metrics too

	refused := func(context.Context) error { return errors.New("connection refused") }
	for range 3 { // two failures trip the breaker; the third call is rejected
		_ = b.Do(ctx, refused)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	printMetrics(rm, otelbridge.TransitionsName, otelbridge.StateName, otelbridge.PolicyThresholdName)
	// Output:
	// circuitry.breaker.policy.threshold name=payments policy=consecutive_failures: 2
	// circuitry.breaker.state forced=false mode=enforcing name=payments state=closed: 0
	// circuitry.breaker.state forced=false mode=enforcing name=payments state=half_open: 0
	// circuitry.breaker.state forced=false mode=enforcing name=payments state=open: 1
	// circuitry.breaker.transitions event=force_close from=half_open name=payments to=closed: 0
	// circuitry.breaker.transitions event=force_close from=open name=payments to=closed: 0
	// circuitry.breaker.transitions event=force_half_open from=open name=payments to=half_open: 0
	// circuitry.breaker.transitions event=force_open from=closed name=payments to=open: 0
	// circuitry.breaker.transitions event=force_open from=half_open name=payments to=open: 0
	// circuitry.breaker.transitions event=probe from=open name=payments to=half_open: 0
	// circuitry.breaker.transitions event=recover from=half_open name=payments to=closed: 0
	// circuitry.breaker.transitions event=retrip from=half_open name=payments to=open: 0
	// circuitry.breaker.transitions event=trip from=closed name=payments to=open: 1
}

// Observe reports the state and calls of breakers that do not have the
// bridge as a subscriber (made elsewhere, say). One registration may
// observe many breakers; Unregister stops reporting them, so that a removed
// breaker leaves no callback behind.
func ExampleBridge_Observe() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)

	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	quotes, _ := machine.New("quotes")
	ledger, _ := machine.New("ledger")
	reg, err := bridge.Observe(quotes, ledger)
	if err != nil {
		panic(err)
	}

	ok := func(context.Context) error { return nil }
	_ = quotes.Do(ctx, ok)
	_ = quotes.Do(ctx, ok)
	_ = ledger.Do(ctx, func(context.Context) error { return errors.New("timeout") })

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	printMetrics(rm, otelbridge.CallsName)

	if err := reg.Unregister(); err != nil {
		panic(err)
	}
	_ = reader.Collect(ctx, &rm)
	fmt.Println("after Unregister:")
	printMetrics(rm, otelbridge.CallsName, otelbridge.StateName, otelbridge.JournalErrorsName, otelbridge.SubscriberErrorsName)
	// Output:
	// circuitry.breaker.calls name=ledger outcome=failure: 1
	// circuitry.breaker.calls name=ledger outcome=ignored: 0
	// circuitry.breaker.calls name=ledger outcome=rejected: 0
	// circuitry.breaker.calls name=ledger outcome=success: 0
	// circuitry.breaker.calls name=quotes outcome=failure: 0
	// circuitry.breaker.calls name=quotes outcome=ignored: 0
	// circuitry.breaker.calls name=quotes outcome=rejected: 0
	// circuitry.breaker.calls name=quotes outcome=success: 2
	// after Unregister:
}

// The span of the call that trips the breaker gets a transition event, and
// the span of a rejected call a rejected event, so that a trace tells a
// short-circuited call from a failed dependency.
func Example_spanEvents() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(ctx)
	tracer := tp.Tracer("example")

	bridge, err := otelbridge.New()
	if err != nil {
		panic(err)
	}
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	b, err := machine.New("quotes",
		machine.WithFailureThreshold(1),
		machine.WithClock(clock),
		machine.WithWriter("quotes-api-1"),
		machine.WithSubscribers(bridge))
	if err != nil {
		panic(err)
	}

	for i, fn := range []func(context.Context) error{
		func(context.Context) error { return errors.New("503 Service Unavailable") }, // trips
		func(context.Context) error { return nil },                                   // rejected
	} {
		clock.Advance(5 * time.Second)
		ctx, span := tracer.Start(ctx, fmt.Sprintf("GET /quote #%d", i+1))
		_ = b.Do(ctx, fn)
		span.End()
	}

	for _, s := range rec.Ended() {
		fmt.Println(s.Name())
		for _, e := range s.Events() {
			fmt.Printf("  %s: %s\n", e.Name, formatAttrs(e.Attributes))
		}
	}
	// Output:
	// GET /quote #1
	//   circuitry.breaker.transition: event=trip from=closed name=quotes open_for=30 reason.failures=1 reason.last_error=503 Service Unavailable reason.policy=consecutive_failures reason.threshold=1 seq=1 to=open writer=quotes-api-1
	// GET /quote #2
	//   circuitry.breaker.rejected: name=quotes retry_after=25 state=open
}
