package machine_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

var errFull = errors.New("disk full")

// flakyJournal wraps a journal. While failures > 0 each Append fails with
// errFull and stores nothing. While ambiguous > 0 each Append stores the
// record and then fails all the same, as a write that timed out after it
// reached the disk does.
type flakyJournal struct {
	events.Journal
	mu        sync.Mutex
	failures  int
	ambiguous int
	appends   []uint64 // seqs of every Append attempt
}

func (j *flakyJournal) Append(ctx context.Context, t events.Transition) error {
	j.mu.Lock()
	j.appends = append(j.appends, t.Seq)
	fail, amb := j.failures > 0, j.ambiguous > 0
	if fail {
		j.failures--
	} else if amb {
		j.ambiguous--
	}
	j.mu.Unlock()
	if fail {
		return errFull
	}
	err := j.Journal.Append(ctx, t)
	if amb && err == nil {
		return errors.New("write timed out")
	}
	return err
}

func (j *flakyJournal) set(failures, ambiguous int) {
	j.mu.Lock()
	j.failures, j.ambiguous = failures, ambiguous
	j.mu.Unlock()
}

func journalErrors(t *testing.T, errs []error) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, err := range errs {
		var je *machine.JournalError
		if !errors.As(err, &je) {
			t.Fatalf("error handler received %v (%T), want *machine.JournalError", err, err)
		}
		if je.Breaker != "svc" {
			t.Fatalf("JournalError names breaker %q", je.Breaker)
		}
		seqs = append(seqs, je.Seq)
	}
	return seqs
}

func TestJournalAppendFailure(t *testing.T) {
	ctx := context.Background()
	var j *flakyJournal
	queued := &recorder{}
	f := newWrappedFixture(t, func(mem events.Journal) events.Journal {
		j = &flakyJournal{Journal: mem}
		return j
	}, machine.WithSubscribers(queued), machine.WithSuccessThreshold(1))
	defer f.b.Flush(ctx)

	j.set(2, 0)
	f.failN(5) // trip, seq 1: refused
	f.wantState(events.Open)
	if got := f.log.Records(); len(got) != 1 || got[0].Seq != 1 || got[0].Event != events.Trip {
		t.Fatalf("inline subscriber saw %v, want the trip", got)
	}
	if got := f.journal(); len(got) != 0 {
		t.Fatalf("journal holds %v", got)
	}
	if got := journalErrors(t, f.errs.Errors()); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("JournalError seqs = %v, want [1]", got)
	}
	if c := f.b.Counts(); c.JournalErrors != 1 {
		t.Fatalf("JournalErrors = %d, want 1", c.JournalErrors)
	}
	if err := f.errs.Errors()[0]; !errors.Is(err, errFull) {
		t.Fatalf("JournalError %v does not wrap the journal's error", err)
	}

	// The breaker goes on protecting its caller.
	openError(t, f.do(okCall))
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	if err := f.do(failCall); !errors.Is(err, errDep) { // probe, seq 2: seq 1 refused again; then retrip, seq 3
		t.Fatalf("probe: %v", err)
	}
	f.wantState(events.Open)
	if got := f.journal(); len(got) != 3 {
		t.Fatalf("journal holds %v, want seqs 1 to 3 appended once it worked", steps(got))
	}
	if got := journalErrors(t, f.errs.Errors()); !slices.Equal(got, []uint64{1, 1}) {
		t.Fatalf("JournalError seqs = %v, want [1 1]", got)
	}
	if c := f.b.Counts(); c.JournalErrors != 2 {
		t.Fatalf("JournalErrors = %d, want 2", c.JournalErrors)
	}
	j.mu.Lock()
	attempts := slices.Clone(j.appends)
	j.mu.Unlock()
	if want := []uint64{1, 1, 1, 2, 3}; !slices.Equal(attempts, want) {
		t.Fatalf("append attempts = %v, want %v (kept records first, in order)", attempts, want)
	}

	f.clk.Advance(machine.DefaultRecoveryTimeout)
	f.mustSucceed() // probe, recover
	f.wantState(events.Closed)
	f.wantSteps(tripStep, probeStep, retripStep, probeStep, recoverStep)
	if err := f.b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := queued.Records(); !slices.Equal(got, f.journal()) {
		t.Fatalf("queued subscriber saw %v, want the journal", got)
	}
}

