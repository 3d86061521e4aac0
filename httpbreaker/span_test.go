package httpbreaker_test

import (
	"context"
	"errors"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/circuitry-go/circuitry/httpbreaker"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// The breaker's subscribers get the request's context: the OpenTelemetry
// bridge's span events land on the request's span (the one otelhttp
// starts, when it wraps the transport).
func TestTransportSpanEvents(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	bridge, err := otelbridge.New()
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, machine.WithFailureThreshold(1), machine.WithSubscribers(bridge))
	tr, err := httpbreaker.NewTransport(&stub{code: 503}, f.get)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"request-1", "request-2"} {
		ctx, span := tp.Tracer("test").Start(context.Background(), name)
		resp, err := roundTrip(t, tr, ctx, "http://a/")
		if err == nil {
			resp.Body.Close()
		} else if !errors.Is(err, machine.ErrOpen) {
			t.Fatal(err)
		}
		span.End()
	}
	want := map[string]string{"request-1": otelbridge.TransitionEvent, "request-2": otelbridge.RejectedEvent}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended", len(spans))
	}
	for _, sp := range spans {
		evs := sp.Events()
		if len(evs) != 1 || evs[0].Name != want[sp.Name()] {
			t.Errorf("span %s has events %v, want one %s", sp.Name(), evs, want[sp.Name()])
		}
	}
}
