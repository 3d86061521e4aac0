package machine_test

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
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// t0 is the fake clock's start in every test.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

var (
	errDep      = errors.New("dependency failed")
	errSentinel = errors.New("not the dependency's fault")
)

func okCall(context.Context) error   { return nil }
func failCall(context.Context) error { return errDep }

// recorder is a subscriber that keeps every record it is given.
type recorder struct {
	mu   sync.Mutex
	recs []events.Transition
}

func (r *recorder) Notify(_ context.Context, t events.Transition) {
	r.mu.Lock()
	r.recs = append(r.recs, t)
	r.mu.Unlock()
}

func (r *recorder) Records() []events.Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// errSink collects what a breaker reports to its error handler.
type errSink struct {
	mu   sync.Mutex
	errs []error
}

func (s *errSink) handle(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *errSink) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// fixture is a breaker over a fake clock and an in-memory journal, with an
// inline recording subscriber and a collecting error handler.
type fixture struct {
	t    testing.TB
	clk  *clocktest.Clock
	j    *events.Memory
	b    *machine.Breaker
	log  *recorder
	errs *errSink
}

func newMemory(t testing.TB) *events.Memory {
	t.Helper()
	j, err := events.NewMemory(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// newFixture builds a breaker named "svc" with the defaults, overridden by
// opts. Options that come later win, so opts may replace the journal or the
// clock.
func newFixture(t testing.TB, opts ...machine.Option) *fixture {
	t.Helper()
	return newWrappedFixture(t, nil, opts...)
}

// newWrappedFixture is newFixture with the breaker's journal being
// wrap(f.j), so that a test can make appends fail; f.j still reads what was
// stored.
func newWrappedFixture(t testing.TB, wrap func(events.Journal) events.Journal, opts ...machine.Option) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: clocktest.New(t0), j: newMemory(t), log: &recorder{}, errs: &errSink{}}
	var j events.Journal = f.j
	if wrap != nil {
		j = wrap(f.j)
	}
	base := []machine.Option{
		machine.WithClock(f.clk),
		machine.WithJournal(j),
		machine.WithSubscribers(hooks.Inline(f.log)),
		machine.WithErrorHandler(f.errs.handle),
	}
	b, err := machine.New("svc", append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.b = b
	return f
}

// do runs fn through the breaker and returns its error, once the journal
// writer has stored what the call made (it appends on a goroutine of its
// own): the tests then read the journal as the breaker left it.
func (f *fixture) do(fn func(context.Context) error) error {
	defer machine.Settle(f.b)
	return f.b.Do(context.Background(), fn)
}

// mustSucceed runs a successful call that must be admitted.
func (f *fixture) mustSucceed() {
	f.t.Helper()
	if err := f.do(okCall); err != nil {
		f.t.Fatalf("successful call: %v", err)
	}
}

// mustFail runs a failing call that must be admitted.
func (f *fixture) mustFail() {
	f.t.Helper()
	if err := f.do(failCall); !errors.Is(err, errDep) {
		f.t.Fatalf("failing call: got %v, want %v", err, errDep)
	}
}

// trip fails n admitted calls.
func (f *fixture) failN(n int) {
	f.t.Helper()
	for range n {
		f.mustFail()
	}
}

// wantState checks the breaker's state, and that the fsm agrees.
func (f *fixture) wantState(want events.State) {
	f.t.Helper()
	wantBreakerState(f.t, f.b, want)
}

func wantBreakerState(t testing.TB, b *machine.Breaker, want events.State) {
	t.Helper()
	machine.Settle(b) // the journal holds what the breaker published, for the tests that read it next
	if got := b.State(); got != want {
		t.Fatalf("State() = %s, want %s", got, want)
	}
	if got := machine.FSMState(b); got != want.String() {
		t.Fatalf("FSMState = %s, want %s", got, want)
	}
}

// journal returns every record of the fixture's breaker.
func (f *fixture) journal() []events.Transition {
	f.t.Helper()
	machine.Settle(f.b)
	return readAll(f.t, f.j, f.b.Name())
}

func readAll(t testing.TB, j events.Journal, name string) []events.Transition {
	t.Helper()
	recs, err := j.Read(context.Background(), name, 0)
	if err != nil {
		t.Fatalf("journal Read: %v", err)
	}
	return recs
}

// step is the part of a record that the rules decide.
type step struct {
	Event    events.Event
	From, To events.State
}

func (s step) String() string { return fmt.Sprintf("%s:%s->%s", s.Event, s.From, s.To) }

func steps(recs []events.Transition) []step {
	out := make([]step, len(recs))
	for i, r := range recs {
		out[i] = step{r.Event, r.From, r.To}
	}
	return out
}

// wantSteps checks the event/from/to sequence of the journal, that sequence
// numbers run from 1 without a gap, that the inline subscriber saw exactly
// the journal, and that replaying the journal gives the breaker's snapshot.
func (f *fixture) wantSteps(want ...step) {
	f.t.Helper()
	recs := f.journal()
	if got := steps(recs); !slices.Equal(got, want) {
		f.t.Fatalf("journal = %v, want %v", got, want)
	}
	wantConsistent(f.t, f.b, recs, f.log.Records())
}

// wantConsistent checks a breaker against its journal records and a
// subscriber's log.
func wantConsistent(t testing.TB, b *machine.Breaker, recs, seen []events.Transition) {
	t.Helper()
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("journal record %d has seq %d, want %d", i, r.Seq, i+1)
		}
		if r.Breaker != b.Name() {
			t.Fatalf("journal record %d names breaker %q, want %q", i, r.Breaker, b.Name())
		}
	}
	if !slices.Equal(stored(seen), recs) {
		t.Fatalf("subscriber saw %v, journal holds %v", seen, recs)
	}
	snap, err := events.Replay(b.Name(), recs)
	if err != nil {
		t.Fatalf("Replay(journal): %v", err)
	}
	if got := b.Snapshot(); got != snap {
		t.Fatalf("Snapshot() = %+v, Replay(journal) = %+v", got, snap)
	}
}

// last returns the last record of the journal.
func (f *fixture) last() events.Transition {
	f.t.Helper()
	recs := f.journal()
	if len(recs) == 0 {
		f.t.Fatal("journal is empty")
	}
	return recs[len(recs)-1]
}

// openError checks that err is a rejection and returns its detail.
func openError(t testing.TB, err error) *machine.OpenError {
	t.Helper()
	if !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("error %v does not match ErrOpen", err)
	}
	var oe *machine.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an *OpenError", err, err)
	}
	return oe
}

// noErrors fails the test if the error handler received anything.
func (f *fixture) noErrors() {
	f.t.Helper()
	if errs := f.errs.Errors(); len(errs) > 0 {
		f.t.Fatalf("error handler received %v", errs)
	}
}

var operator = machine.Override{Operator: "alice", Note: "maintenance window"}

// within runs fn and fails the test if it does not return within a long
// time: a watchdog against deadlocks, never a timing assertion.
func within(t testing.TB, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return: deadlock", what)
	}
}

// stored returns recs as the journal holds them: without the Adopted mark
// of delivery.
func stored(recs []events.Transition) []events.Transition {
	out := slices.Clone(recs)
	for i := range out {
		out[i].Adopted = false
	}
	return out
}
