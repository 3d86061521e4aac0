package filejournal_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/recordtest"
)

// The shared helpers of the events and filejournal tests.
var (
	t0                  = recordtest.T0
	walk                = recordtest.Walk
	history             = recordtest.History
	sameRecord          = recordtest.SameRecord
	requireSameRecords  = recordtest.RequireSameRecords
	requireSameSnapshot = recordtest.RequireSameSnapshot
)

func requireConflict(t testing.TB, err error, breaker string, seq, last uint64) {
	t.Helper()
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("error %v does not match ErrConflict", err)
	}
	var ce *events.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *ConflictError", err, err)
	}
	if ce.Breaker != breaker || ce.Seq != seq || ce.Last != last {
		t.Fatalf("ConflictError{%q, Seq %d, Last %d}, want {%q, Seq %d, Last %d}", ce.Breaker, ce.Seq, ce.Last, breaker, seq, last)
	}
	want := fmt.Sprintf("circuitry: journal append conflict for breaker %q: record seq %d does not follow last seq %d", breaker, seq, last)
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}
