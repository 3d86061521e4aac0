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

// adopted checks that seen ends with the journal's records from seq on,
// each delivered marked adopted.
func adopted(t *testing.T, who string, seen, journal []events.Transition, from int) {
	t.Helper()
	tail := journal[from-1:]
	if len(seen) < len(tail) {
		t.Fatalf("%s's subscriber saw %v, want it to end with %v", who, seen, tail)
	}
	got := seen[len(seen)-len(tail):]
	for i := range got {
		if !got[i].Adopted {
			t.Fatalf("%s's subscriber got %v unmarked, want it marked adopted", who, got[i])
		}
	}
	if !slices.Equal(stored(got), tail) {
		t.Fatalf("%s's subscriber saw %v, want it to end with %v", who, seen, tail)
	}
}

// Two writers trip at once. A publishes its trip (its subscribers hear of
// it) while its writer appends; the journal already holds B's trip at that
// seq, so A adopts B's record, and its subscribers hear of it, marked
// adopted: the same state, B's open period.
func TestManyWritersTripConflict(t *testing.T) {
	a, b := writers(t)
	a.failN(4) // A is one failure from tripping
	b.failN(5) // B trips first: seq 1
	b.wantState(events.Open)
	a.wantState(events.Closed) // A has not looked at the journal yet

	a.mustFail() // A trips; its append conflicts; it adopts B's record
	a.wantState(events.Open)
	if got, want := a.b.Snapshot(), b.b.Snapshot(); got != want {
		t.Fatalf("A.Snapshot() = %+v, want B's %+v", got, want)
	}
	recs := a.journal()
	if len(recs) != 1 || recs[0].ID != b.journal()[0].ID {
		t.Fatalf("journal = %v, want only B's trip", recs)
	}
	seen := a.log.Records()
	if len(seen) != 2 || seen[0].Adopted || seen[0].ID == recs[0].ID {
		t.Fatalf("A's subscriber saw %v, want A's own trip first", seen)
	}
	adopted(t, "A", seen, recs, 1)
	// Two writers moving a breaker at once is how a shared journal works,
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

// A manual control waits for its record to be stored: when another writer's
// record took its seq, it returns the conflict, and the breaker follows the
// other writer.
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
	recs := a.journal()
	if len(recs) != 1 || recs[0].Event != events.Trip {
		t.Fatalf("journal = %v, want B's trip only", recs)
	}
	adopted(t, "A", a.log.Records(), recs, 1)
	// Now that A follows, its own manual control applies on top.
	if err := a.b.ForceClose(ctx, operator); err != nil {
		t.Fatal(err)
	}
	if got := steps(a.journal()); !slices.Equal(got, []step{tripStep, {events.ForceClose, events.Open, events.Closed}}) {
		t.Fatalf("journal = %v", got)
	}
	a.noErrors()
}

// Two writers probe at once: A's call fires its own probe; its append
// conflicts with B's probe, and A adopts B's half-open period. Over a
// journal that does no I/O (Memory, events.Immediate) the append runs on
// the call's goroutine before it is admitted: A's call is a probe of B's
// period, and its success counts there.
func TestManyWritersProbeConflict(t *testing.T) {
	a, b := writers(t)
	b.failN(5)
	if err := a.b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.wantState(events.Open)
	a.clk.Advance(machine.DefaultRecoveryTimeout)
	b.mustSucceed() // B probes: seq 2
	called := false
	if err := a.do(func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Fatalf("A's call after the open period: err %v, called %v", err, called)
	}
	a.wantState(events.HalfOpen)
	if got, want := a.b.Snapshot(), b.b.Snapshot(); got != want {
		t.Fatalf("A.Snapshot() = %+v, want %+v", got, want)
	}
	if c := a.b.Counts(); c.Probes != 0 || c.ProbeSuccesses != 1 {
		t.Fatalf("A's counts = %+v, want its call counted as a probe of the adopted period", c)
	}
	adopted(t, "A", a.log.Records(), a.journal(), 2)
	a.noErrors()
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
	adopted(t, "A", a.log.Records(), a.journal(), 1)
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
	adopted(t, "B", b.log.Records(), b.journal(), 5)
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

// An inline subscriber that the journal writer gives an adopted record may
// call Sync and the manual controls: they do not wait for the writer, which
// is busy delivering to it (they used to wait for themselves until their
// context ended).
func TestSubscriberOfTheWriterMayCallTheBreaker(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(t0)
	j := newMemory(t)
	var a *machine.Breaker
	results := make(chan error, 2)
	sub := hooks.Inline(hooks.Func(func(ctx context.Context, tr events.Transition) {
		if tr.Adopted && tr.Event == events.ForceOpen {
			results <- a.Sync(ctx)
			results <- a.ForceClose(ctx, machine.Override{Operator: "pager", Note: "closed on adoption"})
		}
	}))
	var err error
	a, err = machine.New("svc", machine.WithClock(clk), machine.WithJournal(j), machine.WithSubscribers(sub))
	if err != nil {
		t.Fatal(err)
	}
	b, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(j))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ForceOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	within(t, "a's trip, adopted, and its subscriber's calls", func() {
		_ = a.ForceOpen(ctx, operator) // conflicts with b's: a adopts it
		for range 2 {
			if err := <-results; err != nil {
				t.Errorf("a call from the writer's subscriber: %v", err)
			}
		}
		if err := a.Sync(ctx); err != nil {
			t.Error(err)
		}
	})
	wantBreakerState(t, a, events.Closed)
	if got := steps(readAll(t, j, "svc")); !slices.Equal(got, []step{{events.ForceOpen, events.Closed, events.Open}, {events.ForceClose, events.Open, events.Closed}}) {
		t.Fatalf("journal = %v", got)
	}
}
