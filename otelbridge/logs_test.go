package otelbridge_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/noop"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// logRecorder is an SDK log processor that keeps every record emitted.
type logRecorder struct {
	mu   sync.Mutex
	recs []sdklog.Record
}

func (l *logRecorder) OnEmit(_ context.Context, r *sdklog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

func (l *logRecorder) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (l *logRecorder) Shutdown(context.Context) error                         { return nil }
func (l *logRecorder) ForceFlush(context.Context) error                       { return nil }

func (l *logRecorder) records() []sdklog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sdklog.Record(nil), l.recs...)
}

// logRig is a rig whose bridge also has an SDK logger provider that
// records into rec.
func logRig(t *testing.T, sampler sdktrace.Sampler, opts ...otelbridge.Option) (*rig, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(rec))
	t.Cleanup(func() { _ = lp.Shutdown(context.Background()) })
	return newRig(t, sampler, append([]otelbridge.Option{otelbridge.WithLoggerProvider(lp)}, opts...)...), rec
}

// wantLog is an expected transition log record.
type wantLog struct {
	severity log.Severity
	body     string
	event    wantEvent // the span event it stands in for
}

// assertLogs checks that recs are exactly want, in order: event name,
// severity, body, timestamp (the breaker's clock: t0 + at), scope and
// attributes.
func assertLogs(t *testing.T, recs []sdklog.Record, want []wantLog, at []time.Duration) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("%d log records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		w := want[i]
		if r.EventName() != "circuitry.breaker.transition" || r.Severity() != w.severity || r.SeverityText() != w.severity.String() {
			t.Errorf("record %d: event %q severity %v %q, want circuitry.breaker.transition %v", i, r.EventName(), r.Severity(), r.SeverityText(), w.severity)
		}
		if got := r.Body().AsString(); got != w.body {
			t.Errorf("record %d: body %q, want %q", i, got, w.body)
		}
		if got, want := r.Timestamp(), t0.Add(at[i]); !got.Equal(want) {
			t.Errorf("record %d: timestamp %v, want %v", i, got, want)
		}
		if s := r.InstrumentationScope(); s.Name != otelbridge.ScopeName || s.Version != otelbridge.Version() {
			t.Errorf("record %d: scope %+v", i, s)
		}
		var kvs []attribute.KeyValue
		r.WalkAttributes(func(kv attribute.KeyValue) bool { kvs = append(kvs, kv); return true })
		got, exp := attribute.NewSet(kvs...), set(w.event.attrs)
		if len(kvs) != exp.Len() || !got.Equals(&exp) {
			t.Errorf("record %d attributes\n got %v\nwant %v", i, kvs, exp.ToSlice())
		}
	}
}

