package circuitry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// callKey marks the context of each call of the script with the call's
// name, so that subscribers can say which call caused a transition.
type callKey struct{}

func withCall(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, callKey{}, name)
}

// spans starts one span per call of the script, so that the OpenTelemetry
// bridge's span events can be checked per call; end ends them all.
type spans struct {
	tracer trace.Tracer
	live   map[string]trace.Span
	ctxs   map[string]context.Context
}

// ctx returns the context of the named call: its span, and its name.
func (s *spans) ctx(parent context.Context, name string) context.Context {
	if ctx, ok := s.ctxs[name]; ok {
		return ctx
	}
	ctx, span := s.tracer.Start(withCall(parent, name), name)
	s.live[name], s.ctxs[name] = span, ctx
	return ctx
}

func (s *spans) end() {
	for _, sp := range s.live {
		sp.End()
	}
}

func callOf(ctx context.Context) string {
	name, _ := ctx.Value(callKey{}).(string)
	return name
}

// delivery is one transition as a subscriber saw it, with the call that
// caused it.
type delivery struct {
	Call string
	T    events.Transition
}

var errDown = errors.New("payments API: 503 Service Unavailable")

// TestOutageAndRecovery drives a breaker with the default thresholds (5
// failures, 30s, 2 successes) through a scripted outage on a fake clock:
// closed, 5 failures, trip, rejections, timeout, probe, probe failure,
// retrip, timeout, probes, 2 successes, recover; then an operator's
// force_open and force_close. It checks, through the public API only, every
// transition record, the journal and its JSON lines encoding, what an inline
// subscriber, a queued subscriber and hooks.Slog saw, the OpenTelemetry span
// events on each call's span and the bridge's metrics (through the real SDK),
// the counts, and that replaying the journal gives the breaker's own snapshot
// and state.
func TestOutageAndRecovery(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clk := clocktest.New(t0)
	journal, err := events.NewMemory(events.DefaultMemoryCapacity)
	if err != nil {
		t.Fatal(err)
	}

	// Subscribers. The inline one runs on the goroutine of the call that
	// caused the transition (this test's), so it needs no lock: the race
	// detector would see it run anywhere else.
	var inline []delivery
	inlineSub := hooks.Inline(hooks.Func(func(ctx context.Context, tr events.Transition) {
		inline = append(inline, delivery{callOf(ctx), tr})
	}))
	var (
		qmu    sync.Mutex
		queued []delivery
	)
	queuedSub := hooks.Func(func(ctx context.Context, tr events.Transition) {
		qmu.Lock()
		defer qmu.Unlock()
		queued = append(queued, delivery{callOf(ctx), tr})
	})
	var logs bytes.Buffer // written by the dispatcher goroutine; read after Flush
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	// OpenTelemetry, through the real SDK: a span per call, and a manual
	// metric reader.
	spanRec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spanRec))
	defer tp.Shutdown(ctx)
	calls := &spans{tracer: tp.Tracer("script"), live: map[string]trace.Span{}, ctxs: map[string]context.Context{}}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	subscribers := []hooks.Subscriber{inlineSub, queuedSub, hooks.Slog(logger), bridge}

	b, err := machine.New("payments",
		machine.WithWriter("payments-1"),
		machine.WithClock(clk),
		machine.WithJournal(journal),
		machine.WithSubscribers(subscribers...),
		machine.WithErrorHandler(func(err error) { t.Errorf("error handler: %v", err) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The bridge as a subscriber is the one step: its instruments read the
	// breaker until Close.
	defer func() {
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	// do runs one call through Do and reports whether fn ran.
	do := func(call string, result error, latency time.Duration) (ran bool, err error) {
		t.Helper()
		err = b.Do(calls.ctx(ctx, call), func(context.Context) error {
			ran = true
			clk.Advance(latency)
			return result
		})
		return ran, err
	}
	mustRun := func(call string, result error, latency time.Duration) {
		t.Helper()
		ran, err := do(call, result, latency)
		if !ran || err != result {
			t.Fatalf("%s: ran %v, err %v; want ran, err %v", call, ran, err, result)
		}
	}
	mustReject := func(call string, state events.State, until time.Time, retryAfter time.Duration) {
		t.Helper()
		ran, err := do(call, nil, 0)
		if ran {
			t.Fatalf("%s: the protected function ran; want a rejection", call)
		}
		checkRejection(t, call, err, state, until, retryAfter)
	}
	wantState := func(step string, want events.State) {
		t.Helper()
		if got := b.State(); got != want {
			t.Fatalf("after %s: State() = %s, want %s", step, got, want)
		}
	}
	// wantInline checks that the inline subscriber has seen n transitions
	// when the call that caused the last of them returns.
	wantInline := func(step string, n int) {
		t.Helper()
		if len(inline) != n {
			t.Fatalf("after %s returned: the inline subscriber saw %d transitions, want %d", step, len(inline), n)
		}
	}

	// Closed: successes, then five consecutive failures trip the breaker.
	for _, call := range []string{"ok-1", "ok-2", "ok-3"} {
		mustRun(call, nil, 0)
	}
	clk.Advance(time.Minute) // t0+1m
	for _, call := range []string{"fail-1", "fail-2", "fail-3", "fail-4"} {
		mustRun(call, errDown, 0)
	}
	wantState("fail-4", events.Closed)
	if got := b.Counts().ConsecutiveFailures; got != 4 {
		t.Fatalf("after fail-4: ConsecutiveFailures = %d, want 4", got)
	}
	mustRun("fail-5", errDown, 0)
	wantState("fail-5", events.Open)
	wantInline("fail-5", 1)

	// Open: calls are rejected without running until the open period ends.
	openUntil := t0.Add(time.Minute + 30*time.Second)
	mustReject("rejected-1", events.Open, openUntil, 30*time.Second)
	clk.Advance(10 * time.Second)
	mustReject("rejected-2", events.Open, openUntil, 20*time.Second)
	clk.Advance(19 * time.Second)
	mustReject("rejected-3", events.Open, openUntil, time.Second)
	clk.Advance(time.Second) // t0+1m30s: the open period is over

	// The next call probes; it fails after 250ms, which re-trips.
	mustRun("probe-1", errDown, 250*time.Millisecond)
	wantState("probe-1", events.Open)
	wantInline("probe-1", 3)
	reopenUntil := t0.Add(2*time.Minute + 250*time.Millisecond)
	mustReject("rejected-4", events.Open, reopenUntil, 30*time.Second)
	clk.Advance(30 * time.Second) // t0+2m0.25s

	// Half-open: two probes are admitted (the probe limit defaults to the
	// success threshold), a third call is rejected, two successes recover.
	p2, err := b.Allow(calls.ctx(ctx, "probe-2"))
	if err != nil {
		t.Fatalf("probe-2: Allow: %v", err)
	}
	wantInline("probe-2 Allow", 4)
	p3, err := b.Allow(calls.ctx(ctx, "probe-3"))
	if err != nil {
		t.Fatalf("probe-3: Allow: %v", err)
	}
	_, err = b.Allow(calls.ctx(ctx, "rejected-5"))
	checkRejection(t, "rejected-5", err, events.HalfOpen, time.Time{}, machine.MinRetryAfter)
	if c := b.Counts(); c.Probes != 2 || c.ProbeSuccesses != 0 {
		t.Fatalf("two probes admitted: Probes %d, ProbeSuccesses %d; want 2, 0", c.Probes, c.ProbeSuccesses)
	}
	clk.Advance(100 * time.Millisecond) // t0+2m0.35s
	p2.Done(nil)
	wantState("probe-2 Done", events.HalfOpen)
	if c := b.Counts(); c.Probes != 1 || c.ProbeSuccesses != 1 {
		t.Fatalf("one probe succeeded: Probes %d, ProbeSuccesses %d; want 1, 1", c.Probes, c.ProbeSuccesses)
	}
	p3.Done(nil)
	wantState("probe-3 Done", events.Closed)
	wantInline("probe-3 Done", 5)
	v, err := machine.Execute(calls.ctx(ctx, "ok-4"), b, func(context.Context) (int, error) { return 42, nil })
	if v != 42 || err != nil {
		t.Fatalf("ok-4: Execute = %d, %v; want 42, nil", v, err)
	}

	// An operator opens the breaker for a maintenance window, then closes it.
	clk.Advance(time.Hour) // t0+1h2m0.35s
	opCtx := calls.ctx(ctx, "operator")
	if err := b.ForceOpen(opCtx, machine.Override{Operator: "alice@ops", Note: "maintenance window", OpenFor: 15 * time.Minute}); err != nil {
		t.Fatalf("ForceOpen: %v", err)
	}
	wantInline("ForceOpen", 6)
	mustReject("rejected-6", events.Open, t0.Add(time.Hour+17*time.Minute+350*time.Millisecond), 15*time.Minute)
	clk.Advance(5 * time.Minute) // t0+1h7m0.35s
	if err := b.ForceClose(opCtx, machine.Override{Operator: "alice@ops", Note: "maintenance done"}); err != nil {
		t.Fatalf("ForceClose: %v", err)
	}
	wantInline("ForceClose", 7)
	mustRun("ok-5", nil, 0)
	wantState("ok-5", events.Closed)

	if err := b.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	// The transitions, exactly.
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	want := []events.Transition{
		{Breaker: "payments", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open,
			Time: at(time.Minute), OpenFor: 30 * time.Second,
			Reason: events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: errDown.Error()}},
		{Breaker: "payments", Seq: 2, Event: events.Probe, From: events.Open, To: events.HalfOpen,
			Time:   at(time.Minute + 30*time.Second),
			Reason: events.Reason{Policy: events.PolicyOpenTimeout}},
		{Breaker: "payments", Seq: 3, Event: events.Retrip, From: events.HalfOpen, To: events.Open,
			Time: at(time.Minute + 30*time.Second + 250*time.Millisecond), OpenFor: 30 * time.Second,
			Reason: events.Reason{Policy: events.PolicyProbeFailure, Failures: 1, LastError: errDown.Error()}},
		{Breaker: "payments", Seq: 4, Event: events.Probe, From: events.Open, To: events.HalfOpen,
			Time:   at(2*time.Minute + 250*time.Millisecond),
			Reason: events.Reason{Policy: events.PolicyOpenTimeout}},
		{Breaker: "payments", Seq: 5, Event: events.Recover, From: events.HalfOpen, To: events.Closed,
			Time:   at(2*time.Minute + 350*time.Millisecond),
			Reason: events.Reason{Policy: events.PolicyProbeSuccesses, Successes: 2, Threshold: 2}},
		{Breaker: "payments", Seq: 6, Event: events.ForceOpen, From: events.Closed, To: events.Open,
			Time: at(time.Hour + 2*time.Minute + 350*time.Millisecond), OpenFor: 15 * time.Minute,
			Reason: events.Reason{Policy: events.PolicyManual, Operator: "alice@ops", Note: "maintenance window"}},
		{Breaker: "payments", Seq: 7, Event: events.ForceClose, From: events.Open, To: events.Closed,
			Time:   at(time.Hour + 7*time.Minute + 350*time.Millisecond),
			Reason: events.Reason{Policy: events.PolicyManual, Operator: "alice@ops", Note: "maintenance done"}},
	}
	// Every record names its writer and carries an ID of its own.
	history, err := journal.Read(ctx, "payments", 0)
	if err != nil {
		t.Fatalf("journal.Read: %v", err)
	}
	ids := map[string]bool{}
	for i, r := range history {
		if len(r.ID) != 16 || strings.Trim(r.ID, "0123456789abcdef") != "" || ids[r.ID] {
			t.Errorf("record %d has ID %q, want 16 hex digits of its own", i+1, r.ID)
		}
		ids[r.ID] = true
		if i < len(want) {
			want[i].Writer, want[i].ID = "payments-1", r.ID
		}
	}
	causes := []string{"fail-5", "probe-1", "probe-1", "probe-2", "probe-3", "operator", "operator"}
	wantSeen := make([]delivery, len(want))
	for i := range want {
		wantSeen[i] = delivery{causes[i], want[i]}
	}

	// The journal holds them, in order.
	diffTransitions(t, "journal", history, want)

	// Its JSON lines encoding decodes back to the same records.
	var enc bytes.Buffer
	if err := events.EncodeLines(&enc, history); err != nil {
		t.Fatalf("EncodeLines: %v", err)
	}
	firstLine, _, _ := strings.Cut(enc.String(), "\n")
	wantFirstLine := `{"v":2,"breaker":"payments","seq":1,"event":"trip","from":"closed","to":"open","time":"2026-03-02T09:01:00Z","open_for":"30s","writer":"payments-1","id":"` + history[0].ID + `","reason":{"policy":"consecutive_failures","failures":5,"threshold":5,"last_error":"payments API: 503 Service Unavailable"}}`
	if firstLine != wantFirstLine {
		t.Errorf("first JSON line:\n got %s\nwant %s", firstLine, wantFirstLine)
	}
	if n := strings.Count(enc.String(), "\n"); n != len(want) {
		t.Errorf("EncodeLines wrote %d lines, want %d", n, len(want))
	}
	decoded, err := events.DecodeLines(&enc)
	if err != nil {
		t.Fatalf("DecodeLines: %v", err)
	}
	diffTransitions(t, "decoded JSON lines", decoded, want)

	// Each subscriber saw each transition once, in order, with the context
	// of the call that caused it.
	if !slices.Equal(inline, wantSeen) {
		t.Errorf("inline subscriber saw\n%s\nwant\n%s", formatSeen(inline), formatSeen(wantSeen))
	}
	qmu.Lock()
	gotQueued := slices.Clone(queued)
	qmu.Unlock()
	if !slices.Equal(gotQueued, wantSeen) {
		t.Errorf("queued subscriber saw\n%s\nwant\n%s", formatSeen(gotQueued), formatSeen(wantSeen))
	}
	checkSlogRecords(t, logs.Bytes(), []string{
		`{"level":"WARN","msg":"circuit breaker transition","breaker":"payments","seq":1,"event":"trip","from":"closed","to":"open","open_for":30000000000,"writer":"payments-1","reason":{"policy":"consecutive_failures","failures":5,"threshold":5,"last_error":"payments API: 503 Service Unavailable"}}`,
		`{"level":"INFO","msg":"circuit breaker transition","breaker":"payments","seq":2,"event":"probe","from":"open","to":"half_open","writer":"payments-1","reason":{"policy":"open_timeout"}}`,
		`{"level":"WARN","msg":"circuit breaker transition","breaker":"payments","seq":3,"event":"retrip","from":"half_open","to":"open","open_for":30000000000,"writer":"payments-1","reason":{"policy":"probe_failure","failures":1,"last_error":"payments API: 503 Service Unavailable"}}`,
		`{"level":"INFO","msg":"circuit breaker transition","breaker":"payments","seq":4,"event":"probe","from":"open","to":"half_open","writer":"payments-1","reason":{"policy":"open_timeout"}}`,
		`{"level":"INFO","msg":"circuit breaker transition","breaker":"payments","seq":5,"event":"recover","from":"half_open","to":"closed","writer":"payments-1","reason":{"policy":"probe_successes","successes":2,"threshold":2}}`,
		`{"level":"WARN","msg":"circuit breaker transition","breaker":"payments","seq":6,"event":"force_open","from":"closed","to":"open","open_for":900000000000,"writer":"payments-1","reason":{"policy":"manual","operator":"alice@ops","note":"maintenance window"}}`,
		`{"level":"INFO","msg":"circuit breaker transition","breaker":"payments","seq":7,"event":"force_close","from":"open","to":"closed","writer":"payments-1","reason":{"policy":"manual","operator":"alice@ops","note":"maintenance done"}}`,
	})

	// OpenTelemetry: each call's span carries the events of what that call
	// caused or met, and the metrics say the same as the journal and Counts.
	calls.end()
	checkSpanEvents(t, spanRec.Ended(), map[string][]string{
		"fail-5":     {"transition seq=1 trip closed->open"},
		"rejected-1": {"rejected open retry_after=30s"},
		"rejected-2": {"rejected open retry_after=20s"},
		"rejected-3": {"rejected open retry_after=1s"},
		"probe-1":    {"transition seq=2 probe open->half_open", "transition seq=3 retrip half_open->open"},
		"rejected-4": {"rejected open retry_after=30s"},
		"probe-2":    {"transition seq=4 probe open->half_open"},
		"rejected-5": {"rejected half_open retry_after=1ms"},
		"probe-3":    {"transition seq=5 recover half_open->closed"},
		"operator":   {"transition seq=6 force_open closed->open", "transition seq=7 force_close open->closed"},
		"rejected-6": {"rejected open retry_after=15m0s"},
	})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	name := otelbridge.KeyName.String("payments")
	transition := func(from, to, event string, n int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(name,
			otelbridge.KeyFrom.String(from), otelbridge.KeyTo.String(to), otelbridge.KeyEvent.String(event)), Value: n}
	}
	outcome := func(o string, n int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(name, otelbridge.KeyOutcome.String(o)), Value: n}
	}
	state := func(st string, v int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(name, otelbridge.KeyState.String(st),
			otelbridge.KeyMode.String(machine.Enforcing.String()), otelbridge.KeyForced.Bool(true)), Value: v} // an operator closed it
	}
	cumulative := func(points ...metricdata.DataPoint[int64]) metricdata.Sum[int64] {
		return metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points}
	}
	checkMetric(t, rm, otelbridge.TransitionsName, cumulative(
		transition("closed", "open", "trip", 1),
		transition("open", "half_open", "probe", 2),
		transition("half_open", "open", "retrip", 1),
		transition("half_open", "closed", "recover", 1),
		transition("closed", "open", "force_open", 1),
		transition("open", "closed", "force_close", 1),
		// Every legal transition's stream is there from New, at 0 until it
		// happens.
		transition("half_open", "open", "force_open", 0),
		transition("half_open", "closed", "force_close", 0),
		transition("open", "half_open", "force_half_open", 0),
	))
	checkMetric(t, rm, otelbridge.CallsName, cumulative(
		outcome("success", 7), outcome("failure", 6), outcome("ignored", 0), outcome("rejected", 6),
	))
	checkMetric(t, rm, otelbridge.JournalErrorsName, cumulative(
		metricdata.DataPoint[int64]{Attributes: attribute.NewSet(name), Value: 0},
	))
	checkMetric(t, rm, otelbridge.SubscriberErrorsName, cumulative(
		metricdata.DataPoint[int64]{Attributes: attribute.NewSet(name, otelbridge.KeyErrorType.String(otelbridge.ErrorTypePanic)), Value: 0},
		metricdata.DataPoint[int64]{Attributes: attribute.NewSet(name, otelbridge.KeyErrorType.String(otelbridge.ErrorTypeQueueFull)), Value: 0},
	))
	checkMetric(t, rm, otelbridge.StateName, metricdata.Gauge[int64]{DataPoints: []metricdata.DataPoint[int64]{
		state("closed", 1), state("open", 0), state("half_open", 0),
	}})

	// The counts: cumulative over every state and generation.
	wantCounts := machine.Counts{
		Successes: 7, // ok-1..3, probe-2, probe-3, ok-4, ok-5
		Failures:  6, // fail-1..5, probe-1
		Rejected:  6, // rejected-1..6
	}
	if got := b.Counts(); got != wantCounts {
		t.Errorf("Counts() = %+v, want %+v", got, wantCounts)
	}

	// The state is the fold of the journal.
	replayed, err := events.Replay("payments", history)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	wantSnap := events.Snapshot{Breaker: "payments", Seq: 7, State: events.Closed, Event: events.ForceClose, Since: want[6].Time}
	if replayed != wantSnap {
		t.Errorf("Replay(journal) = %+v, want %+v", replayed, wantSnap)
	}
	if live := b.Snapshot(); replayed != live {
		t.Errorf("Replay(journal) = %+v, but b.Snapshot() = %+v", replayed, live)
	}
	if replayed.State != b.State() {
		t.Errorf("Replay(journal).State = %s, but b.State() = %s", replayed.State, b.State())
	}
}

