package machine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// restart builds a second breaker named "svc" over f's journal, with its own
// clock at now, as a process restarted later would.
func restart(t *testing.T, f *fixture, now time.Time) *fixture {
	t.Helper()
	g := &fixture{t: t, clk: clocktest.New(now), j: f.j, log: &recorder{}, errs: &errSink{}}
	b, err := machine.New("svc",
		machine.WithClock(g.clk),
		machine.WithJournal(g.j),
		machine.WithSubscribers(hooks.Inline(g.log)),
		machine.WithErrorHandler(g.errs.handle),
	)
	if err != nil {
		t.Fatalf("New over the journal: %v", err)
	}
	g.b = b
	return g
}

func TestResumeOpen(t *testing.T) {
	first := newFixture(t)
	first.failN(5) // trips at t0
	first.wantState(events.Open)

	second := restart(t, first, t0.Add(10*time.Second))
	second.wantState(events.Open)
	if got, want := second.b.Snapshot(), first.b.Snapshot(); got != want {
		t.Fatalf("resumed Snapshot() = %+v, want %+v", got, want)
	}
	oe := openError(t, second.do(okCall))
	if got := oe.RetryAfter(); got != 20*time.Second {
		t.Fatalf("RetryAfter() after a restart 10s into the open period = %v, want 20s", got)
	}
	second.clk.Advance(20*time.Second - time.Nanosecond)
	oe = openError(t, second.do(okCall))
	if got := oe.RetryAfter(); got != machine.MinRetryAfter {
		t.Fatalf("RetryAfter() 1ns before the end = %v, want MinRetryAfter", got)
	}
	second.clk.Advance(time.Nanosecond)
	second.mustSucceed()
	second.wantState(events.HalfOpen)
	second.mustSucceed()
	second.wantState(events.Closed)

	recs := second.journal()
	if got, want := steps(recs), []step{tripStep, probeStep, recoverStep}; !slices.Equal(got, want) {
		t.Fatalf("journal = %v, want %v", got, want)
	}
	// The resumed breaker's subscriber sees only what it caused.
	wantConsistent(t, second.b, recs, append(first.log.Records(), second.log.Records()...))
	second.noErrors()
}

func TestResumeAfterOpenPeriod(t *testing.T) {
	first := newFixture(t)
	first.failN(5)
	second := restart(t, first, t0.Add(machine.DefaultRecoveryTimeout))
	second.wantState(events.Open)
	called := false
	if err := second.do(func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Fatalf("first call after a restart past the open period: err %v, called %v", err, called)
	}
	second.wantState(events.HalfOpen)
	recs := second.journal()
	if got, want := steps(recs), []step{tripStep, probeStep}; !slices.Equal(got, want) {
		t.Fatalf("journal = %v, want %v", got, want)
	}
	if recs[1].Seq != 2 {
		t.Fatalf("probe seq = %d, want 2", recs[1].Seq)
	}
}

