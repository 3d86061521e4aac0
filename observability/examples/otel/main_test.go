package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestOutput runs a short outage and checks that the default output is a
// summary (no exporter JSON, a line per breaker span and per instrument)
// and that -raw adds the exporters' JSON.
func TestOutput(t *testing.T) {
	short := config{outage: 300 * time.Millisecond, recovery: 100 * time.Millisecond, interval: 20 * time.Millisecond, calls: 30, prometheus: "127.0.0.1:0"}
	for _, tc := range []struct {
		name     string
		raw      bool
		has      []string
		lacks    []string
		maxLines int
	}{
		{
			name: "summary by default",
			has: []string{
				"transition from=closed to=open event=trip seq=1 reason.policy=consecutive_failures",
				"rejected state=open retry_after=",
				"circuitry.breaker.state{closed=1 half_open=0 open=0}",
				"metrics at the end:",
				"as Prometheus scrapes them from http://127.0.0.1:",
				`circuitry_breaker_state{circuitry_breaker_forced="false",circuitry_breaker_mode="enforcing",circuitry_breaker_name="quotes",circuitry_breaker_state="closed"} 1`,
				`circuitry_breaker_transitions_total{circuitry_breaker_event="trip",circuitry_breaker_from="closed",circuitry_breaker_name="quotes",circuitry_breaker_to="open"} 1`,
			},
			lacks:    []string{`"Name": "GET /quote"`, `"ScopeMetrics"`},
			maxLines: 150,
		},
		{
			name: "-raw adds the exporters' JSON",
			raw:  true,
			has: []string{
				"transition from=closed to=open event=trip seq=1",
				`"Name": "GET /quote"`,
				`"ScopeMetrics"`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := short
			c.raw = tc.raw
			var out strings.Builder
			if err := run(&out, c); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			text := out.String()
			for _, s := range tc.has {
				if !strings.Contains(text, s) {
					t.Errorf("output lacks %q", s)
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(text, s) {
					t.Errorf("output has %q", s)
				}
			}
			if n := strings.Count(text, "\n"); tc.maxLines > 0 && n > tc.maxLines {
				t.Errorf("output has %d lines, want at most %d", n, tc.maxLines)
			}
			if t.Failed() && !tc.raw {
				t.Logf("output:\n%s", text)
			}
		})
	}
}

// TestPrometheusEndpoint checks that the endpoint serves the breaker's
// metrics under the names docs/opentelemetry.md gives, while it runs.
func TestPrometheusEndpoint(t *testing.T) {
	var body string
	c := config{outage: 300 * time.Millisecond, recovery: 100 * time.Millisecond, interval: 20 * time.Millisecond, calls: 30,
		prometheus: "127.0.0.1:0"}
	c.atEnd = func(url string) error {
		client := &http.Client{Timeout: 5 * time.Second}
		defer client.CloseIdleConnections()
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err
	}
	var out strings.Builder
	if err := run(&out, c); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, name := range []string{
		"circuitry_breaker_state{", "circuitry_breaker_calls_total{", "circuitry_breaker_transitions_total{",
		"circuitry_breaker_fallbacks_total{", "circuitry_breaker_journal_errors_total{", "circuitry_breaker_subscriber_errors_total{",
		"circuitry_breaker_policy_failures{", "circuitry_breaker_policy_threshold{",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics has no %s series", strings.TrimSuffix(name, "{"))
		}
	}
	if strings.Contains(body, "circuitry_breaker_state_ratio") {
		t.Error("/metrics names the state gauge circuitry_breaker_state_ratio")
	}
}
