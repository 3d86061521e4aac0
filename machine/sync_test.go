package machine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

func TestSyncAppendsTheRecordsTheJournalRefusedBefore(t *testing.T) {
	fj := &flakyJournal{}
	f := newWrappedFixture(t, func(j events.Journal) events.Journal { fj.Journal = j; return fj })
	fj.set(1, 0)
	f.failN(5) // the trip's append fails: the breaker is open in memory only
	f.wantState(events.Open)
	if got := f.journal(); len(got) != 0 {
		t.Fatalf("journal = %v after a failed append, want nothing yet", got)
	}
	if err := f.b.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	recs := f.journal()
	if len(recs) != 1 || recs[0].Event != events.Trip || recs[0].Seq != 1 {
		t.Fatalf("journal after Sync = %v, want the trip at seq 1", recs)
	}
	s, err := events.Replay("svc", recs)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(f.b.Snapshot()) {
		t.Errorf("Replay = %+v, want b.Snapshot() %+v", s, f.b.Snapshot())
	}
	if seqs := journalErrors(t, f.errs.Errors()); len(seqs) != 1 || seqs[0] != 1 {
		t.Errorf("journal errors for seqs %v, want [1]", seqs)
	}
}

func TestSyncAfterADivergenceFollowsTheJournalAndReportsIt(t *testing.T) {
	ctx := context.Background()
	fj := &flakyJournal{}
	a := newWrappedFixture(t, func(j events.Journal) events.Journal { fj.Journal = j; return fj })
	fj.set(1, 0)
	a.failN(5) // A's trip never reaches the journal
	// Another writer appends seq 1 first.
	other, err := machine.New("svc", machine.WithJournal(a.j), machine.WithClock(a.clk))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.ForceOpen(ctx, machine.Override{Operator: "ops", Note: "drill"}); err != nil {
		t.Fatal(err)
	}
	if err := a.b.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got, want := a.b.Snapshot(), other.Snapshot(); !got.Equal(want) {
		t.Fatalf("A.Snapshot() = %+v, want the journal's %+v", got, want)
	}
	var diverged bool
	for _, err := range a.errs.Errors() {
		if errors.Is(err, events.ErrConflict) && strings.Contains(err.Error(), "never reached the journal") {
			diverged = true
		}
	}
	if !diverged {
		t.Errorf("error handler got %v, want the lost transitions reported", a.errs.Errors())
	}
}

func TestTransitionRecordsKeepAtMostOneKiBOfErrorText(t *testing.T) {
	f := newFixture(t, machine.WithFailureThreshold(1))
	long := strings.Repeat("é", 2000) // 4000 bytes
	if err := f.do(func(context.Context) error { return errors.New(long) }); err == nil {
		t.Fatal("the call did not fail")
	}
	got := f.last().Reason.LastError
	if !strings.HasSuffix(got, "…(truncated)") {
		t.Fatalf("LastError of %d bytes does not say it was cut", len(got))
	}
	kept := strings.TrimSuffix(got, "…(truncated)")
	if len(kept) > 1024 || !strings.HasPrefix(long, kept) || len(kept) < 1022 {
		t.Errorf("kept %d bytes, want the first whole runes of at most 1024 bytes", len(kept))
	}
}

func TestAFailedAppendIsRetriedByATimerWithoutACall(t *testing.T) {
	fj := &flakyJournal{}
	f := newWrappedFixture(t, func(j events.Journal) events.Journal { fj.Journal = j; return fj })
	fj.set(3, 0) // the trip's append and the first two retries fail
	f.failN(5)
	f.wantState(events.Open)
	steps := []struct {
		advance time.Duration
		stored  int    // records in the journal after the advance
		errors  uint64 // Counts().JournalErrors after it
	}{
		{999 * time.Millisecond, 0, 1},
		{time.Millisecond, 0, 2},                // first retry at 1s: fails
		{2*time.Second - time.Nanosecond, 0, 2}, // next after 2s
		{time.Nanosecond, 0, 3},                 // second retry: fails
		{4 * time.Second, 1, 3},                 // third retry, 4s later: stored
		{time.Minute, 1, 3},                     // nothing more to retry
	}
	for i, st := range steps {
		f.clk.Advance(st.advance)
		if got := len(f.journal()); got != st.stored {
			t.Fatalf("step %d: the journal holds %d records, want %d", i, got, st.stored)
		}
		if got := f.b.Counts().JournalErrors; got != st.errors {
			t.Fatalf("step %d: JournalErrors = %d, want %d", i, got, st.errors)
		}
	}
	s, err := events.Replay("svc", f.journal())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(f.b.Snapshot()) {
		t.Errorf("Replay = %+v, want b.Snapshot() %+v", s, f.b.Snapshot())
	}
}
