package machine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// Regression tests: no input a caller can pass, and no fault of a journal,
// a clock or a user callback, may wedge a breaker or stall its journal.

// refusingJournal refuses every append for good.
type refusingJournal struct{ events.Journal }

func (refusingJournal) Append(_ context.Context, t events.Transition) error {
	return &events.RefusedError{Breaker: t.Breaker, Seq: t.Seq, Err: errors.New("journal closed")}
}

// panickingJournal panics on the appends it is told to, then behaves.
type panickingJournal struct {
	events.Journal
	panics atomic.Int32
}

func (j *panickingJournal) Append(ctx context.Context, t events.Transition) error {
	if j.panics.Add(-1) >= 0 {
		panic("journal bug")
	}
	return j.Journal.Append(ctx, t)
}

// TestOversizedOverrideIsRefusedAtTheSource: a 2 MiB note used to be
// accepted, opening the breaker while the file journal refused its record
// for ever, and every later record with it. It is refused where it is
// given, and the journal keeps every transition.
func TestOversizedOverrideIsRefusedAtTheSource(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.jsonl")
	fj, err := filejournal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fj.Close() })
	f := newFixture(t, machine.WithJournal(fj))

	tests := []struct {
		name string
		o    machine.Override
	}{
		{"2 MiB note", machine.Override{Operator: "alice", Note: strings.Repeat("n", 2<<20)}},
		{"note one byte too long", machine.Override{Operator: "alice", Note: strings.Repeat("n", events.MaxNoteLen+1)}},
		{"huge operator", machine.Override{Operator: strings.Repeat("o", 1<<20), Note: "why"}},
		{"operator not UTF-8", machine.Override{Operator: "al\xffice", Note: "why"}},
		{"operator with a newline", machine.Override{Operator: "alice\nbob", Note: "why"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.b.ForceOpen(ctx, tt.o)
			if !errors.Is(err, machine.ErrInvalidOverride) || !errors.Is(err, events.ErrInvalidText) {
				t.Fatalf("ForceOpen: %v, want ErrInvalidOverride and ErrInvalidText", err)
			}
			if len(err.Error()) > 500 {
				t.Fatalf("the error is %d bytes long: a huge value must not be repeated in it", len(err.Error()))
			}
			f.wantState(events.Closed)
		})
	}
	longest := machine.Override{Operator: strings.Repeat("o", events.MaxOperatorLen), Note: strings.Repeat("n", events.MaxNoteLen)}
	for i, ev := range []func(context.Context, machine.Override) error{f.b.ForceOpen, f.b.ForceClose, f.b.ForceOpen, f.b.ForceHalfOpen, f.b.ForceClose} {
		if err := ev(ctx, longest); err != nil {
			t.Fatalf("manual control %d with the longest override: %v", i+1, err)
		}
	}
	if err := f.b.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if recs := readAll(t, fj, "svc"); len(recs) != 5 {
		t.Fatalf("the file journal holds %d of 5 records", len(recs))
	}
	f.noErrors()
}

// TestJournalRefusalForGood: a journal that refuses a record for good is not
// retried for ever. The breaker goes on protecting in memory, reports each
// transition as unstored, arms no retry timer, and Sync says what is not
// stored.
func TestJournalRefusalForGood(t *testing.T) {
	f := newWrappedFixture(t, func(j events.Journal) events.Journal { return refusingJournal{j} })
	f.failN(5)
	f.wantState(events.Open)
	if err := f.do(okCall); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("call while open: %v, want ErrOpen: the breaker must protect in memory", err)
	}
	errs := f.errs.Errors()
	var je *machine.JournalError
	if len(errs) != 1 || !errors.As(errs[0], &je) || !je.Refused || je.Seq != 1 || !errors.Is(je, events.ErrRefused) {
		t.Fatalf("errors reported: %v, want one refused JournalError of seq 1", errs)
	}
	if n := f.clk.Pending(); n != 1 {
		t.Fatalf("%d timers pending, want only the open period's: no retry of a refusal", n)
	}
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	f.mustSucceed() // probe, seq 2
	f.mustSucceed() // recover, seq 3
	f.wantState(events.Closed)

	err := f.b.Sync(context.Background())
	var ue *machine.UnstoredError
	if !errors.As(err, &ue) || !errors.Is(err, machine.ErrUnstored) || !ue.Refused || ue.FirstSeq != 1 || ue.LastSeq != 3 {
		t.Fatalf("Sync: %v, want an UnstoredError of seq 1 to 3, refused", err)
	}
	if c := f.b.Counts(); c.JournalErrors != 3 {
		t.Fatalf("Counts().JournalErrors = %d, want 3: every unstored transition counts", c.JournalErrors)
	}
	if got := len(f.errs.Errors()); got != 3 {
		t.Fatalf("%d errors reported, want one per unstored transition", got)
	}
}

