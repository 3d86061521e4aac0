package events_test

import (
	"errors"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/recordtest"
)

// The shared helpers of the events and filejournal tests.
var (
	t0                  = recordtest.T0
	rec                 = recordtest.Rec
	history             = recordtest.History
	requireSameRecords  = recordtest.RequireSameRecords
	requireSameSnapshot = recordtest.RequireSameSnapshot
)

// fataler is the part of testing.TB the helpers need; *rapid.T has it too.
type fataler = recordtest.Fataler

// sameSnapshot compares folds ([events.Snapshot.Equal]).
func sameSnapshot(a, b events.Snapshot) bool { return a.Equal(b) }

// requireRecordError asserts that err is a *events.RecordError naming
// position, breaker and seq, and returns it.
func requireRecordError(t fataler, err error, position int, breaker string, seq uint64) *events.RecordError {
	t.Helper()
	var re *events.RecordError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *events.RecordError", err, err)
	}
	if re.Position != position || re.Breaker != breaker || re.Seq != seq {
		t.Fatalf("RecordError names position %d breaker %q seq %d, want position %d breaker %q seq %d (%v)",
			re.Position, re.Breaker, re.Seq, position, breaker, seq, err)
	}
	return re
}
