package hooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
)

// jsonLogger returns a logger writing JSON records without their time into
// buf, enabled from level on.
func jsonLogger(buf *bytes.Buffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// records decodes every JSON line of buf.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("decoding %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestSlogWritesOneRecordWithExactlyTheTransitionsAttributes(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name string
		in   events.Transition
		want map[string]any
	}{
		{
			name: "trip with last error: warn, open_for, reason figures",
			in: events.Transition{
				Breaker: "payments", Seq: 7, Event: events.Trip,
				From: events.Closed, To: events.Open, Time: at, OpenFor: 30 * time.Second,
				Reason: events.Reason{
					Policy:    events.PolicyConsecutiveFailures,
					Failures:  5,
					Threshold: 5,
					LastError: "dial tcp: connection refused",
				},
			},
			want: map[string]any{
				"level": "WARN", "msg": "circuit breaker transition",
				"breaker": "payments", "seq": 7.0, "event": "trip", "from": "closed", "to": "open",
				"open_for": float64(30 * time.Second),
				"reason": map[string]any{
					"policy": "consecutive_failures", "failures": 5.0, "threshold": 5.0,
					"last_error": "dial tcp: connection refused",
				},
			},
		},
		{
			name: "manual force_open: operator and note, no zero figures",
			in: events.Transition{
				Breaker: "search", Seq: 2, Event: events.ForceOpen,
				From: events.HalfOpen, To: events.Open, Time: at, OpenFor: time.Minute,
				Reason: events.Reason{Policy: events.PolicyManual, Operator: "alice", Note: "INC-42: upstream maintenance"},
			},
			want: map[string]any{
				"level": "WARN", "msg": "circuit breaker transition",
				"breaker": "search", "seq": 2.0, "event": "force_open", "from": "half_open", "to": "open",
				"open_for": float64(time.Minute),
				"reason":   map[string]any{"policy": "manual", "operator": "alice", "note": "INC-42: upstream maintenance"},
			},
		},
		{
			name: "recover: info, no open_for",
			in: events.Transition{
				Breaker: "payments", Seq: 9, Event: events.Recover,
				From: events.HalfOpen, To: events.Closed, Time: at,
				Reason: events.Reason{Policy: events.PolicyProbeSuccesses, Successes: 2, Threshold: 2},
			},
			want: map[string]any{
				"level": "INFO", "msg": "circuit breaker transition",
				"breaker": "payments", "seq": 9.0, "event": "recover", "from": "half_open", "to": "closed",
				"reason": map[string]any{"policy": "probe_successes", "successes": 2.0, "threshold": 2.0},
			},
		},
		{
			name: "slow-call rate trip: every figure of the reason",
			in: events.Transition{
				Breaker: "search", Seq: 3, Event: events.Trip,
				From: events.Closed, To: events.Open, Time: at, OpenFor: time.Minute,
				Reason: events.Reason{Policy: events.PolicySlowCallRate, Failures: 1, Calls: 20, Slow: 17,
					Rate: 85, RateThreshold: 80, MinCalls: 20, SlowerThan: 2 * time.Second},
			},
			want: map[string]any{
				"level": "WARN", "msg": "circuit breaker transition",
				"breaker": "search", "seq": 3.0, "event": "trip", "from": "closed", "to": "open",
				"open_for": float64(time.Minute),
				"reason": map[string]any{"policy": "slow_call_rate", "failures": 1.0, "calls": 20.0, "slow": 17.0,
					"rate": 85.0, "rate_threshold": 80.0, "min_calls": 20.0, "slower_than": float64(2 * time.Second)},
			},
		},
		{
			name: "another writer's record, adopted: writer and adopted",
			in: events.Transition{
				Breaker: "payments", Seq: 4, Event: events.ForceClose,
				From: events.Open, To: events.Closed, Time: at, Writer: "api-2:77", Adopted: true,
				Reason: events.Reason{Policy: events.PolicyManual, Operator: "ops", Note: "back"},
			},
			want: map[string]any{
				"level": "INFO", "msg": "circuit breaker transition",
				"breaker": "payments", "seq": 4.0, "event": "force_close", "from": "open", "to": "closed",
				"writer": "api-2:77", "adopted": true,
				"reason": map[string]any{"policy": "manual", "operator": "ops", "note": "back"},
			},
		},
		{
			name: "empty reason: no reason group",
			in: events.Transition{
				Breaker: "payments", Seq: 8, Event: events.Probe,
				From: events.Open, To: events.HalfOpen, Time: at,
			},
			want: map[string]any{
				"level": "INFO", "msg": "circuit breaker transition",
				"breaker": "payments", "seq": 8.0, "event": "probe", "from": "open", "to": "half_open",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			hooks.Slog(jsonLogger(&buf, slog.LevelDebug)).Notify(context.Background(), tt.in)
			got := records(t, &buf)
			if len(got) != 1 {
				t.Fatalf("wrote %d records, want 1:\n%s", len(got), buf.String())
			}
			if !equalJSON(got[0], tt.want) {
				t.Errorf("record = %v\nwant     %v", got[0], tt.want)
			}
		})
	}
}

