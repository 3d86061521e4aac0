package recordtest_test

import (
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/recordtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The histories the tests build on replay: every step of Walk is legal.
func TestHistoryReplays(t *testing.T) {
	for _, n := range []int{1, len(recordtest.Walk), 3*len(recordtest.Walk) + 5} {
		recs := recordtest.History("b", n)
		s, err := events.Replay("b", recs)
		if err != nil || s.Seq != uint64(n) || len(recs) != n {
			t.Fatalf("History(%d) replays to %+v, %v", n, s, err)
		}
	}
}

func TestSameRecordComparesTimesWithEqual(t *testing.T) {
	a := recordtest.History("b", 1)[0]
	b := a
	b.Time = a.Time.In(time.FixedZone("X", 3600))
	if !recordtest.SameRecord(a, b) {
		t.Error("the same instant in another zone differs")
	}
	b.Time = a.Time.Add(time.Nanosecond)
	if recordtest.SameRecord(a, b) {
		t.Error("records a nanosecond apart are the same")
	}
}
