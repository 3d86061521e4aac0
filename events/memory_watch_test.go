package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// TestMemoryWatchFromNew checks a Memory that has stored nothing yet: its
// head is 0, and a Watch from there waits for the first record stored.
func TestMemoryWatchFromNew(t *testing.T) {
	m := newMemory(t, 4)
	ctx := context.Background()
	if head, err := m.Head(ctx); head != 0 || err != nil {
		t.Fatalf("Head of a new Memory = %d, %v; want 0", head, err)
	}
	got := make(chan []events.Stored, 1)
	go func() {
		recs, err := m.Watch(ctx, 0)
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
		got <- recs
	}()
	first := events.Transition{Breaker: "payments", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open,
		Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), OpenFor: time.Second}
	if err := m.Append(ctx, first); err != nil {
		t.Fatal(err)
	}
	select {
	case recs := <-got:
		if len(recs) != 1 || recs[0].Pos != 1 || recs[0].Breaker != "payments" || recs[0].Seq != 1 {
			t.Fatalf("Watch(0) = %+v, want the first record at position 1", recs)
		}
	case <-time.After(20 * time.Second): // a watchdog, not a timing assertion
		t.Fatal("Watch did not return the first record stored")
	}
	if head, err := m.Head(ctx); head != 1 || err != nil {
		t.Fatalf("Head = %d, %v; want 1", head, err)
	}
}
