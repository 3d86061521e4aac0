package otelbridge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// TestNewInvalidOptions checks that New refuses each invalid option with an
// error that names it, and returns no bridge.
func TestNewInvalidOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []otelbridge.Option
		want string
	}{
		{
			name: "nil meter provider",
			opts: []otelbridge.Option{otelbridge.WithMeterProvider(nil)},
			want: "circuitry: otelbridge.WithMeterProvider(nil): must be a meter provider",
		},
		{
			name: "nil option",
			opts: []otelbridge.Option{otelbridge.WithSpanEvents(true), nil},
			want: "circuitry: otelbridge.New option 1(nil): must not be nil",
		},
		{
			name: "attribute without a key",
			opts: []otelbridge.Option{otelbridge.WithAttributes(attribute.String("region", "eu"), attribute.KeyValue{})},
			want: `circuitry: otelbridge.WithAttributes(""): is not a valid attribute`,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := otelbridge.New(c.opts...)
			if err == nil || err.Error() != c.want || !errors.Is(err, events.ErrInvalidOption) {
				t.Errorf("New: err = %v, want %q matching ErrInvalidOption", err, c.want)
			}
			if b != nil {
				t.Errorf("New returned a bridge with the error")
			}
		})
	}
}

// TestObserveInvalid checks that Observe refuses no breakers and a nil
// breaker with an error that says which, and returns no registration.
func TestObserveInvalid(t *testing.T) {
	r := newRig(t, nil)
	ok := r.newBreaker(t, "ok")
	for _, c := range []struct {
		name     string
		breakers []*machine.Breaker
		want     string
	}{
		{name: "no breakers", want: "circuitry: Observe: no breakers given"},
		{name: "nil breaker", breakers: []*machine.Breaker{ok, nil}, want: "circuitry: Observe: breaker 1 is nil"},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg, err := r.bridge.Observe(c.breakers...)
			if err == nil || err.Error() != c.want {
				t.Errorf("Observe: err = %v, want %q", err, c.want)
			}
			if reg != nil {
				t.Errorf("Observe returned a registration with the error")
			}
		})
	}
	// A refused Observe registered nothing.
	if sm := r.collect(t); len(sm.Metrics) != 0 {
		t.Errorf("metrics reported after refused Observe calls: %v", sm.Metrics)
	}
}

// TestDefaultMeterProvider checks that without WithMeterProvider the bridge
// uses the global meter provider as it is when New runs.
func TestDefaultMeterProvider(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetMeterProvider(mp)
	t.Cleanup(func() {
		otel.SetMeterProvider(noop.NewMeterProvider())
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	bridge, err := otelbridge.New()
	if err != nil {
		t.Fatal(err)
	}
	b, err := machine.New("global", machine.WithSubscribers(observedApart{bridge}))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := bridge.Observe(b)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	doCall(t, context.Background(), b, "call", success)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	want := metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
		callsMetric(callPoints("global", 1, 0, 0, 0)...),
		stateMetric(statePoints("global", events.Closed)...),
	}, idle("global")...)}
	if len(rm.ScopeMetrics) != 1 {
		t.Fatalf("%d scopes, want 1", len(rm.ScopeMetrics))
	}
	metricdatatest.AssertEqual(t, want, rm.ScopeMetrics[0], metricdatatest.IgnoreTimestamp())
}

// brokenMeter fails to create every instrument the bridge asks for (the
// synchronous ones come back nil) and to register callbacks.
type brokenMeter struct{ noop.Meter }

var errBroken = errors.New("meter broken")

func (brokenMeter) Int64Counter(name string, _ ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return nil, fmt.Errorf("%s: %w", name, errBroken)
}

func (brokenMeter) Float64Histogram(name string, _ ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	return nil, fmt.Errorf("%s: %w", name, errBroken)
}

func (m brokenMeter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	c, _ := m.Meter.Int64ObservableCounter(name, opts...)
	return c, fmt.Errorf("%s: %w", name, errBroken)
}

func (m brokenMeter) Float64ObservableGauge(name string, opts ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	g, _ := m.Meter.Float64ObservableGauge(name, opts...)
	return g, fmt.Errorf("%s: %w", name, errBroken)
}

func (m brokenMeter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	g, _ := m.Meter.Int64ObservableGauge(name, opts...)
	return g, fmt.Errorf("%s: %w", name, errBroken)
}

func (brokenMeter) RegisterCallback(metric.Callback, ...metric.Observable) (metric.Registration, error) {
	return nil, errBroken
}

type brokenProvider struct{ noop.MeterProvider }

func (brokenProvider) Meter(string, ...metric.MeterOption) metric.Meter { return brokenMeter{} }

// TestInstrumentErrors checks that instrument creation errors go to
// otel.Handle (one joined error naming every instrument) without failing
// New, that the bridge then still serves its breaker (span events, no
// panic for the missing instruments), and that a callback the meter refuses
// makes Observe fail.
func TestInstrumentErrors(t *testing.T) {
	var handled []error
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { handled = append(handled, err) }))
	t.Cleanup(func() { otel.SetErrorHandler(prev) })

	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(brokenProvider{}), otelbridge.WithCallDuration(true))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if len(handled) != 1 {
		t.Fatalf("otel.Handle got %d errors, want 1", len(handled))
	}
	for _, name := range []string{
		"circuitry.breaker.transitions", "circuitry.breaker.calls", "circuitry.breaker.state",
		"circuitry.breaker.journal.errors", "circuitry.breaker.subscriber.errors", "circuitry.breaker.call.duration",
		"circuitry.breaker.policy.failures", "circuitry.breaker.policy.rate", "circuitry.breaker.policy.min_calls",
	} {
		if !strings.Contains(handled[0].Error(), name+": meter broken") {
			t.Errorf("handled error %q does not name %s", handled[0], name)
		}
	}

	r := newRig(t, nil)
	b, err := machine.New("broken", machine.WithClock(r.clock), machine.WithSubscribers(observedApart{bridge}), machine.WithFailureThreshold(1))
	if err != nil {
		t.Fatal(err)
	}
	r.call(t, b, "timed success", success)
	r.call(t, b, "trips", failure)
	r.call(t, b, "rejected", rejected)
	assertSpanEvents(t, r.rec.Ended(), map[string][]wantEvent{
		"trips":    {failed(transitionEvent("broken", 1, "closed", "open", "trip", "consecutive_failures", 1, 0, 1, 30))},
		"rejected": {rejectedEvent("broken", "open", 30)},
	})

	reg, err := bridge.Observe(b)
	if want := "circuitry: Observe: meter broken"; err == nil || err.Error() != want || !errors.Is(err, errBroken) {
		t.Errorf("Observe: err = %v, want %q wrapping the meter's error", err, want)
	}
	if reg != nil {
		t.Error("Observe returned a registration with the error")
	}
}