// checkSpanEvents checks the breaker's span events on each call's span, in
// order, summarised as "transition seq=N event from->to" or "rejected state
// retry_after=D".
func checkSpanEvents(t *testing.T, ended []sdktrace.ReadOnlySpan, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, sp := range ended {
		for _, ev := range sp.Events() {
			a := map[attribute.Key]attribute.Value{}
			for _, kv := range ev.Attributes {
				a[kv.Key] = kv.Value
			}
			var line string
			switch ev.Name {
			case otelbridge.TransitionEvent:
				line = fmt.Sprintf("transition seq=%d %s %s->%s", a[otelbridge.KeySeq].AsInt64(),
					a[otelbridge.KeyEvent].AsString(), a[otelbridge.KeyFrom].AsString(), a[otelbridge.KeyTo].AsString())
			case otelbridge.RejectedEvent:
				line = fmt.Sprintf("rejected %s retry_after=%s", a[otelbridge.KeyState].AsString(),
					time.Duration(a[otelbridge.KeyRetryAfter].AsFloat64()*float64(time.Second)))
			default:
				line = "unexpected event " + ev.Name
			}
			if a[otelbridge.KeyName].AsString() != "payments" {
				line += " (breaker " + a[otelbridge.KeyName].AsString() + ")"
			}
			got[sp.Name()] = append(got[sp.Name()], line)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("span events by call:\n got %v\nwant %v", got, want)
	}
}

// checkMetric checks the data of one instrument of the bridge, exactly.
func checkMetric[T metricdata.Aggregation](t *testing.T, rm metricdata.ResourceMetrics, name string, want T) {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				metricdatatest.AssertAggregationsEqual(t, metricdata.Aggregation(want), m.Data,
					metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
				return
			}
		}
	}
	t.Errorf("no metric %s collected", name)
}