func TestResumeKeepsOpenFor(t *testing.T) {
	first := newFixture(t)
	if err := first.b.ForceOpen(context.Background(), machine.Override{Operator: "alice", Note: "long", OpenFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	second := restart(t, first, t0.Add(time.Minute))
	oe := openError(t, second.do(okCall))
	if got := oe.RetryAfter(); got != 59*time.Minute {
		t.Fatalf("RetryAfter() = %v, want 59m", got)
	}
}

func TestResumeClosedAndHalfOpen(t *testing.T) {
	t.Run("half_open", func(t *testing.T) {
		first := newFixture(t)
		enterState(first, events.HalfOpen) // 1 success in the old process
		second := restart(t, first, t0.Add(time.Hour))
		second.wantState(events.HalfOpen)
		second.wantCounts(probes(0, 0))
		second.mustSucceed()
		second.wantState(events.HalfOpen) // counters start from zero
		second.mustSucceed()
		second.wantState(events.Closed)
		if r := second.last(); r.Seq != 3 || r.Event != events.Recover {
			t.Fatalf("last record = %v, want seq 3 recover", r)
		}
	})
	t.Run("closed after a history", func(t *testing.T) {
		first := newFixture(t)
		enterState(first, events.HalfOpen)
		first.mustSucceed()
		first.failN(3)
		second := restart(t, first, t0.Add(time.Hour))
		second.wantState(events.Closed)
		second.wantCounts(consecutive(0))
		second.failN(5)
		second.wantState(events.Open)
		if r := second.last(); r.Seq != 4 {
			t.Fatalf("trip seq = %d, want 4", r.Seq)
		}
	})
}

// sliceJournal is a journal that holds whatever history it is given, legal or
// not, so that New can be shown one that does not fold.
type sliceJournal struct{ recs []events.Transition }

func (j *sliceJournal) Append(_ context.Context, t events.Transition) error {
	j.recs = append(j.recs, t)
	return nil
}

func (j *sliceJournal) Read(_ context.Context, breaker string, after uint64) ([]events.Transition, error) {
	var out []events.Transition
	for _, r := range j.recs {
		if r.Breaker == breaker && r.Seq > after {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestResumeFromIllegalHistory(t *testing.T) {
	rec := func(seq uint64, ev events.Event, from, to events.State) events.Transition {
		r := events.Transition{Breaker: "svc", Seq: seq, Event: ev, From: from, To: to, Time: t0}
		if to == events.Open {
			r.OpenFor = time.Minute
		}
		return r
	}
	cases := []struct {
		name    string
		history []events.Transition
		seq     uint64
		cause   error
	}{
		{"illegal event", []events.Transition{
			rec(1, events.Trip, events.Closed, events.Open),
			rec(2, events.Recover, events.Open, events.Closed),
		}, 2, events.ErrIllegalTransition},
		{"from disagrees", []events.Transition{
			rec(1, events.Trip, events.Closed, events.Open),
			rec(2, events.Trip, events.Closed, events.Open),
		}, 2, events.ErrIllegalTransition},
		{"gap", []events.Transition{
			rec(1, events.Trip, events.Closed, events.Open),
			rec(3, events.Probe, events.Open, events.HalfOpen),
		}, 3, events.ErrGap},
		{"open without OpenFor", []events.Transition{
			{Breaker: "svc", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open, Time: t0},
		}, 1, events.ErrInvalidRecord},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := &sliceJournal{recs: c.history}
			b, err := machine.New("svc", machine.WithJournal(j), machine.WithClock(clocktest.New(t0)))
			if err == nil {
				t.Fatalf("New succeeded over an illegal history (state %s)", b.State())
			}
			var re *events.RecordError
			if !errors.As(err, &re) {
				t.Fatalf("error %v does not wrap an *events.RecordError", err)
			}
			if re.Seq != c.seq || re.Breaker != "svc" {
				t.Fatalf("RecordError names seq %d of %q, want seq %d of svc", re.Seq, re.Breaker, c.seq)
			}
			if !errors.Is(err, c.cause) {
				t.Fatalf("error %v does not match %v", err, c.cause)
			}
		})
	}
}

// failingRead is a journal that cannot be read.
type failingRead struct{ sliceJournal }

var errDisk = errors.New("disk on fire")

func (*failingRead) Read(context.Context, string, uint64) ([]events.Transition, error) {
	return nil, errDisk
}

func TestResumeJournalUnreadable(t *testing.T) {
	_, err := machine.New("svc", machine.WithJournal(&failingRead{}))
	if !errors.Is(err, errDisk) {
		t.Fatalf("New over an unreadable journal = %v, want it to wrap %v", err, errDisk)
	}
}

func TestResumeFromCompactedJournal(t *testing.T) {
	j, err := events.NewMemory(2)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, machine.WithJournal(j), machine.WithSuccessThreshold(1))
	ctx := context.Background()
	for range 4 { // 12 records: the journal folds the oldest away
		f.failN(5)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustSucceed()
	}
	if err := f.b.ForceOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Read(ctx, "svc", 0); !errors.Is(err, events.ErrCompacted) {
		t.Fatalf("Read(0) = %v, want the journal to have compacted", err)
	}
	b, err := machine.New("svc", machine.WithJournal(j), machine.WithClock(clocktest.New(t0.Add(time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Snapshot(), f.b.Snapshot(); got != want {
		t.Fatalf("resumed from a compacted journal: %+v, want %+v", got, want)
	}
	if got := b.Snapshot().Seq; got != 13 {
		t.Fatalf("Seq = %d, want 13", got)
	}
}
