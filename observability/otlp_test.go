package observability_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// receiver is an OTLP/HTTP receiver: it decodes the protobuf requests of
// the three signals and keeps them.
type receiver struct {
	mu      sync.Mutex
	traces  []*coltrace.ExportTraceServiceRequest
	metrics []*colmetrics.ExportMetricsServiceRequest
	logs    []*collogs.ExportLogsServiceRequest
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = z
	}
	data, err := io.ReadAll(body)
	if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a protobuf body", http.StatusBadRequest)
		return
	}
	var req, resp proto.Message
	switch r.URL.Path {
	case "/v1/traces":
		req, resp = &coltrace.ExportTraceServiceRequest{}, &coltrace.ExportTraceServiceResponse{}
	case "/v1/metrics":
		req, resp = &colmetrics.ExportMetricsServiceRequest{}, &colmetrics.ExportMetricsServiceResponse{}
	case "/v1/logs":
		req, resp = &collogs.ExportLogsServiceRequest{}, &collogs.ExportLogsServiceResponse{}
	default:
		http.NotFound(w, r)
		return
	}
	if err := proto.Unmarshal(data, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	switch m := req.(type) {
	case *coltrace.ExportTraceServiceRequest:
		rc.traces = append(rc.traces, m)
	case *colmetrics.ExportMetricsServiceRequest:
		rc.metrics = append(rc.metrics, m)
	case *collogs.ExportLogsServiceRequest:
		rc.logs = append(rc.logs, m)
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = io.Copy(w, bytes.NewReader(out))
}

// attrs returns OTLP attributes as a map of their values, printed.
func attrs(kvs []*commonpb.KeyValue) map[string]any {
	out := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_DoubleValue:
			out[kv.GetKey()] = v.DoubleValue
		case *commonpb.AnyValue_BoolValue:
			out[kv.GetKey()] = v.BoolValue
		}
	}
	return out
}

