package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

func TestHistoryShowsWindowFiguresAndObserveOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.jsonl")
	f, err := filejournal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	trip := events.Transition{Breaker: "search", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open,
		Time: day, OpenFor: 10 * time.Second, ObserveOnly: true,
		Reason: events.Reason{Policy: events.PolicySlowCallRate, Calls: 20, Slow: 17, Rate: 85, RateThreshold: 80, MinCalls: 20, SlowerThan: 2 * time.Second}}
	if err := f.Append(context.Background(), trip); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, day.Add(time.Hour), "history", path)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("history printed %d lines, want a header and one row:\n%s", len(lines), out)
	}
	for _, want := range []string{
		"trip (observe-only)",
		"slow_call_rate calls=20 slow=17 rate=85% rate_threshold=80% min_calls=20 slower_than=2s",
	} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q does not contain %q", lines[1], want)
		}
	}
}
