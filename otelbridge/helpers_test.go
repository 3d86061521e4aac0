package otelbridge_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// t0 is where every fake clock starts.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var errDependency = errors.New("dependency failed")

// The outcome attribute values, and what a scripted call is expected to come
// to.
const (
	success  = "success"
	failure  = "failure"
	ignored  = "ignored"
	rejected = "rejected"
)

// The instruments' descriptions, spelled out so that a change to one is a
// test failure.
const (
	transitionsDesc = "Transitions of circuit breakers between states."
	callsDesc       = "Calls through circuit breakers, by outcome: success, failure, ignored or rejected."
	stateDesc       = "Circuit breaker state: 1 for the current state, 0 for the others."
	durationDesc    = "Duration of calls admitted by circuit breakers, by outcome."

	journalErrorsDesc = "Journal appends that failed; the breaker kept the records and retries them."
	fallbacksDesc     = "Fallbacks served in place of rejected or failed calls, and fallbacks that failed."

	policyFailuresDesc      = "Failures a trip policy counts now: in a row for consecutive_failures, in the window for the others."
	policyThresholdDesc     = "Failures in a row that trip the consecutive_failures policy."
	policyCallsDesc         = "Calls in a trip policy's window."
	policySlowDesc          = "Slow calls in a trip policy's window."
	policyRateDesc          = "The rate a trip policy computes now, in percent; -1 below its minimum calls."
	policyRateThresholdDesc = "The rate at or above which a trip policy trips, in percent."
	policyMinCallsDesc      = "The fewest calls in its window for which a trip policy computes a rate."
	subscriberErrorsDesc    = "Transitions a subscriber did not get: panics recovered, and transitions dropped by a full queue."
)

// durationBounds are the histogram's bucket boundaries in seconds.
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// rig is a bridge wired to the real OpenTelemetry SDK: a manual metric
// reader, a span recorder, and a fake clock for the breakers.
type rig struct {
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
	rec    *tracetest.SpanRecorder
	tracer trace.Tracer
	clock  *clocktest.Clock
	bridge *otelbridge.Bridge
}

