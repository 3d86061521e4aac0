package otelbridge_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// outageSpanEvents are the span events of the scripted outage through a
// breaker called name: the trip on the fifth failure, a rejection on each
// of the three rejected calls with the rest of the 30s open period, the
// probe on the first call after it, and the recovery on the second probe
// success. No other span has an event.
func outageSpanEvents(name string) map[string][]wantEvent {
	return map[string][]wantEvent{
		"call-08": {failed(transitionEvent(name, 1, "closed", "open", "trip", "consecutive_failures", 5, 0, 5, 30))},
		"call-09": {rejectedEvent(name, "open", 30)},
		"call-10": {rejectedEvent(name, "open", 20)},
		"call-11": {rejectedEvent(name, "open", 10)},
		"call-12": {transitionEvent(name, 2, "open", "half_open", "probe", "open_timeout", 0, 0, 0)},
		"call-13": {transitionEvent(name, 3, "half_open", "closed", "recover", "probe_successes", 0, 2, 2)},
	}
}

// TestSpanEvents runs calls and operator actions each inside its own span,
// and checks exactly which spans got circuitry.breaker.transition and
// circuitry.breaker.rejected events, with every attribute.
func TestSpanEvents(t *testing.T) {
	op := func(note string) machine.Override { return machine.Override{Operator: "oncall", Note: note} }
	cases := []struct {
		name   string
		opts   []machine.Option
		script func(t *testing.T, r *rig, b *machine.Breaker)
		spans  int
		want   map[string][]wantEvent
	}{
		{
			name:   "outage",
			script: func(t *testing.T, r *rig, b *machine.Breaker) { r.run(t, b, outage) },
			spans:  len(outage),
			want:   outageSpanEvents("payments"),
		},
		{
			name: "manual controls, retrip and a half-open rejection",
			opts: []machine.Option{machine.WithProbeLimit(1)},
			script: func(t *testing.T, r *rig, b *machine.Breaker) {
				inSpan := func(name string, f func(ctx context.Context)) {
					ctx, sp := r.tracer.Start(context.Background(), name)
					defer sp.End()
					f(ctx)
				}
				inSpan("force-open", func(ctx context.Context) {
					o := op("maintenance")
					o.OpenFor = 5 * time.Second
					if err := b.ForceOpen(ctx, o); err != nil {
						t.Fatal(err)
					}
				})
				r.clock.Advance(5 * time.Second)
				r.call(t, b, "probe-fails", failure)
				r.call(t, b, "rejected-at-once", rejected)
				r.clock.Advance(12 * time.Second)
				r.call(t, b, "rejected-later", rejected)
				inSpan("force-half-open", func(ctx context.Context) {
					if err := b.ForceHalfOpen(ctx, op("test the fix")); err != nil {
						t.Fatal(err)
					}
				})
				inSpan("probe-held", func(ctx context.Context) {
					p, err := b.Allow(ctx)
					if err != nil {
						t.Fatalf("probe not admitted: %v", err)
					}
					r.call(t, b, "no-probe-slot", rejected)
					p.Done(nil) // one success of two: no transition
				})
				inSpan("force-close", func(ctx context.Context) {
					if err := b.ForceClose(ctx, op("fixed")); err != nil {
						t.Fatal(err)
					}
				})
			},
			spans: 8,
			want: map[string][]wantEvent{
				"force-open": {manual(transitionEvent("payments", 1, "closed", "open", "force_open", "manual", 0, 0, 0, 5), "oncall", "maintenance")},
				"probe-fails": {
					transitionEvent("payments", 2, "open", "half_open", "probe", "open_timeout", 0, 0, 0),
					failed(transitionEvent("payments", 3, "half_open", "open", "retrip", "probe_failure", 1, 0, 0, 30)),
				},
				"rejected-at-once": {rejectedEvent("payments", "open", 30)},
				"rejected-later":   {rejectedEvent("payments", "open", 18)},
				"force-half-open":  {manual(transitionEvent("payments", 4, "open", "half_open", "force_half_open", "manual", 0, 0, 0), "oncall", "test the fix")},
				"no-probe-slot":    {rejectedEvent("payments", "half_open", machine.MinRetryAfter.Seconds())},
				"force-close":      {manual(transitionEvent("payments", 5, "half_open", "closed", "force_close", "manual", 0, 0, 0), "oncall", "fixed")},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			b := r.newBreaker(t, "payments", c.opts...)
			c.script(t, r, b)
			ended := r.rec.Ended()
			if len(ended) != c.spans {
				t.Errorf("%d spans ended, want %d", len(ended), c.spans)
			}
			assertSpanEvents(t, ended, c.want)
		})
	}
}

// spySpan is a span that records the events added to it and says it is
// recording or not, as told.
type spySpan struct {
	noop.Span
	recording bool

	mu     sync.Mutex
	events []string
}