// checkRejection checks that err is the breaker's rejection, with its details.
func checkRejection(t *testing.T, call string, err error, state events.State, until time.Time, retryAfter time.Duration) {
	t.Helper()
	if !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("%s: err = %v, want one matching machine.ErrOpen", call, err)
	}
	var oe *machine.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("%s: err = %T, want a *machine.OpenError", call, err)
	}
	if oe.Breaker != "payments" || oe.State != state || !oe.Until.Equal(until) {
		t.Fatalf("%s: OpenError{Breaker %q, State %s, Until %s}, want {payments, %s, %s}", call, oe.Breaker, oe.State, oe.Until, state, until)
	}
	if got := oe.RetryAfter(); got != retryAfter {
		t.Fatalf("%s: RetryAfter() = %s, want %s", call, got, retryAfter)
	}
}

// diffTransitions reports every record of got that differs from want.
func diffTransitions(t *testing.T, what string, got, want []events.Transition) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: record %d missing; want %+v", what, i+1, want[i])
		case i >= len(want):
			t.Errorf("%s: unexpected record %d: %+v", what, i+1, got[i])
		case got[i] != want[i]:
			t.Errorf("%s: record %d\n got %+v\nwant %+v", what, i+1, got[i], want[i])
		}
	}
}

func formatSeen(ds []delivery) string {
	var sb strings.Builder
	for _, d := range ds {
		sb.WriteString("  " + d.Call + ": " + d.T.String() + " " + d.T.Reason.Policy + "\n")
	}
	return sb.String()
}

// checkSlogRecords decodes the JSON log lines written by hooks.Slog and
// compares each, without its time, with the wanted JSON object.
func checkSlogRecords(t *testing.T, logs []byte, want []string) {
	t.Helper()
	decode := func(line []byte) map[string]any {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		return m
	}
	lines := bytes.Split(bytes.TrimSuffix(logs, []byte("\n")), []byte("\n"))
	if len(lines) != len(want) {
		t.Fatalf("hooks.Slog wrote %d records, want %d:\n%s", len(lines), len(want), logs)
	}
	for i, line := range lines {
		got := decode(line)
		if _, ok := got["time"]; !ok {
			t.Errorf("log record %d has no time: %s", i+1, line)
		}
		delete(got, "time")
		if w := decode([]byte(want[i])); !reflect.DeepEqual(got, w) {
			t.Errorf("log record %d:\n got %s\nwant %s", i+1, line, want[i])
		}
	}
}