// newRig builds a rig whose tracer provider samples with sampler (nil: the
// SDK's default, which samples every root span) and whose bridge has opts
// after WithMeterProvider.
func newRig(t testing.TB, sampler sdktrace.Sampler, opts ...otelbridge.Option) *rig {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	rec := tracetest.NewSpanRecorder()
	topts := []sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(rec)}
	if sampler != nil {
		topts = append(topts, sdktrace.WithSampler(sampler))
	}
	tp := sdktrace.NewTracerProvider(topts...)
	t.Cleanup(func() {
		ctx := context.Background()
		if err := mp.Shutdown(ctx); err != nil {
			t.Errorf("meter provider shutdown: %v", err)
		}
		if err := tp.Shutdown(ctx); err != nil {
			t.Errorf("tracer provider shutdown: %v", err)
		}
	})
	bridge, err := otelbridge.New(append([]otelbridge.Option{otelbridge.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		t.Fatalf("otelbridge.New: %v", err)
	}
	return &rig{
		mp:     mp,
		reader: reader,
		rec:    rec,
		tracer: tp.Tracer("otelbridge_test"),
		clock:  clocktest.New(t0),
		bridge: bridge,
	}
}

// newBreaker returns a breaker on the rig's clock with the bridge
// subscribed; any error the breaker reports fails the test.
// observedApart is the bridge as a subscriber that does not observe the
// breaker itself (it hides ObserveBreaker), for the tests of Observe and
// Unregister, which register breakers themselves.
type observedApart struct{ b *otelbridge.Bridge }

func (o observedApart) Notify(ctx context.Context, t events.Transition) { o.b.Notify(ctx, t) }
func (o observedApart) Lane() hooks.Lane                                { return o.b.Lane() }
func (o observedApart) CallRejected(ctx context.Context, err *machine.OpenError) {
	o.b.CallRejected(ctx, err)
}
func (o observedApart) TimesCalls() bool { return o.b.TimesCalls() }
func (o observedApart) CallFinished(ctx context.Context, name string, out machine.Outcome, d time.Duration) {
	o.b.CallFinished(ctx, name, out, d)
}

func (r *rig) newBreaker(t testing.TB, name string, opts ...machine.Option) *machine.Breaker {
	t.Helper()
	all := []machine.Option{
		machine.WithClock(r.clock),
		machine.WithSubscribers(observedApart{r.bridge}),
		machine.WithErrorHandler(func(err error) { t.Errorf("breaker %s reported: %v", name, err) }),
	}
	b, err := machine.New(name, append(all, opts...)...)
	if err != nil {
		t.Fatalf("machine.New(%q): %v", name, err)
	}
	return b
}

// observe registers breakers with the bridge and unregisters them when the
// test ends.
func (r *rig) observe(t testing.TB, breakers ...*machine.Breaker) *otelbridge.Registration {
	t.Helper()
	reg, err := r.bridge.Observe(breakers...)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	t.Cleanup(func() {
		if err := reg.Unregister(); err != nil {
			t.Errorf("Unregister: %v", err)
		}
	})
	return reg
}

// step is one scripted call: the fake clock moves by advance, then a call
// runs inside its own span and must come to outcome. A success returns nil,
// a failure errDependency, and an ignored call is made with a cancelled
// context and returns its error.
type step struct {
	advance time.Duration
	span    string
	outcome string
}

// outage is the scripted outage that most tests run through a breaker with
// the default settings (trip after 5 failures, 30s open, 2 probe successes):
// two successes and an ignored call, five failures (the fifth trips), three
// rejections 10s apart, then 10s more ends the open period, a probe
// succeeds, a second success recovers, and one more succeeds.
var outage = []step{
	{span: "call-01", outcome: success},
	{span: "call-02", outcome: success},
	{span: "call-03", outcome: ignored},
	{span: "call-04", outcome: failure},
	{span: "call-05", outcome: failure},
	{span: "call-06", outcome: failure},
	{span: "call-07", outcome: failure},
	{span: "call-08", outcome: failure}, // trips
	{span: "call-09", outcome: rejected},
	{advance: 10 * time.Second, span: "call-10", outcome: rejected},
	{advance: 10 * time.Second, span: "call-11", outcome: rejected},
	{advance: 10 * time.Second, span: "call-12", outcome: success}, // probes
	{span: "call-13", outcome: success},                            // recovers
	{span: "call-14", outcome: success},
}

// The outage's totals by outcome.
const (
	outageSuccesses = 5
	outageFailures  = 5
	outageIgnored   = 1
	outageRejected  = 3
)

// run plays steps through b.
func (r *rig) run(t testing.TB, b *machine.Breaker, steps []step) {
	t.Helper()
	for _, s := range steps {
		r.clock.Advance(s.advance)
		r.call(t, b, s.span, s.outcome)
	}
}

// call makes one call through b inside a new span named span (from the rig's
// tracer) and checks that it came to outcome.
func (r *rig) call(t testing.TB, b *machine.Breaker, span, outcome string) {
	t.Helper()
	ctx := context.Background()
	if outcome == ignored {
		c, cancel := context.WithCancel(ctx)
		cancel()
		ctx = c
	}
	ctx, sp := r.tracer.Start(ctx, span)
	defer sp.End()
	doCall(t, ctx, b, span, outcome)
}

// doCall makes one call through b with ctx and checks that it came to
// outcome.
func doCall(t testing.TB, ctx context.Context, b *machine.Breaker, label, outcome string) {
	t.Helper()
	ran := false
	err := b.Do(ctx, func(ctx context.Context) error {
		ran = true
		switch outcome {
		case failure:
			return errDependency
		case ignored:
			return ctx.Err()
		}
		return nil
	})
	switch outcome {
	case rejected:
		if ran || !errors.Is(err, machine.ErrOpen) {
			t.Fatalf("%s: ran=%v err=%v, want a rejection", label, ran, err)
		}
	case success:
		if !ran || err != nil {
			t.Fatalf("%s: ran=%v err=%v, want a success", label, ran, err)
		}
	case failure:
		if !ran || !errors.Is(err, errDependency) {
			t.Fatalf("%s: ran=%v err=%v, want the dependency's failure", label, ran, err)
		}
	case ignored:
		if !ran || !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: ran=%v err=%v, want the caller's cancellation", label, ran, err)
		}
	default:
		t.Fatalf("%s: unknown outcome %q", label, outcome)
	}
}