// TestTransitionLogRecords checks that every transition that gets no span
// event is emitted as a log record with the span event's attributes: those
// a timer fires, those of a manual control or a call without a span, and
// all of them when span events are off; a transition whose call has a
// recording span gets the span event alone.
func TestTransitionLogRecords(t *testing.T) {
	ctx := context.Background()
	trip := failed(transitionEvent("payments", 1, "closed", "open", "trip", "consecutive_failures", 1, 0, 1, 30))
	probe := transitionEvent("payments", 2, "open", "half_open", "probe", "open_timeout", 0, 0, 0)
	recoverEv := transitionEvent("payments", 3, "half_open", "closed", "recover", "probe_successes", 0, 1, 1)
	cases := []struct {
		name    string
		sampler sdktrace.Sampler
		opts    []otelbridge.Option
		script  func(t *testing.T, r *rig, b *machine.Breaker)
		spans   int // span events added
		want    []wantLog
		at      []time.Duration
	}{
		{
			name: "a probe on the timer, after a trip in a span",
			script: func(t *testing.T, r *rig, b *machine.Breaker) {
				r.call(t, b, "trips", failure)
				r.clock.Advance(30 * time.Second) // the timer fires probe
				if b.State() != events.HalfOpen {
					t.Fatalf("state %s after the open period, want half_open", b.State())
				}
			},
			spans: 1,
			want:  []wantLog{{log.SeverityInfo, "circuit breaker payments: open -> half_open (probe)", probe}},
			at:    []time.Duration{30 * time.Second},
		},
		{
			name:    "unsampled calls",
			sampler: sdktrace.NeverSample(),
			script: func(t *testing.T, r *rig, b *machine.Breaker) {
				r.call(t, b, "trips", failure)
				r.clock.Advance(30 * time.Second)
				r.call(t, b, "recovers", success)
			},
			want: []wantLog{
				{log.SeverityWarn, "circuit breaker payments: closed -> open (trip)", trip},
				{log.SeverityInfo, "circuit breaker payments: open -> half_open (probe)", probe},
				{log.SeverityInfo, "circuit breaker payments: half_open -> closed (recover)", recoverEv},
			},
			at: []time.Duration{0, 30 * time.Second, 30 * time.Second},
		},
		{
			name: "span events off",
			opts: []otelbridge.Option{otelbridge.WithSpanEvents(false)},
			script: func(t *testing.T, r *rig, b *machine.Breaker) {
				r.call(t, b, "trips", failure)
			},
			want: []wantLog{{log.SeverityWarn, "circuit breaker payments: closed -> open (trip)", trip}},
			at:   []time.Duration{0},
		},
		{
			name: "a manual control without a span: operator and note",
			script: func(t *testing.T, r *rig, b *machine.Breaker) {
				r.clock.Advance(time.Minute)
				if err := b.ForceOpen(ctx, machine.Override{Operator: "oncall", Note: "db failover"}); err != nil {
					t.Fatal(err)
				}
			},
			want: []wantLog{{log.SeverityWarn, "circuit breaker payments: closed -> open (force_open)",
				manual(transitionEvent("payments", 1, "closed", "open", "force_open", "manual", 0, 0, 0, 30), "oncall", "db failover")}},
			at: []time.Duration{time.Minute},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, rec := logRig(t, c.sampler, c.opts...)
			b := r.newBreaker(t, "payments", machine.WithFailureThreshold(1), machine.WithSuccessThreshold(1), machine.WithProbeOnTimer())
			c.script(t, r, b)
			spans := 0
			for _, sp := range r.rec.Ended() {
				spans += len(sp.Events())
			}
			if spans != c.spans {
				t.Errorf("%d span events, want %d", spans, c.spans)
			}
			assertLogs(t, rec.records(), c.want, c.at)
		})
	}
}

// TestTransitionLogRecordTraceContext checks that a log record of a call's
// transition carries the call's trace and span IDs, though the span was not
// sampled, so that logs and traces join.
func TestTransitionLogRecordTraceContext(t *testing.T) {
	r, rec := logRig(t, sdktrace.NeverSample())
	b := r.newBreaker(t, "payments", machine.WithFailureThreshold(1))
	ctx, span := r.tracer.Start(context.Background(), "trips")
	doCall(t, ctx, b, "trips", failure)
	span.End()
	recs := rec.records()
	if len(recs) != 1 {
		t.Fatalf("%d log records, want 1", len(recs))
	}
	sc := span.SpanContext()
	if recs[0].TraceID() != sc.TraceID() || recs[0].SpanID() != sc.SpanID() {
		t.Errorf("record trace %s span %s, want %s %s", recs[0].TraceID(), recs[0].SpanID(), sc.TraceID(), sc.SpanID())
	}
}

// TestWithLoggerProvider checks the option: nil is refused, and a no-op
// provider emits nothing (the bridge does not even build the record).
func TestWithLoggerProvider(t *testing.T) {
	if _, err := otelbridge.New(otelbridge.WithLoggerProvider(nil)); err == nil {
		t.Error("WithLoggerProvider(nil) accepted")
	}
	r := newRig(t, nil, otelbridge.WithLoggerProvider(noop.NewLoggerProvider()))
	b := r.newBreaker(t, "payments", machine.WithFailureThreshold(1))
	if err := b.ForceOpen(context.Background(), machine.Override{Operator: "oncall", Note: "n"}); err != nil {
		t.Fatal(err)
	}
}