// TestSyncReportsUnstored: Sync used to return nil while the journal still
// failed and records were only in memory.
func TestSyncReportsUnstored(t *testing.T) {
	var j *flakyJournal
	f := newWrappedFixture(t, func(mem events.Journal) events.Journal {
		j = &flakyJournal{Journal: mem}
		return j
	})
	j.set(100, 0)
	f.failN(5)
	err := f.b.Sync(context.Background())
	var ue *machine.UnstoredError
	if !errors.As(err, &ue) || ue.Refused || ue.FirstSeq != 1 || ue.LastSeq != 1 || !errors.Is(err, errFull) {
		t.Fatalf("Sync with the journal failing: %v, want an UnstoredError of seq 1 wrapping %v", err, errFull)
	}
	j.set(0, 0)
	if err := f.b.Sync(context.Background()); err != nil {
		t.Fatalf("Sync once the journal works: %v", err)
	}
	if got := len(f.journal()); got != 1 {
		t.Fatalf("the journal holds %d records, want 1", got)
	}
}

func TestNewRefusesNamesNoJournalCanStore(t *testing.T) {
	for _, name := range []string{"", "bad\xffname", strings.Repeat("n", 1<<20), strings.Repeat("n", events.MaxNameLen+1), "line\nbreak"} {
		t.Run(fmt.Sprintf("%.12q", name), func(t *testing.T) {
			_, err := machine.New(name)
			var oe *events.OptionError
			if !errors.As(err, &oe) || oe.Option != "name" || !errors.Is(err, events.ErrInvalidOption) {
				t.Fatalf("New: %v, want an OptionError for the name", err)
			}
			if len(err.Error()) > 300 {
				t.Fatalf("the error is %d bytes long", len(err.Error()))
			}
		})
	}
	if _, err := machine.New(strings.Repeat("n", events.MaxNameLen)); err != nil {
		t.Fatalf("New with the longest name: %v", err)
	}
}

// TestNilContexts: a nil context is refused with ErrNilContext, before the
// transition lock is taken; it used to panic with the lock held, and every
// later transition waited for ever.
func TestNilContexts(t *testing.T) {
	var nilCtx context.Context
	f := newFixture(t)
	called := false
	fn := func(context.Context) error { called = true; return nil }
	calls := map[string]func() error{
		"Do": func() error { return f.b.Do(nilCtx, fn) },
		"Execute": func() error {
			_, err := machine.Execute(nilCtx, f.b, func(context.Context) (int, error) { called = true; return 0, nil })
			return err
		},
		"Allow":         func() error { _, err := f.b.Allow(nilCtx); return err },
		"ForceOpen":     func() error { return f.b.ForceOpen(nilCtx, operator) },
		"ForceClose":    func() error { return f.b.ForceClose(nilCtx, operator) },
		"ForceHalfOpen": func() error { return f.b.ForceHalfOpen(nilCtx, operator) },
		"Sync":          func() error { return f.b.Sync(nilCtx) },
		"Flush":         func() error { return f.b.Flush(nilCtx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, machine.ErrNilContext) {
				t.Fatalf("%s(nil): %v, want ErrNilContext", name, err)
			}
			if called {
				t.Fatal("the protected function was called")
			}
		})
	}
	f.wantState(events.Closed)
	if c := f.b.Counts(); c != (machine.Counts{}) {
		t.Fatalf("Counts() = %+v: a refused call must count nothing", c)
	}
	within(t, "a trip after every nil context", func() { f.failN(5) })
	f.wantState(events.Open)
	f.noErrors()
}