// collect reads the rig's metrics and returns the bridge's scope; it fails
// the test if any other scope reported.
func (r *rig) collect(t testing.TB) metricdata.ScopeMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	switch len(rm.ScopeMetrics) {
	case 0:
		return metricdata.ScopeMetrics{}
	case 1:
		if got := rm.ScopeMetrics[0].Scope.Name; got != otelbridge.ScopeName {
			t.Fatalf("scope %q, want %q", got, otelbridge.ScopeName)
		}
		return rm.ScopeMetrics[0]
	}
	t.Fatalf("%d scopes reported, want 1", len(rm.ScopeMetrics))
	return metricdata.ScopeMetrics{}
}

// metricNamed returns the metric called name in sm.
func metricNamed(sm metricdata.ScopeMetrics, name string) (metricdata.Metrics, bool) {
	for _, m := range sm.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return metricdata.Metrics{}, false
}

// set builds an attribute set from kvs followed by extra.
func set(kvs []attribute.KeyValue, extra ...attribute.KeyValue) attribute.Set {
	return attribute.NewSet(append(slices.Clone(kvs), extra...)...)
}

func transitionsMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuitry.breaker.transitions",
		Description: transitionsDesc,
		Unit:        "{transition}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints:  points,
		},
	}
}

func transitionPoint(breaker, from, to, event string, n int64, extra ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{
		Attributes: set([]attribute.KeyValue{
			attribute.String("circuitry.breaker.name", breaker),
			attribute.String("circuitry.breaker.from", from),
			attribute.String("circuitry.breaker.to", to),
			attribute.String("circuitry.breaker.event", event),
		}, extra...),
		Value: n,
	}
}

func callsMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuitry.breaker.calls",
		Description: callsDesc,
		Unit:        "{call}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints:  points,
		},
	}
}

// callPoints are one breaker's four call streams.
func callPoints(breaker string, successes, failures, ignores, rejections int64, extra ...attribute.KeyValue) []metricdata.DataPoint[int64] {
	var ps []metricdata.DataPoint[int64]
	for _, o := range []struct {
		outcome string
		n       int64
	}{{success, successes}, {failure, failures}, {ignored, ignores}, {rejected, rejections}} {
		ps = append(ps, metricdata.DataPoint[int64]{
			Attributes: set([]attribute.KeyValue{
				attribute.String("circuitry.breaker.name", breaker),
				attribute.String("circuitry.breaker.outcome", o.outcome),
			}, extra...),
			Value: o.n,
		})
	}
	return ps
}

func stateMetric(points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuitry.breaker.state",
		Description: stateDesc,
		Unit:        "{state}",
		Data:        metricdata.Gauge[int64]{DataPoints: points},
	}
}

// statePoints are one enforcing breaker's three state streams: 1 for
// current, 0 for the others, not forced.
func statePoints(breaker string, current events.State, extra ...attribute.KeyValue) []metricdata.DataPoint[int64] {
	return statePointsOf(breaker, "enforcing", false, current, extra...)
}

// forcedStatePoints are the state streams of an enforcing breaker whose
// current state an operator set.
func forcedStatePoints(breaker string, current events.State, extra ...attribute.KeyValue) []metricdata.DataPoint[int64] {
	return statePointsOf(breaker, "enforcing", true, current, extra...)
}

// modeStatePoints are the three state streams of a breaker in mode, not
// forced.
func modeStatePoints(breaker, mode string, current events.State, extra ...attribute.KeyValue) []metricdata.DataPoint[int64] {
	return statePointsOf(breaker, mode, false, current, extra...)
}

// statePointsOf are the three state streams of a breaker in mode.
func statePointsOf(breaker, mode string, forced bool, current events.State, extra ...attribute.KeyValue) []metricdata.DataPoint[int64] {
	var ps []metricdata.DataPoint[int64]
	for _, s := range []events.State{events.Closed, events.Open, events.HalfOpen} {
		v := int64(0)
		if s == current {
			v = 1
		}
		ps = append(ps, metricdata.DataPoint[int64]{
			Attributes: set([]attribute.KeyValue{
				attribute.String("circuitry.breaker.name", breaker),
				attribute.String("circuitry.breaker.state", s.String()),
				attribute.String("circuitry.breaker.mode", mode),
				attribute.Bool("circuitry.breaker.forced", forced),
			}, extra...),
			Value: v,
		})
	}
	return ps
}

