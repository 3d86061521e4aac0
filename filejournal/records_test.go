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
	requireSameSnapshot = recordtest.RequireSameSnapshot
)

// sameRecord and requireSameRecords compare records as the journal reads
// them back: the same but for PrevHash, which the journal sets (the chain
// tests check it).
func sameRecord(a, b events.Transition) bool {
	a.PrevHash, b.PrevHash = "", ""
	return recordtest.SameRecord(a, b)
}

func requireSameRecords(t recordtest.Fataler, got, want []events.Transition) {
	t.Helper()
	recordtest.RequireSameRecords(t, unlinked(got), unlinked(want))
}

// unlinked returns a copy of recs without their PrevHash.
func unlinked(recs []events.Transition) []events.Transition {
	out := make([]events.Transition, len(recs))
	for i, r := range recs {
		r.PrevHash = ""
		out[i] = r
	}
	return out
}

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
