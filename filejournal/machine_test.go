package filejournal_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/machine"
)

// The tests in this file run a machine.Breaker over a File journal, with a
// fake clock: what a service does, in one process.

var errFjDown = errors.New("dependency down")

// fjBreaker builds breaker "svc" over j with a fake clock at now; journal
// errors the breaker reports go to errs.
func fjBreaker(t testing.TB, j events.Journal, now time.Time, errs *fjWarnings) (*machine.Breaker, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.New(now)
	b, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(j), machine.WithErrorHandler(errs.handle))
	if err != nil {
		t.Fatalf("machine.New: %v", err)
	}
	return b, clk
}

// fjCall runs a call through b and returns its error, once the breaker's
// journal writer has done what it could (Sync waits for it), so that the
// test reads the file as the breaker left it.
func fjCall(b *machine.Breaker, err error) error {
	defer func() { _ = b.Sync(context.Background()) }()
	return b.Do(context.Background(), func(context.Context) error { return err })
}

func fjSteps(recs []events.Transition) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d:%s", r.Seq, r.Event))
	}
	return out
}

func TestFileBreakerResumesOpenAfterReopen(t *testing.T) {
	path := fjPath(t)
	errs := &fjWarnings{}
	f := fjOpen(t, path, nil)
	b, _ := fjBreaker(t, f, t0, errs)
	for range machine.DefaultFailureThreshold {
		fjCall(b, errFjDown)
	}
	if b.State() != events.Open {
		t.Fatalf("state %s after %d failures, want open", b.State(), machine.DefaultFailureThreshold)
	}
	if err := f.Close(); err != nil { // the process stops
		t.Fatal(err)
	}

	g := fjOpen(t, path, nil)
	b2, clk := fjBreaker(t, g, t0.Add(10*time.Second), errs)
	if b2.State() != events.Open {
		t.Fatalf("resumed state %s, want open", b2.State())
	}
	var oe *machine.OpenError
	if err := fjCall(b2, nil); !errors.As(err, &oe) || oe.RetryAfter() != machine.DefaultRecoveryTimeout-10*time.Second {
		t.Fatalf("call after the restart = %v, want a rejection with RetryAfter %s", err, machine.DefaultRecoveryTimeout-10*time.Second)
	}
	clk.Advance(machine.DefaultRecoveryTimeout - 10*time.Second)
	for range machine.DefaultSuccessThreshold {
		if err := fjCall(b2, nil); err != nil {
			t.Fatalf("probe: %v", err)
		}
	}
	if b2.State() != events.Closed {
		t.Fatalf("state %s after the probes, want closed", b2.State())
	}
	recs := fjReadAll(t, g, "svc")
	if got, want := fjSteps(recs), []string{"1:trip", "2:probe", "3:recover"}; !slices.Equal(got, want) {
		t.Fatalf("journal %v, want %v", got, want)
	}
	if !b2.Snapshot().Equal(fjLoad(t, g, "svc")) {
		t.Fatalf("breaker %+v, journal fold %+v", b2.Snapshot(), fjLoad(t, g, "svc"))
	}
	errs.requireNone(t)
}

func TestFileBreakerResumesFromACheckpoint(t *testing.T) {
	path := fjPath(t)
	errs := &fjWarnings{}
	f := fjOpen(t, path, nil, filejournal.WithSegmentSize(1))
	b, clk := fjBreaker(t, f, t0, errs)
	for range 4 { // four rounds of trip, probe, recover
		for range machine.DefaultFailureThreshold {
			fjCall(b, errFjDown)
		}
		clk.Advance(machine.DefaultRecoveryTimeout)
		for range machine.DefaultSuccessThreshold {
			fjCall(b, nil)
		}
	}
	for range machine.DefaultFailureThreshold { // and open again
		fjCall(b, errFjDown)
	}
	want := b.Snapshot()
	if want.Seq != 13 || want.State != events.Open {
		t.Fatalf("breaker at %+v, want open at seq 13", want)
	}
	if st := f.Stats(); st.Snapshots != 1 || st.Records > 2 {
		t.Fatalf("Stats() = %+v: the journal did not seal", st)
	}
	f.Close()

	g := fjOpen(t, path, nil)
	b2, _ := fjBreaker(t, g, clk.Now().Add(time.Second), errs)
	if got := b2.Snapshot(); !got.Equal(want) {
		t.Fatalf("resumed %+v, want %+v", got, want)
	}
	var oe *machine.OpenError
	if err := fjCall(b2, nil); !errors.As(err, &oe) || oe.RetryAfter() != machine.DefaultRecoveryTimeout-time.Second {
		t.Fatalf("call = %v, want a rejection with RetryAfter %s", err, machine.DefaultRecoveryTimeout-time.Second)
	}
	errs.requireNone(t)
}

// A journal that fails (here: closed under the breaker) does not stop the
// breaker: the transition happens in memory and the failure is reported as
// a *machine.JournalError naming the journal file.
func TestFileBreakerReportsJournalFailure(t *testing.T) {
	path := fjPath(t)
	errs := &fjWarnings{}
	f := fjOpen(t, path, nil)
	b, _ := fjBreaker(t, f, t0, errs)
	f.Close()
	for range machine.DefaultFailureThreshold {
		fjCall(b, errFjDown)
	}
	if b.State() != events.Open {
		t.Fatalf("state %s, want open: a journal failure must not stop the breaker", b.State())
	}
	got := errs.all()
	var je *machine.JournalError
	if len(got) != 1 || !errors.As(got[0], &je) || !errors.Is(got[0], filejournal.ErrClosed) {
		t.Fatalf("reported %v, want one *machine.JournalError matching filejournal.ErrClosed", got)
	}
	fjFileError(t, got[0], path, filejournal.ErrClosed, 0)
	if c := b.Counts(); c.JournalErrors != 1 {
		t.Fatalf("Counts().JournalErrors = %d, want 1", c.JournalErrors)
	}
}

// Two breakers of one process share one File; each one's history stays
// its own, under concurrent calls.
func TestFileSharedByConcurrentBreakers(t *testing.T) {
	path := fjPath(t)
	errs := &fjWarnings{}
	f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone))
	var wg sync.WaitGroup
	names := []string{"p", "q", "r", "s"}
	for _, name := range names {
		clk := clocktest.New(t0)
		b, err := machine.New(name, machine.WithClock(clk), machine.WithJournal(f), machine.WithErrorHandler(errs.handle))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				b.ForceOpen(context.Background(), machine.Override{Operator: "test", Note: "cycle"})
				b.ForceClose(context.Background(), machine.Override{Operator: "test", Note: "cycle"})
			}
		}()
	}
	wg.Wait()
	errs.requireNone(t)
	f.Close()
	r, err := filejournal.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if s := fjLoad(t, r, name); s.Seq != 40 || s.State != events.Closed {
			t.Fatalf("breaker %s: %+v, want closed at seq 40", name, s)
		}
	}
}