// consecutive is what a breaker's consecutive_failures policy sees: the
// failures in a row and the threshold.
type consecutive struct {
	breaker             string
	failures, threshold int64
}

// consecutiveMetrics are the circuitry.breaker.policy.failures and
// .threshold gauges of breakers that have only the consecutive_failures
// policy, with extra on every data point.
func consecutiveMetrics(extra []attribute.KeyValue, cs ...consecutive) []metricdata.Metrics {
	var failures, threshold []metricdata.DataPoint[int64]
	for _, c := range cs {
		attrs := set([]attribute.KeyValue{
			attribute.String("circuitry.breaker.name", c.breaker),
			attribute.String("circuitry.breaker.policy", "consecutive_failures"),
		}, extra...)
		failures = append(failures, metricdata.DataPoint[int64]{Attributes: attrs, Value: c.failures})
		threshold = append(threshold, metricdata.DataPoint[int64]{Attributes: attrs, Value: c.threshold})
	}
	return []metricdata.Metrics{
		intGauge("circuitry.breaker.policy.failures", policyFailuresDesc, "{call}", failures...),
		intGauge("circuitry.breaker.policy.threshold", policyThresholdDesc, "{call}", threshold...),
	}
}

func intGauge(name, desc, unit string, points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Description: desc, Unit: unit, Data: metricdata.Gauge[int64]{DataPoints: points}}
}

func floatGauge(name, desc, unit string, points ...metricdata.DataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Description: desc, Unit: unit, Data: metricdata.Gauge[float64]{DataPoints: points}}
}

// idle are the error metrics and policy figures of breakers with the
// default policy where nothing failed and no failure is counted in a row:
// every error stream 0, 0 failures of 5.
func idle(breakers ...string) []metricdata.Metrics {
	return idleAt(machine.DefaultFailureThreshold, breakers...)
}

// idleAt is idle for breakers whose threshold is threshold.
func idleAt(threshold int64, breakers ...string) []metricdata.Metrics {
	var cs []consecutive
	for _, b := range breakers {
		cs = append(cs, consecutive{breaker: b, threshold: threshold})
	}
	return append(noFaults(breakers...), consecutiveMetrics(nil, cs...)...)
}

// faults are the error counts one breaker should report: journal appends
// that failed, subscriber panics, and transitions dropped by a full queue.
type faults struct {
	breaker                  string
	journal, panics, dropped int64
}

// faultMetrics are the circuitry.breaker.journal.errors and
// circuitry.breaker.subscriber.errors metrics of the given breakers, with
// extra on every data point.
func faultMetrics(extra []attribute.KeyValue, fs ...faults) []metricdata.Metrics {
	var journal, subscriber []metricdata.DataPoint[int64]
	for _, f := range fs {
		name := attribute.String("circuitry.breaker.name", f.breaker)
		journal = append(journal, metricdata.DataPoint[int64]{
			Attributes: set([]attribute.KeyValue{name}, extra...),
			Value:      f.journal,
		})
		for _, e := range []struct {
			typ string
			n   int64
		}{{"panic", f.panics}, {"queue_full", f.dropped}} {
			subscriber = append(subscriber, metricdata.DataPoint[int64]{
				Attributes: set([]attribute.KeyValue{name, attribute.String("error.type", e.typ)}, extra...),
				Value:      e.n,
			})
		}
	}
	counter := func(name, desc string, points []metricdata.DataPoint[int64]) metricdata.Metrics {
		return metricdata.Metrics{
			Name:        name,
			Description: desc,
			Unit:        "{error}",
			Data: metricdata.Sum[int64]{
				Temporality: metricdata.CumulativeTemporality,
				IsMonotonic: true,
				DataPoints:  points,
			},
		}
	}
	return []metricdata.Metrics{
		counter("circuitry.breaker.journal.errors", journalErrorsDesc, journal),
		counter("circuitry.breaker.subscriber.errors", subscriberErrorsDesc, subscriber),
	}
}

// noFaults are the error metrics of breakers where nothing failed: every
// stream reports 0.
func noFaults(breakers ...string) []metricdata.Metrics {
	var fs []faults
	for _, b := range breakers {
		fs = append(fs, faults{breaker: b})
	}
	return faultMetrics(nil, fs...)
}