// TestPanicsUnderTheLock: a panicking jitter source or journal is
// recovered where it is called and reported; a panicking clock panics the
// call that met it, and the breaker stays usable and consistent.
func TestPanicsUnderTheLock(t *testing.T) {
	t.Run("jitter source", func(t *testing.T) {
		f := newFixture(t, machine.WithJitter(0.5, func() float64 { panic("no entropy") }))
		within(t, "trip", func() { f.failN(5) })
		f.wantState(events.Open)
		if got := f.last().OpenFor; got != machine.DefaultRecoveryTimeout {
			t.Fatalf("OpenFor = %s, want the unjittered %s", got, machine.DefaultRecoveryTimeout)
		}
		if errs := f.errs.Errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "no entropy") {
			t.Fatalf("errors reported: %v, want the jitter source's panic", errs)
		}
	})
	t.Run("journal Append", func(t *testing.T) {
		var j *panickingJournal
		f := newWrappedFixture(t, func(mem events.Journal) events.Journal {
			j = &panickingJournal{Journal: mem}
			j.panics.Store(1)
			return j
		})
		within(t, "trip", func() { f.failN(5) })
		f.wantState(events.Open)
		within(t, "Snapshot, Sync and the next transitions", func() {
			if s := f.b.Snapshot(); s.State != events.Open || s.Seq != 1 {
				t.Errorf("Snapshot() = %+v", s)
			}
			if err := f.b.Sync(context.Background()); err != nil {
				t.Errorf("Sync: %v", err)
			}
			f.clk.Advance(machine.DefaultRecoveryTimeout)
			f.mustSucceed()
			f.mustSucceed()
		})
		f.wantState(events.Closed)
		f.wantSteps(tripStep, probeStep, recoverStep)
		var je *machine.JournalError
		if errs := f.errs.Errors(); len(errs) != 1 || !errors.As(errs[0], &je) || !strings.Contains(je.Error(), "journal bug") {
			t.Fatalf("errors reported: %v, want one JournalError holding the panic", errs)
		}
	})
	t.Run("clock AfterFunc", func(t *testing.T) {
		clk := &panickyClock{Clock: newFixture(t).clk}
		f := newFixture(t, machine.WithClock(clk))
		f.failN(4)
		clk.panics.Store(1)
		func() {
			defer func() {
				if v := recover(); v != "clock bug" {
					t.Fatalf("recovered %v, want the clock's panic", v)
				}
			}()
			_ = f.do(failCall) // trips; arming the open timer panics
			t.Fatal("the clock's panic was swallowed")
		}()
		within(t, "the breaker after the panic", func() {
			_ = f.b.Snapshot()
			_ = f.b.Diagram()
			if err := f.b.ForceClose(context.Background(), operator); err != nil {
				t.Errorf("ForceClose: %v", err)
			}
		})
		f.wantState(events.Closed)
		within(t, "trip again", func() { f.failN(5) })
		f.wantState(events.Open)
		if errs := f.errs.Errors(); len(errs) == 0 || !strings.Contains(errs[0].Error(), "panic under the transition lock") {
			t.Fatalf("errors reported: %v, want the repair reported", errs)
		}
	})
}

// panickyClock panics in AfterFunc while panics > 0.
type panickyClock struct {
	clock.Clock
	panics atomic.Int32
}

func (c *panickyClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	if c.panics.Add(-1) >= 0 {
		panic("clock bug")
	}
	return c.Clock.AfterFunc(d, f)
}

// TestClassifierFaults: an undeclared Outcome used to panic with an index
// out of range; a panicking classifier left a probe slot taken for ever.
func TestClassifierFaults(t *testing.T) {
	tests := []struct {
		name     string
		classify machine.Classifier
		want     string
	}{
		{"undeclared outcome", func(context.Context, error) machine.Outcome { return machine.Outcome(7) }, "Outcome(7)"},
		{"panic", func(context.Context, error) machine.Outcome { panic("classifier bug") }, "classifier bug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var faulty atomic.Bool
			f := newFixture(t, machine.WithClassifier(func(ctx context.Context, err error) machine.Outcome {
				if faulty.Load() {
					return tt.classify(ctx, err)
				}
				return machine.DefaultClassifier(ctx, err)
			}), machine.WithProbeLimit(1))
			enterState(f, events.Open)
			f.clk.Advance(machine.DefaultRecoveryTimeout)
			faulty.Store(true)
			for i := range 3 { // each probe frees its slot: half-open is not wedged
				if err := f.do(failCall); !errors.Is(err, errDep) {
					t.Fatalf("probe %d: %v, want the call's own error", i, err)
				}
			}
			f.wantState(events.HalfOpen)
			if c := f.b.Counts(); c.Ignored != 3 || c.Probes != 0 {
				t.Fatalf("Counts() = %+v, want 3 ignored and no probe slot taken", c)
			}
			var ce *machine.ClassifierError
			if errs := f.errs.Errors(); len(errs) != 1 || !errors.As(errs[0], &ce) || !strings.Contains(ce.Error(), tt.want) {
				t.Fatalf("errors reported: %v, want one ClassifierError saying %q", errs, tt.want)
			}
			faulty.Store(false)
			f.mustSucceed()
			f.mustSucceed()
			f.wantState(events.Closed)
		})
	}
}