// TestJournalAppendFailureAtTheEnd: records refused by the journal stay
// kept, not lost, until the next transition appends them.
func TestJournalAppendFailureAtTheEnd(t *testing.T) {
	var j *flakyJournal
	f := newWrappedFixture(t, func(mem events.Journal) events.Journal {
		j = &flakyJournal{Journal: mem}
		return j
	})
	f.failN(5)
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	f.mustSucceed()
	if got := f.journal(); len(got) != 2 {
		t.Fatalf("journal holds %v", got)
	}
	j.set(1, 0)
	f.mustSucceed() // recover, seq 3: refused
	f.wantState(events.Closed)
	if got := f.journal(); len(got) != 2 {
		t.Fatalf("journal holds %v", got)
	}
	if snap := f.b.Snapshot(); snap.Seq != 3 || snap.State != events.Closed {
		t.Fatalf("Snapshot() = %+v, want seq 3 closed", snap)
	}
	if err := f.b.Sync(context.Background()); err != nil { // nothing new: the kept record stays kept
		t.Fatal(err)
	}
	f.failN(5) // trip, seq 4: seq 3 first
	f.wantSteps(tripStep, probeStep, recoverStep, tripStep)
	if got := journalErrors(t, f.errs.Errors()); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("JournalError seqs = %v, want [3]", got)
	}
}

// TestJournalAmbiguousAppend: an append that reports an error although the
// record was stored (a write that timed out after it reached the disk). When
// the breaker appends its kept record again, the journal answers with a
// conflict whose record is the breaker's own; the breaker must neither wedge
// nor lose the transition it was making.
func TestJournalAmbiguousAppend(t *testing.T) {
	newAmbiguous := func(t *testing.T) (*fixture, *flakyJournal) {
		var j *flakyJournal
		f := newWrappedFixture(t, func(mem events.Journal) events.Journal {
			j = &flakyJournal{Journal: mem}
			return j
		})
		return f, j
	}
	t.Run("trip, then probe", func(t *testing.T) {
		f, j := newAmbiguous(t)
		j.set(0, 1)
		f.failN(5)
		f.wantState(events.Open)
		if got := journalErrors(t, f.errs.Errors()); !slices.Equal(got, []uint64{1}) {
			t.Fatalf("JournalError seqs = %v, want [1]", got)
		}
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		if err := f.do(okCall); err != nil {
			t.Fatalf("first call after the open period: %v", err)
		}
		f.wantState(events.HalfOpen)
		f.mustSucceed()
		f.wantState(events.Closed)
		f.wantSteps(tripStep, probeStep, recoverStep)
	})
	t.Run("recover, then trip", func(t *testing.T) {
		f, j := newAmbiguous(t)
		enterState(f, events.HalfOpen)
		j.set(0, 1)
		f.mustSucceed() // recover, seq 3: stored, reported as failed
		f.wantState(events.Closed)
		// The dependency is down: the breaker opens on the fifth failure.
		// Its kept seq 3 conflicts with the journal's seq 3, which is the
		// same record: it counts as stored, and the trip follows it.
		f.failN(5)
		f.wantState(events.Open)
		f.wantSteps(tripStep, probeStep, recoverStep, tripStep)
		if got := journalErrors(t, f.errs.Errors()); !slices.Equal(got, []uint64{3}) {
			t.Fatalf("errors reported: %v, want only the JournalError of seq 3", f.errs.Errors())
		}
		if err := f.b.Sync(context.Background()); err != nil {
			t.Fatalf("Sync after the kept record was recognised: %v", err)
		}
	})
	t.Run("force_open, then force_close", func(t *testing.T) {
		ctx := context.Background()
		f, j := newAmbiguous(t)
		j.set(0, 1)
		// Stored, and reported as failed: the operator is told so.
		if err := f.b.ForceOpen(ctx, operator); !errors.As(err, new(*machine.JournalError)) {
			t.Fatalf("ForceOpen with an ambiguous append = %v, want the JournalError", err)
		}
		f.wantState(events.Open)
		err := f.b.ForceClose(ctx, operator)
		if err != nil && !errors.Is(err, events.ErrConflict) {
			t.Fatalf("ForceClose: %v", err)
		}
		if err != nil { // the operator tries again
			f.wantState(events.Open)
			if err := f.b.ForceClose(ctx, operator); err != nil {
				t.Fatalf("ForceClose again: %v", err)
			}
		}
		f.wantState(events.Closed)
		f.wantSteps(step{events.ForceOpen, events.Closed, events.Open}, step{events.ForceClose, events.Open, events.Closed})
	})
}
