package machine_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// writers returns two breakers named "svc" sharing one journal and one clock,
// as two instances of a service sharing one breaker state would.
func writers(t *testing.T) (a, b *fixture) {
	t.Helper()
	clk := clocktest.New(t0)
	j := newMemory(t)
	mk := func() *fixture {
		f := &fixture{t: t, clk: clk, j: j, log: &recorder{}, errs: &errSink{}}
		br, err := machine.New("svc",
			machine.WithClock(clk),
			machine.WithJournal(j),
			machine.WithSubscribers(hooks.Inline(f.log)),
			machine.WithErrorHandler(f.errs.handle),
		)
		if err != nil {
			t.Fatal(err)
		}
		f.b = br
		return f
	}
	return mk(), mk()
}

func TestManyWritersTripConflict(t *testing.T) {
	a, b := writers(t)
	a.failN(4) // A is one failure from tripping
	b.failN(5) // B trips first: seq 1
	b.wantState(events.Open)
	a.wantState(events.Closed) // A has not looked at the journal yet

	a.mustFail() // A's trip conflicts: it adopts B's record instead
	a.wantState(events.Open)
	if got, want := a.b.Snapshot(), b.b.Snapshot(); got != want {
		t.Fatalf("A.Snapshot() = %+v, want B's %+v", got, want)
	}
	recs := a.journal()
	if len(recs) != 1 {
		t.Fatalf("journal = %v, want only B's trip", recs)
	}
	if got := a.log.Records(); !slices.Equal(got, recs) {
		t.Fatalf("A's subscriber saw %v, want B's record %v", got, recs)
	}
	// Adopting another writer's history is how a shared journal works,
	// not a fault: nothing goes to the error handler.
	if errs := a.errs.Errors(); len(errs) != 0 {
		t.Fatalf("A's error handler got %v, want nothing", errs)
	}
	// A behaves as open from B's record: same open period.
	oe := openError(t, a.do(okCall))
	if got := oe.RetryAfter(); got != machine.DefaultRecoveryTimeout {
		t.Fatalf("A's RetryAfter() = %v, want %v", got, machine.DefaultRecoveryTimeout)
	}
}

func TestManyWritersManualConflict(t *testing.T) {
	ctx := context.Background()
	a, b := writers(t)
	b.failN(5)
	err := a.b.ForceOpen(ctx, operator)
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("A.ForceOpen = %v, want it to match events.ErrConflict", err)
	}
	var ce *events.ConflictError
	if !errors.As(err, &ce) || ce.Seq != 1 || ce.Last != 1 {
		t.Fatalf("conflict detail = %+v, want seq 1 against last 1", ce)
	}
	a.wantState(events.Open)
	if got, want := a.b.Snapshot(), b.b.Snapshot(); got != want {
		t.Fatalf("A.Snapshot() = %+v, want B's %+v", got, want)
	}
	if got := a.log.Records(); !slices.Equal(got, a.journal()) {
		t.Fatalf("A's subscriber saw %v, want B's record", got)
	}
	if got := a.journal(); len(got) != 1 || got[0].Event != events.Trip {
		t.Fatalf("journal = %v, want B's trip only", got)
	}
	// Now that A follows, its own manual control applies on top.
	if err := a.b.ForceClose(ctx, operator); err != nil {
		t.Fatal(err)
	}
	a.wantSteps(tripStep, step{events.ForceClose, events.Open, events.Closed})
}

func TestManyWritersProbeConflict(t *testing.T) {
	a, b := writers(t)
	b.failN(5)
	if err := a.b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.wantState(events.Open)
	a.clk.Advance(machine.DefaultRecoveryTimeout)
	b.mustSucceed() // B probes: seq 2
	// A's probe conflicts; A adopts half-open and admits its call as a
	// probe of that period.
	called := false
	if err := a.do(func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Fatalf("A's call after the open period: err %v, called %v", err, called)
	}
	a.wantState(events.HalfOpen)
	if got, want := a.b.Snapshot(), b.b.Snapshot(); got != want {
		t.Fatalf("A.Snapshot() = %+v, want %+v", got, want)
	}
	if got := a.log.Records(); !slices.Equal(got, a.journal()) {
		t.Fatalf("A's subscriber saw %v, want the journal %v", got, a.journal())
	}
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	a, b := writers(t)
	if err := a.b.Sync(ctx); err != nil { // nothing to follow
		t.Fatal(err)
	}
	a.wantState(events.Closed)
	if got := a.log.Records(); len(got) != 0 {
		t.Fatalf("A's subscriber saw %v", got)
	}

	b.failN(5)
	b.clk.Advance(machine.DefaultRecoveryTimeout)
	b.mustSucceed()
	b.mustSucceed() // trip, probe, recover
	if err := b.b.ForceOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}

	if err := a.b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	a.wantState(events.Open)
	a.wantSteps(tripStep, probeStep, recoverStep, step{events.ForceOpen, events.Closed, events.Open})
	if got, want := a.b.Snapshot(), b.b.Snapshot(); got != want {
		t.Fatalf("A.Snapshot() = %+v, want %+v", got, want)
	}
	// A writes next, contiguously after B's records.
	if err := a.b.ForceClose(ctx, operator); err != nil {
		t.Fatal(err)
	}
	a.wantSteps(tripStep, probeStep, recoverStep, step{events.ForceOpen, events.Closed, events.Open}, step{events.ForceClose, events.Open, events.Closed})
	if err := b.b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	b.wantState(events.Closed)
	if got := b.log.Records(); !slices.Equal(got, b.journal()) {
		t.Fatalf("B's subscriber saw %v, want the journal", got)
	}
	a.noErrors()
	b.noErrors()
}

func TestSyncFromCompactedJournal(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(t0)
	j, err := events.NewMemory(2)
	if err != nil {
		t.Fatal(err)
	}
	a, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(j))
	if err != nil {
		t.Fatal(err)
	}
	b, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(j))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := b.ForceOpen(ctx, operator); err != nil {
			t.Fatal(err)
		}
		if err := b.ForceClose(ctx, operator); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.ForceOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := a.Snapshot(), b.Snapshot(); got != want {
		t.Fatalf("A.Snapshot() = %+v, want %+v", got, want)
	}
	wantBreakerState(t, a, events.Open)
}
