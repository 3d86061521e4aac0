package otelbridge_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

func fallbackEvent(breaker, trigger, result string) wantEvent {
	return wantEvent{name: "circuitry.breaker.fallback", attrs: []attribute.KeyValue{
		attribute.String("circuitry.breaker.name", breaker),
		attribute.String("circuitry.breaker.fallback.trigger", trigger),
		attribute.String("circuitry.breaker.fallback.result", result),
	}}
}

// Fallbacks served and failed are counted by trigger and result, and mark
// the span of the call they stood in for, after the call's own events.
func TestFallbacks(t *testing.T) {
	r := newRig(t, nil)
	b, err := machine.New("prices", machine.WithClock(r.clock), machine.WithSubscribers(r.bridge),
		machine.WithFailureThreshold(1),
		machine.WithErrorHandler(func(err error) { t.Errorf("breaker reported: %v", err) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })

	errStale := errors.New("no cached price")
	failing := func(context.Context) (int, error) { return 0, errDependency }
	cached := func(context.Context, error) (int, error) { return 42, nil }
	stale := func(context.Context, error) (int, error) { return 0, errStale }
	inSpan := func(name string, fallback func(context.Context, error) (int, error)) (int, error) {
		ctx, span := r.tracer.Start(context.Background(), name)
		defer span.End()
		return machine.ExecuteFallback(ctx, b, failing, fallback, machine.OnFailure())
	}
	if v, err := inSpan("call-1", cached); v != 42 || err != nil { // fails, trips, served
		t.Fatalf("call-1: %d, %v", v, err)
	}
	if v, err := inSpan("call-2", cached); v != 42 || err != nil { // rejected, served
		t.Fatalf("call-2: %d, %v", v, err)
	}
	if _, err := inSpan("call-3", stale); !errors.Is(err, errStale) || !errors.Is(err, machine.ErrOpen) { // rejected, failed
		t.Fatalf("call-3: %v", err)
	}

	assertSpanEvents(t, r.rec.Ended(), map[string][]wantEvent{
		"call-1": {
			failed(transitionEvent("prices", 1, "closed", "open", "trip", "consecutive_failures", 1, 0, 1, 30)),
			fallbackEvent("prices", otelbridge.FallbackTriggerFailure, otelbridge.FallbackResultServed),
		},
		"call-2": {
			rejectedEvent("prices", "open", 30),
			fallbackEvent("prices", otelbridge.FallbackTriggerRejected, otelbridge.FallbackResultServed),
		},
		"call-3": {
			rejectedEvent("prices", "open", 30),
			fallbackEvent("prices", otelbridge.FallbackTriggerRejected, otelbridge.FallbackResultFailed),
		},
	})

	got, ok := metricNamed(r.collect(t), otelbridge.FallbacksName)
	if !ok {
		t.Fatalf("no %s metric", otelbridge.FallbacksName)
	}
	sum, ok := got.Data.(metricdata.Sum[int64])
	if !ok || !sum.IsMonotonic || sum.Temporality != metricdata.CumulativeTemporality || got.Unit != "{fallback}" ||
		got.Description != "Fallbacks served in place of rejected or failed calls, and fallbacks that failed." {
		t.Fatalf("%s is %+v, want a monotonic cumulative sum of {fallback}, described", otelbridge.FallbacksName, got)
	}
	counts := map[attribute.Distinct]int64{}
	for _, p := range sum.DataPoints {
		counts[p.Attributes.Equivalent()] += p.Value
	}
	want := map[[2]string]int64{
		{otelbridge.FallbackTriggerFailure, otelbridge.FallbackResultServed}:  1,
		{otelbridge.FallbackTriggerRejected, otelbridge.FallbackResultServed}: 1,
		{otelbridge.FallbackTriggerRejected, otelbridge.FallbackResultFailed}: 1,
		{otelbridge.FallbackTriggerFailure, otelbridge.FallbackResultFailed}:  0, // created at zero
	}
	if len(sum.DataPoints) != len(want) {
		t.Fatalf("%d data points %+v, want %d", len(sum.DataPoints), sum.DataPoints, len(want))
	}
	for k, n := range want {
		set := attribute.NewSet(otelbridge.KeyName.String("prices"), otelbridge.KeyFallbackTrigger.String(k[0]), otelbridge.KeyFallbackResult.String(k[1]))
		if got := counts[set.Equivalent()]; got != n {
			t.Errorf("fallbacks %v = %d, want %d", k, got, n)
		}
	}
}