// TestOTLP sends a breaker's traces, metrics and transition log records
// through the OTLP/HTTP exporters to a receiver that decodes the protobuf,
// and checks what arrived: the trip's span event on the call's span, the
// timer's probe and an operator's force_open as log records, and the
// metrics with their units and attributes.
func TestOTLP(t *testing.T) {
	ctx := context.Background()
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	traceExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(traceExp))
	metricExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(srv.URL+"/v1/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(time.Hour))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	logExp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(srv.URL+"/v1/logs"))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)))

	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp), otelbridge.WithLoggerProvider(lp))
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	b, err := machine.New("payments", machine.WithClock(clock), machine.WithFailureThreshold(1),
		machine.WithProbeOnTimer(), machine.WithWriter("api-1"), machine.WithSubscribers(bridge))
	if err != nil {
		t.Fatal(err)
	}
	callCtx, span := tp.Tracer("test").Start(ctx, "GET /quote")
	_ = b.Do(callCtx, func(context.Context) error { return errDependency }) // trips
	span.End()
	clock.Advance(machine.DefaultRecoveryTimeout) // the timer fires probe
	if err := b.ForceOpen(ctx, machine.Override{Operator: "oncall", Note: "failover to eu-west"}); err != nil {
		t.Fatal(err)
	}
	if b.State() != events.Open {
		t.Fatalf("state %s, want open", b.State())
	}
	if err := reader.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, shut := range []func(context.Context) error{tp.Shutdown, mp.Shutdown, lp.Shutdown} {
		if err := shut(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()

	t.Run("traces", func(t *testing.T) {
		var events []map[string]any
		for _, req := range rc.traces {
			for _, rs := range req.GetResourceSpans() {
				for _, ss := range rs.GetScopeSpans() {
					for _, sp := range ss.GetSpans() {
						for _, ev := range sp.GetEvents() {
							if sp.GetName() == "GET /quote" && ev.GetName() == otelbridge.TransitionEvent {
								events = append(events, attrs(ev.GetAttributes()))
							}
						}
					}
				}
			}
		}
		if len(events) != 1 {
			t.Fatalf("%d transition span events on GET /quote, want 1", len(events))
		}
		for k, v := range map[string]any{
			"circuitry.breaker.event": "trip", "circuitry.breaker.seq": int64(1), "circuitry.breaker.writer": "api-1",
			"circuitry.breaker.reason.policy": "consecutive_failures", "circuitry.breaker.reason.last_error": errDependency.Error(),
			"circuitry.breaker.open_for": 30.0,
		} {
			if events[0][k] != v {
				t.Errorf("span event %s = %v, want %v", k, events[0][k], v)
			}
		}
	})

	t.Run("log records", func(t *testing.T) {
		var recs []map[string]any
		for _, req := range rc.logs {
			for _, rl := range req.GetResourceLogs() {
				for _, sl := range rl.GetScopeLogs() {
					if sl.GetScope().GetName() != otelbridge.ScopeName {
						t.Errorf("log scope %q", sl.GetScope().GetName())
					}
					for _, lr := range sl.GetLogRecords() {
						if lr.GetEventName() != otelbridge.TransitionEvent {
							t.Errorf("log record event %q", lr.GetEventName())
						}
						a := attrs(lr.GetAttributes())
						a["body"], a["severity"] = lr.GetBody().GetStringValue(), lr.GetSeverityText()
						recs = append(recs, a)
					}
				}
			}
		}
		want := []map[string]any{
			{"circuitry.breaker.event": "probe", "circuitry.breaker.reason.policy": "open_timeout", "circuitry.breaker.writer": "api-1",
				"body": "circuit breaker payments: open -> half_open (probe)", "severity": "INFO"},
			{"circuitry.breaker.event": "force_open", "circuitry.breaker.reason.operator": "oncall", "circuitry.breaker.reason.note": "failover to eu-west",
				"body": "circuit breaker payments: half_open -> open (force_open)", "severity": "WARN"},
		}
		if len(recs) != len(want) {
			t.Fatalf("%d log records %v, want %d", len(recs), recs, len(want))
		}
		for i, w := range want {
			for k, v := range w {
				if recs[i][k] != v {
					t.Errorf("log record %d: %s = %v, want %v", i, k, recs[i][k], v)
				}
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		got := map[string]*metricpb.Metric{}
		for _, req := range rc.metrics {
			for _, rm := range req.GetResourceMetrics() {
				for _, sm := range rm.GetScopeMetrics() {
					for _, m := range sm.GetMetrics() {
						got[m.GetName()] = m
					}
				}
			}
		}
		for name, unit := range map[string]string{
			otelbridge.StateName: "{state}", otelbridge.CallsName: "{call}", otelbridge.TransitionsName: "{transition}",
			otelbridge.FallbacksName: "{fallback}", otelbridge.PolicyFailuresName: "{call}", otelbridge.PolicyThresholdName: "{call}",
		} {
			if m, ok := got[name]; !ok || m.GetUnit() != unit {
				t.Errorf("metric %s: received %v, unit %q, want %q", name, ok, m.GetUnit(), unit)
			}
		}
		state := map[string]any{}
		for _, p := range got[otelbridge.StateName].GetGauge().GetDataPoints() {
			a := attrs(p.GetAttributes())
			if p.GetAsInt() == 1 {
				state = a
			}
		}
		if state["circuitry.breaker.state"] != "open" || state["circuitry.breaker.forced"] != true {
			t.Errorf("current state point %v, want open and forced", state)
		}
		transitions := map[string]int64{}
		for _, p := range got[otelbridge.TransitionsName].GetSum().GetDataPoints() {
			a := attrs(p.GetAttributes())
			transitions[a["circuitry.breaker.from"].(string)+" "+a["circuitry.breaker.event"].(string)] = p.GetAsInt()
		}
		want := map[string]int64{"closed trip": 1, "open probe": 1, "half_open force_open": 1, "half_open recover": 0, "half_open retrip": 0,
			"closed force_open": 0, "open force_close": 0, "half_open force_close": 0, "open force_half_open": 0}
		if len(transitions) != len(want) {
			t.Errorf("transitions %v, want %v", transitions, want)
		}
		for k, v := range want {
			if transitions[k] != v {
				t.Errorf("transitions %s = %d, want %d", k, transitions[k], v)
			}
		}
	})
}
