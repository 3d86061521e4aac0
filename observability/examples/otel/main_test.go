package main

import (
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
	short := config{outage: 300 * time.Millisecond, recovery: 100 * time.Millisecond, interval: 20 * time.Millisecond, calls: 30}
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
