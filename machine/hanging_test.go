package machine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// hangingJournal is a journal whose appends hang until released (or until
// their context is done), as a network engine that stopped answering does.
type hangingJournal struct {
	events.Journal
	mu      sync.Mutex
	release chan struct{}
	waiting int // appends hanging now
}

func newHangingJournal(j events.Journal) *hangingJournal {
	return &hangingJournal{Journal: j, release: make(chan struct{})}
}

func (h *hangingJournal) Append(ctx context.Context, t events.Transition) error {
	h.mu.Lock()
	release := h.release
	h.waiting++
	h.mu.Unlock()
	defer func() { h.mu.Lock(); h.waiting--; h.mu.Unlock() }()
	select {
	case <-release:
		return h.Journal.Append(ctx, t)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hangingJournal) unblock() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.release)
}

// TestNoCallWaitsOnAHangingJournal: with every append hanging, each call
// path (closed calls, the call that trips, rejections in open, the call that
// fires the probe, half-open admissions and the probe outcomes that recover)
// returns at once, and the breaker moves as it would with a journal that
// answers; the records reach the journal once it does.
func TestNoCallWaitsOnAHangingJournal(t *testing.T) {
	var h *hangingJournal
	f := newWrappedFixture(t, func(j events.Journal) events.Journal {
		h = newHangingJournal(j)
		return h
	}, machine.WithJournalTimeout(time.Hour), machine.WithProbeLimit(1))
	ctx := context.Background()
	do := func(what string, fn func(context.Context) error) error {
		t.Helper()
		var err error
		within(t, what, func() { err = f.b.Do(ctx, fn) }) // never f.do: it waits for the writer
		return err
	}
	for i := range machine.DefaultFailureThreshold {
		if err := do("a failing call in closed", failCall); !errors.Is(err, errDep) {
			t.Fatalf("failing call %d: %v", i, err)
		}
	}
	if got := f.b.State(); got != events.Open {
		t.Fatalf("State() = %s after the trip, want open", got)
	}
	if err := do("a rejection in open", okCall); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("call in open: %v", err)
	}
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	release := make(chan struct{})
	probeDone := make(chan error, 1)
	go func() { // the call that fires the probe holds its slot a while
		probeDone <- f.b.Do(ctx, func(context.Context) error { <-release; return nil })
	}()
	deadline := time.Now().Add(20 * time.Second) // a watchdog, not a timing assertion
	for f.b.State() != events.HalfOpen {
		if time.Now().After(deadline) {
			t.Fatal("the call after the open period did not fire the probe")
		}
		time.Sleep(time.Millisecond)
	}
	if err := do("a call in half-open with every slot taken", okCall); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("second probe: %v, want a rejection", err)
	}
	close(release)
	within(t, "the probe", func() {
		if err := <-probeDone; err != nil {
			t.Errorf("probe: %v", err)
		}
	})
	if err := do("the second probe, which recovers", okCall); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if got := f.b.State(); got != events.Closed {
		t.Fatalf("State() = %s, want closed", got)
	}
	p, err := f.b.Allow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "Done", func() { p.Done(nil) })
	if got := readAll(t, f.j, "svc"); len(got) != 0 {
		t.Fatalf("the hanging journal holds %v", got)
	}

	h.unblock()
	if err := f.b.Sync(ctx); err != nil {
		t.Fatalf("Sync once the journal answers: %v", err)
	}
	f.wantSteps(tripStep, probeStep, recoverStep)
}

// TestManualControlWaitsForItsRecordWithinCtx: a manual control waits for
// the journal to store its record, bounded by its context; the transition
// is made all the same.
func TestManualControlWaitsForItsRecordWithinCtx(t *testing.T) {
	var h *hangingJournal
	f := newWrappedFixture(t, func(j events.Journal) events.Journal {
		h = newHangingJournal(j)
		return h
	}, machine.WithJournalTimeout(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var err error
	within(t, "ForceOpen with a hanging journal", func() { err = f.b.ForceOpen(ctx, operator) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ForceOpen = %v, want its context's deadline", err)
	}
	if got := f.b.State(); got != events.Open {
		t.Fatalf("State() = %s, want open: the control is made", got)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer scancel()
	if err := f.b.Sync(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with a hanging journal = %v, want its context's deadline", err)
	}
	h.unblock()
	if err := f.b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.journal(); len(got) != 1 || got[0].Event != events.ForceOpen {
		t.Fatalf("journal = %v, want the force_open", got)
	}
}

// TestJournalTimeout: an append that hangs past the journal timeout is a
// failure like any other: reported, kept, and appended again later.
func TestJournalTimeout(t *testing.T) {
	var h *hangingJournal
	f := newWrappedFixture(t, func(j events.Journal) events.Journal {
		h = newHangingJournal(j)
		return h
	}, machine.WithJournalTimeout(20*time.Millisecond))
	f.failN(5) // f.do waits for the writer: its append times out
	var je *machine.JournalError
	if errs := f.errs.Errors(); len(errs) != 1 || !errors.As(errs[0], &je) || !errors.Is(je, context.DeadlineExceeded) {
		t.Fatalf("errors reported: %v, want a JournalError of the timeout", errs)
	}
	h.unblock()
	f.clk.Advance(time.Second) // the retry
	f.wantSteps(tripStep)
	if _, err := machine.New("x", machine.WithJournalTimeout(0)); !errors.Is(err, events.ErrInvalidOption) {
		t.Fatalf("WithJournalTimeout(0): %v", err)
	}
}

// Close tells a manual control still waiting for its record, with a context
// that never ends, that the record will not be stored: it used to wait for
// ever.
func TestCloseReleasesAWaitingManualControl(t *testing.T) {
	var h *hangingJournal
	f := newWrappedFixture(t, func(j events.Journal) events.Journal {
		h = newHangingJournal(j)
		return h
	}, machine.WithJournalTimeout(time.Hour))
	defer h.unblock()
	got := make(chan error, 1)
	go func() { got <- f.b.ForceOpen(context.Background(), operator) }()
	eventually(t, "the force_open is made", func() bool { return f.b.State() == events.Open })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, machine.ErrUnstored) {
		t.Fatalf("Close with a hanging journal = %v, want its deadline and ErrUnstored", err)
	}
	within(t, "the waiting ForceOpen", func() {
		if err := <-got; !errors.Is(err, machine.ErrUnstored) {
			t.Errorf("ForceOpen = %v, want ErrUnstored", err)
		}
	})
}