func durationMetric(points ...metricdata.HistogramDataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{
		Name:        "circuitry.breaker.call.duration",
		Description: durationDesc,
		Unit:        "s",
		Data: metricdata.Histogram[float64]{
			Temporality: metricdata.CumulativeTemporality,
			DataPoints:  points,
		},
	}
}

// wantEvent is an expected span event.
type wantEvent struct {
	name  string
	attrs []attribute.KeyValue
}

// transitionEvent is the circuitry.breaker.transition event; openFor is
// given (in seconds) for a transition to open.
func transitionEvent(breaker string, seq int64, from, to, event, policy string, failures, successes, threshold int64, openFor ...float64) wantEvent {
	attrs := []attribute.KeyValue{
		attribute.String("circuitry.breaker.name", breaker),
		attribute.String("circuitry.breaker.from", from),
		attribute.String("circuitry.breaker.to", to),
		attribute.String("circuitry.breaker.event", event),
		attribute.Int64("circuitry.breaker.seq", seq),
		attribute.String("circuitry.breaker.reason.policy", policy),
	}
	// The reason's fields that are set (events.Reason.Fields), each once.
	for _, f := range []struct {
		name string
		n    int64
	}{{"failures", failures}, {"successes", successes}, {"threshold", threshold}} {
		if f.n != 0 {
			attrs = append(attrs, attribute.Int64("circuitry.breaker.reason."+f.name, f.n))
		}
	}
	for _, d := range openFor {
		attrs = append(attrs, attribute.Float64("circuitry.breaker.open_for", d))
	}
	// The rigs' breakers write as this process.
	attrs = append(attrs, attribute.String("circuitry.breaker.writer", machine.DefaultWriter()))
	return wantEvent{name: "circuitry.breaker.transition", attrs: attrs}
}

// failed is e, the event of a transition a failure caused, with the
// failure's text (errDependency's), as the journal holds it.
func failed(e wantEvent) wantEvent {
	return withAttrs(e, attribute.String("circuitry.breaker.reason.last_error", errDependency.Error()))
}

// manual is e, the event of a manual control, with the operator and note.
func manual(e wantEvent, operator, note string) wantEvent {
	return withAttrs(e,
		attribute.String("circuitry.breaker.reason.operator", operator),
		attribute.String("circuitry.breaker.reason.note", note))
}

// withAttrs returns e with more attributes.
func withAttrs(e wantEvent, kvs ...attribute.KeyValue) wantEvent {
	e.attrs = append(e.attrs, kvs...)
	return e
}

// rejectedEvent is the circuitry.breaker.rejected event.
func rejectedEvent(breaker, state string, retryAfter float64) wantEvent {
	return wantEvent{name: "circuitry.breaker.rejected", attrs: []attribute.KeyValue{
		attribute.String("circuitry.breaker.name", breaker),
		attribute.String("circuitry.breaker.state", state),
		attribute.Float64("circuitry.breaker.retry_after", retryAfter),
	}}
}

// assertSpanEvents checks that the ended spans have unique names, that
// every span named in want ended, and that each span carries exactly the
// events want lists for it (none when absent), in order, each with exactly
// its attributes plus extra.
func assertSpanEvents(t testing.TB, ended []sdktrace.ReadOnlySpan, want map[string][]wantEvent, extra ...attribute.KeyValue) {
	t.Helper()
	seen := map[string]bool{}
	for _, sp := range ended {
		name := sp.Name()
		if seen[name] {
			t.Errorf("span %q ended twice", name)
			continue
		}
		seen[name] = true
		got, exp := sp.Events(), want[name]
		if len(got) != len(exp) {
			t.Errorf("span %q has %d events %v, want %d", name, len(got), eventNames(got), len(exp))
			continue
		}
		for i, ev := range got {
			w := exp[i]
			if ev.Name != w.name {
				t.Errorf("span %q event %d is %q, want %q", name, i, ev.Name, w.name)
				continue
			}
			gotSet, wantSet := attribute.NewSet(ev.Attributes...), set(w.attrs, extra...)
			if len(ev.Attributes) != wantSet.Len() || !gotSet.Equals(&wantSet) {
				t.Errorf("span %q event %q attributes\n got %v\nwant %v", name, ev.Name, ev.Attributes, wantSet.ToSlice())
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("span %q never ended", name)
		}
	}
}

func eventNames(evs []sdktrace.Event) []string {
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	return names
}