// equalJSON compares decoded JSON objects, nested objects included.
func equalJSON(a, b map[string]any) bool {
	return maps.EqualFunc(a, b, func(x, y any) bool {
		mx, okx := x.(map[string]any)
		my, oky := y.(map[string]any)
		if okx || oky {
			return okx && oky && equalJSON(mx, my)
		}
		return x == y
	})
}

type ctxKey struct{}

// spyHandler records the context and the time of each record it handles.
type spyHandler struct {
	slog.Handler
	ctxs  *[]context.Context
	times *[]time.Time
}

func newSpyHandler() (spyHandler, *[]context.Context, *[]time.Time) {
	var ctxs []context.Context
	var times []time.Time
	return spyHandler{Handler: slog.NewTextHandler(io.Discard, nil), ctxs: &ctxs, times: &times}, &ctxs, &times
}

func (h spyHandler) Handle(ctx context.Context, r slog.Record) error {
	*h.ctxs = append(*h.ctxs, ctx)
	*h.times = append(*h.times, r.Time)
	return nil
}

func TestSlogPassesTheTransitionsContextToTheHandler(t *testing.T) {
	h, ctxs, _ := newSpyHandler()
	ctx := context.WithValue(context.Background(), ctxKey{}, "span-123")
	hooks.Slog(slog.New(h)).Notify(ctx, events.Transition{
		Breaker: "b", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open, OpenFor: time.Second,
	})
	if len(*ctxs) != 1 {
		t.Fatalf("handler saw %d records, want 1", len(*ctxs))
	}
	if got := (*ctxs)[0].Value(ctxKey{}); got != "span-123" {
		t.Errorf("handler's context value = %v, want span-123", got)
	}
}

func TestSlogSkipsLevelsTheLoggerDisables(t *testing.T) {
	tests := []struct {
		name   string
		level  slog.Level
		wantTo []string
	}{
		{"info: every transition", slog.LevelInfo, []string{"open", "half_open", "closed"}},
		{"warn: only transitions to open", slog.LevelWarn, []string{"open"}},
		{"error: none", slog.LevelError, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			s := hooks.Slog(jsonLogger(&buf, tt.level))
			for i, tr := range []events.Transition{
				{Event: events.Trip, From: events.Closed, To: events.Open, OpenFor: time.Second},
				{Event: events.Probe, From: events.Open, To: events.HalfOpen},
				{Event: events.Recover, From: events.HalfOpen, To: events.Closed},
			} {
				tr.Breaker, tr.Seq = "b", uint64(i+1)
				s.Notify(context.Background(), tr)
			}
			var gotTo []string
			for _, r := range records(t, &buf) {
				gotTo = append(gotTo, r["to"].(string))
			}
			if strings.Join(gotTo, ",") != strings.Join(tt.wantTo, ",") {
				t.Errorf("logged transitions to %v, want %v", gotTo, tt.wantTo)
			}
		})
	}
}

func TestSlogNilLoggerUsesTheDefaultLoggerAtEachTransition(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })

	s := hooks.Slog(nil) // made before the default changes
	var buf bytes.Buffer
	slog.SetDefault(jsonLogger(&buf, slog.LevelInfo))
	s.Notify(context.Background(), events.Transition{
		Breaker: "late", Seq: 1, Event: events.ForceOpen, From: events.Closed, To: events.Open, OpenFor: time.Second,
	})
	got := records(t, &buf)
	if len(got) != 1 || got[0]["breaker"] != "late" {
		t.Errorf("default logger got %v, want one record for breaker late", got)
	}
}

func TestSlogRunsOnTheQueuedLane(t *testing.T) {
	if got := hooks.LaneOf(hooks.Slog(nil)); got != hooks.LaneQueued {
		t.Errorf("LaneOf(Slog(nil)) = %s, want queued", got)
	}
	if got := hooks.LaneOf(hooks.Inline(hooks.Slog(nil))); got != hooks.LaneInline {
		t.Errorf("LaneOf(Inline(Slog(nil))) = %s, want inline", got)
	}
}

func TestSlogRecordTimeIsTheTransitionTime(t *testing.T) {
	h, _, times := newSpyHandler()
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	hooks.Slog(slog.New(h)).Notify(context.Background(), events.Transition{
		Breaker: "b", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open, OpenFor: time.Second, Time: at,
	})
	if len(*times) != 1 || !(*times)[0].Equal(at) {
		t.Errorf("record times = %v, want [%v]", *times, at)
	}
}