func (s *spySpan) IsRecording() bool { return s.recording }

func (s *spySpan) AddEvent(name string, _ ...trace.EventOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, name)
}

// TestUnsampledSpans checks that a span that is not recording gets no event:
// an unsampled span of the real SDK, and a span that counts the events
// added to it (which, recording, gets every event, so the count is real).
// The metrics are counted either way.
func TestUnsampledSpans(t *testing.T) {
	t.Run("sdk NeverSample", func(t *testing.T) {
		r := newRig(t, sdktrace.NeverSample())
		_, sp := r.tracer.Start(context.Background(), "probe")
		if !sp.SpanContext().IsValid() || sp.SpanContext().IsSampled() || sp.IsRecording() {
			t.Fatalf("NeverSample span: valid=%v sampled=%v recording=%v, want a valid, unsampled, non-recording span",
				sp.SpanContext().IsValid(), sp.SpanContext().IsSampled(), sp.IsRecording())
		}
		sp.End()
		b := r.newBreaker(t, "payments")
		r.observe(t, b)
		r.run(t, b, outage)
		if n := len(r.rec.Ended()) + len(r.rec.Started()); n != 0 {
			t.Errorf("%d spans recorded, want none", n)
		}
		want := metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
			transitionsMetric(
				transitionPoint("payments", "closed", "open", "trip", 1),
				transitionPoint("payments", "open", "half_open", "probe", 1),
				transitionPoint("payments", "half_open", "closed", "recover", 1),
			),
			stateMetric(statePoints("payments", events.Closed)...),
			callsMetric(callPoints("payments", outageSuccesses, outageFailures, outageIgnored, outageRejected)...),
		}, idle("payments")...)}
		metricdatatest.AssertEqual(t, want, r.collect(t), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	})

	for _, c := range []struct {
		name      string
		recording bool
		want      []string
	}{
		{name: "spy not recording"},
		{name: "spy recording", recording: true, want: []string{
			"circuitry.breaker.transition", // trip
			"circuitry.breaker.rejected",
			"circuitry.breaker.rejected",
			"circuitry.breaker.rejected",
			"circuitry.breaker.transition", // probe
			"circuitry.breaker.transition", // recover
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			b := r.newBreaker(t, "payments")
			spy := &spySpan{recording: c.recording}
			for _, s := range outage {
				r.clock.Advance(s.advance)
				ctx, cancel := context.WithCancel(context.Background())
				if s.outcome == ignored {
					cancel()
				}
				doCall(t, trace.ContextWithSpan(ctx, spy), b, s.span, s.outcome)
				cancel()
			}
			if !slices.Equal(spy.events, c.want) {
				t.Errorf("events added %q, want %q", spy.events, c.want)
			}
		})
	}
}

// TestLane checks that the bridge runs on the inline lane, as a span event
// needs the caller's live span.
func TestLane(t *testing.T) {
	r := newRig(t, nil)
	if got := hooks.LaneOf(r.bridge); got != hooks.LaneInline {
		t.Errorf("LaneOf(bridge) = %v, want %v", got, hooks.LaneInline)
	}
}

// TestTransitionEventFreeText checks that the trip event carries the text
// of the error that tripped the breaker, as the journal holds it, and that
// no metric carries it: free text goes on span events and log records,
// never on a metric stream.
func TestTransitionEventFreeText(t *testing.T) {
	r := newRig(t, nil)
	b := r.newBreaker(t, "payments", machine.WithFailureThreshold(1))
	r.observe(t, b)
	r.call(t, b, "trips", failure)
	ended := r.rec.Ended()
	if len(ended) != 1 || len(ended[0].Events()) != 1 {
		t.Fatalf("want one span with one event, got %d spans", len(ended))
	}
	ev := attribute.NewSet(ended[0].Events()[0].Attributes...)
	if v, ok := ev.Value("circuitry.breaker.reason.last_error"); !ok || v.AsString() != errDependency.Error() {
		t.Errorf("reason.last_error = %v (set: %v), want %q", v.String(), ok, errDependency.Error())
	}
	for _, m := range r.collect(t).Metrics {
		metricdatatest.AssertHasAttributes(t, m) // the metric reported
		for _, kv := range metricAttributes(m) {
			if kv.Value.Type() == attribute.STRING && kv.Value.AsString() == errDependency.Error() {
				t.Errorf("metric %s attribute %s carries the error text", m.Name, kv.Key)
			}
		}
	}
}

// metricAttributes returns the attributes of every data point of m.
func metricAttributes(m metricdata.Metrics) []attribute.KeyValue {
	var out []attribute.KeyValue
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes.ToSlice()...)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes.ToSlice()...)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes.ToSlice()...)
		}
	}
	return out
}