func TestCustomPolicyPanic(t *testing.T) {
	f := newFixture(t, machine.WithTripPolicy(
		machine.CustomPolicy("fragile", machine.LastCalls(4), func(machine.WindowCounts) bool { panic("policy bug") }),
		machine.FailureRate(50, 4, machine.LastCalls(4)),
	))
	f.failN(4)
	f.wantState(events.Open) // the failure rate policy still decides
	if got := f.last().Reason.Policy; got != events.PolicyFailureRate {
		t.Fatalf("tripped by %q, want %q", got, events.PolicyFailureRate)
	}
	var pe *machine.PolicyError
	if errs := f.errs.Errors(); len(errs) != 1 || !errors.As(errs[0], &pe) || pe.Policy != "fragile" {
		t.Fatalf("errors reported: %v, want one PolicyError of fragile", errs)
	}
}

// TestReentrantSubscribers: an inline subscriber that calls a manual control
// with a context other than its own, and a queued subscriber that calls
// Flush, used to deadlock.
func TestReentrantSubscribers(t *testing.T) {
	t.Run("inline subscriber forces with its own context", func(t *testing.T) {
		var b *machine.Breaker
		var got []error
		sub := hooks.Inline(hooks.Func(func(_ context.Context, tr events.Transition) {
			if tr.Event == events.Trip {
				got = append(got, b.ForceClose(context.Background(), machine.Override{Operator: "pager", Note: "auto-close"}))
			}
		}))
		f := newFixture(t, machine.WithSubscribers(sub))
		b = f.b
		within(t, "a trip whose subscriber forces close", func() { f.failN(5) })
		if len(got) != 1 || got[0] != nil {
			t.Fatalf("ForceClose from the subscriber: %v", got)
		}
		f.wantState(events.Closed)
		f.wantSteps(tripStep, step{events.ForceClose, events.Open, events.Closed})
	})
	t.Run("queued subscriber calls Flush", func(t *testing.T) {
		var b *machine.Breaker
		got := make(chan error, 1)
		sub := hooks.Func(func(ctx context.Context, _ events.Transition) { got <- b.Flush(context.Background()) })
		f := newFixture(t, machine.WithSubscribers(sub))
		b = f.b
		f.failN(5)
		var err error
		within(t, "Flush from a queued subscriber", func() { err = <-got })
		if !errors.Is(err, hooks.ErrReentrant) {
			t.Fatalf("Flush from a queued subscriber: %v, want ErrReentrant", err)
		}
		if err := f.b.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("inline and queued subscribers get the caller's own context", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(context.Background(), key{}, "caller")
		var mu sync.Mutex
		var seen []context.Context
		record := func(c context.Context, _ events.Transition) { mu.Lock(); seen = append(seen, c); mu.Unlock() }
		f := newFixture(t, machine.WithSubscribers(hooks.Inline(hooks.Func(record)), hooks.Func(record)))
		for range 5 {
			_ = f.b.Do(ctx, failCall)
		}
		if err := f.b.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 2 || seen[0] != ctx || seen[1] != ctx {
			t.Fatalf("subscribers got %v, want the caller's own context twice", seen)
		}
	})
}

// lateClock is a clock whose time moves only when set, and whose timers fire
// only when fired: a timer that fires late.
type lateClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []func()
}

func (c *lateClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *lateClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *lateClock) AfterFunc(_ time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, f)
	return stopper{}
}

func (c *lateClock) fire() {
	c.mu.Lock()
	fs := c.timers
	c.timers = nil
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

type stopper struct{}

func (stopper) Stop() bool { return false }

// TestLateOpenTimer: the open period ends when its timer fires. Until then
// calls are rejected, and no rejection reports a zero or negative wait (it
// used to say "retry after 0s").
func TestLateOpenTimer(t *testing.T) {
	clk := &lateClock{now: t0}
	f := newFixture(t, machine.WithClock(clk))
	f.failN(5)
	f.wantState(events.Open)
	clk.set(t0.Add(machine.DefaultRecoveryTimeout + 5*time.Millisecond)) // past Until; the timer is late
	for i := range 3 {
		oe := openError(t, f.do(okCall))
		if got := oe.RetryAfter(); got < machine.MinRetryAfter {
			t.Fatalf("rejection %d after Until: RetryAfter() = %v, want at least MinRetryAfter", i, got)
		}
		if msg := oe.Error(); !strings.Contains(msg, "retry after 1ms") {
			t.Fatalf("rejection %d: %q, want it to say retry after 1ms", i, msg)
		}
	}
	clk.fire()
	f.mustSucceed() // the probe
	f.wantState(events.HalfOpen)
}
