package otelbridge_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// errDiskFull is what a flakyJournal's Append returns while it is down.
var errDiskFull = errors.New("disk full")

// flakyJournal is an in-memory journal whose Append fails with errDiskFull
// while down is set, counting those failures.
type flakyJournal struct {
	*events.Memory
	down   atomic.Bool
	failed atomic.Int64
}

func (j *flakyJournal) Append(ctx context.Context, t events.Transition) error {
	if j.down.Load() {
		j.failed.Add(1)
		return errDiskFull
	}
	return j.Memory.Append(ctx, t)
}

// reports collects what a breaker sends to its error handler, from any
// goroutine.
type reports struct {
	mu   sync.Mutex
	errs []error
}

func (r *reports) handle(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *reports) all() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// TestJournalErrorsMetric runs a breaker over a journal whose appends fail
// for a while and checks, after each step, every metric of the bridge:
// the breaker transitions all the same (transitions counter and state
// gauge), circuitry.breaker.journal.errors equals exactly the appends the
// journal refused (each retry of a kept record counted again), and the error
// handler got one *machine.JournalError per failure, for the kept record.
// Once the journal is back the kept records are appended and the counter
// stays put; after Unregister its stream is gone.
func TestJournalErrorsMetric(t *testing.T) {
	r := newRig(t, nil)
	mem, err := events.NewMemory(16)
	if err != nil {
		t.Fatal(err)
	}
	j := &flakyJournal{Memory: mem}
	var rep reports
	b, err := machine.New("ledger",
		machine.WithClock(r.clock),
		machine.WithSubscribers(observedApart{r.bridge}),
		machine.WithJournal(j),
		machine.WithFailureThreshold(1),
		machine.WithErrorHandler(rep.handle))
	if err != nil {
		t.Fatal(err)
	}
	reg := r.observe(t, b)
	ctx := context.Background()
	override := machine.Override{Operator: "test", Note: "journal errors"}

	trip := func(n int64) metricdata.DataPoint[int64] {
		return transitionPoint("ledger", "closed", "open", "trip", n)
	}
	forceClose := transitionPoint("ledger", "open", "closed", "force_close", 1)
	steps := []struct {
		name        string
		down        bool // the journal refuses appends during the step
		do          func(t *testing.T)
		state       events.State
		forced      bool                          // an operator set the state
		failures    int64                         // calls that failed so far
		transitions []metricdata.DataPoint[int64] // the transitions counter
		failed      int64                         // appends refused so far
		reported    []uint64                      // seq of each JournalError so far
		stored      []uint64                      // seq of each record the journal holds
	}{
		{
			// The writer appends on a goroutine of its own: Sync waits for
			// it (and, the journal still down, tries once more).
			name: "the trip's append fails",
			down: true,
			do: func(t *testing.T) {
				r.call(t, b, "trips", failure)
				if err := b.Sync(ctx); !errors.Is(err, machine.ErrUnstored) {
					t.Fatalf("Sync with the journal down = %v, want ErrUnstored", err)
				}
			},
			state:       events.Open,
			failures:    1,
			transitions: []metricdata.DataPoint[int64]{trip(1)},
			failed:      2,
			reported:    []uint64{1, 1},
		},
		{
			name: "the kept record fails again before a force close",
			down: true,
			do: func(t *testing.T) {
				// Made, and its record (behind the kept one) not stored:
				// the manual control says so.
				if err := b.ForceClose(ctx, override); !errors.As(err, new(*machine.JournalError)) {
					t.Fatalf("ForceClose with the journal down = %v, want a JournalError", err)
				}
			},
			state:       events.Closed,
			forced:      true,
			failures:    1,
			transitions: []metricdata.DataPoint[int64]{trip(1), forceClose},
			failed:      3,
			reported:    []uint64{1, 1, 1},
		},
		{
			name: "Sync appends both kept records once the journal is back",
			do: func(t *testing.T) {
				if err := b.Sync(ctx); err != nil {
					t.Fatalf("Sync: %v", err)
				}
			},
			state:       events.Closed,
			forced:      true,
			failures:    1,
			transitions: []metricdata.DataPoint[int64]{trip(1), forceClose},
			failed:      3,
			reported:    []uint64{1, 1, 1},
			stored:      []uint64{1, 2},
		},
		{
			name: "the next trip appends at once",
			do: func(t *testing.T) {
				r.call(t, b, "trips again", failure)
				if err := b.Sync(ctx); err != nil {
					t.Fatalf("Sync: %v", err)
				}
			},
			state:       events.Open,
			failures:    2,
			transitions: []metricdata.DataPoint[int64]{trip(2), forceClose},
			failed:      3,
			reported:    []uint64{1, 1, 1},
			stored:      []uint64{1, 2, 3},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			j.down.Store(s.down)
			s.do(t)
			if got := j.failed.Load(); got != s.failed {
				t.Errorf("the journal refused %d appends, want %d", got, s.failed)
			}
			want := metricdata.ScopeMetrics{Scope: scope, Metrics: append([]metricdata.Metrics{
				transitionsMetric(s.transitions...),
				stateMetric(statePointsOf("ledger", "enforcing", s.forced, s.state)...),
				callsMetric(callPoints("ledger", 0, s.failures, 0, 0)...),
			}, append(faultMetrics(nil, faults{breaker: "ledger", journal: s.failed}), consecutiveMetrics(nil, consecutive{"ledger", 0, 1})...)...)}
			metricdatatest.AssertEqual(t, want, r.collect(t), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

			var seqs []uint64
			for _, err := range rep.all() {
				var je *machine.JournalError
				if !errors.As(err, &je) || je.Breaker != "ledger" || !errors.Is(err, errDiskFull) {
					t.Errorf("error handler got %v, want a *machine.JournalError of ledger wrapping %v", err, errDiskFull)
					continue
				}
				seqs = append(seqs, je.Seq)
			}
			if !slices.Equal(seqs, s.reported) {
				t.Errorf("journal errors reported for seqs %v, want %v", seqs, s.reported)
			}
			recs, err := j.Read(ctx, "ledger", 0)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			var stored []uint64
			for _, rec := range recs {
				stored = append(stored, rec.Seq)
			}
			if !slices.Equal(stored, s.stored) {
				t.Errorf("the journal holds seqs %v, want %v", stored, s.stored)
			}
		})
	}

	t.Run("unregistered", func(t *testing.T) {
		unregisterAll(t, r, reg)
		if got := b.Counts().JournalErrors; got != 3 {
			t.Errorf("Counts().JournalErrors = %d, want 3 (still counted, no longer reported)", got)
		}
	})
}

// TestSubscriberErrorsMetric gives a breaker a subscriber that panics on
// each lane, and a queued subscriber that blocks on the first transition
// with a queue of one, and checks circuitry.breaker.subscriber.errors with
// every other metric of the bridge: while the queued subscriber is blocked,
// the panics so far (error.type panic) and the transitions the full queue
// dropped (error.type queue_full); after it is released and the queue is
// flushed, the queued panic of the transition that waited in the queue as
// well. The error handler got one *hooks.PanicError per panic and one
// *hooks.OverflowError for the dropped run. After Unregister the streams are
// gone.
func TestSubscriberErrorsMetric(t *testing.T) {
	r := newRig(t, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var blockOnce sync.Once
	var delivered []uint64 // seqs the blocking subscriber got, on the dispatcher goroutine
	blocking := hooks.Func(func(_ context.Context, tr events.Transition) {
		delivered = append(delivered, tr.Seq)
		blockOnce.Do(func() {
			close(entered)
			<-release
		})
	})
	panicking := hooks.Func(func(context.Context, events.Transition) { panic("subscriber bug") })
	var rep reports
	b, err := machine.New("orders",
		machine.WithClock(r.clock),
		machine.WithFailureThreshold(1),
		machine.WithQueueCapacity(1),
		machine.WithSubscribers(observedApart{r.bridge}, hooks.Inline(panicking), panicking, blocking),
		machine.WithErrorHandler(rep.handle))
	if err != nil {
		t.Fatal(err)
	}
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(func() {
		// However the test ends, let the dispatcher goroutine finish.
		unblock()
		if err := b.Flush(context.Background()); err != nil {
			t.Errorf("Flush: %v", err)
		}
	})
	reg := r.observe(t, b)
	ctx := context.Background()
	override := machine.Override{Operator: "test", Note: "subscriber errors"}

	// The trip reaches the queued lane, whose goroutine blocks on it with
	// the queue empty; the force close waits in the queue; the force open
	// and the second force close find it full and are dropped.
	r.call(t, b, "trips", failure)
	<-entered
	if err := b.ForceClose(ctx, override); err != nil {
		t.Fatalf("ForceClose: %v", err)
	}
	if err := b.ForceOpen(ctx, override); err != nil {
		t.Fatalf("ForceOpen: %v", err)
	}
	if err := b.ForceClose(ctx, override); err != nil {
		t.Fatalf("ForceClose: %v", err)
	}

	others := []metricdata.Metrics{
		transitionsMetric(
			transitionPoint("orders", "closed", "open", "trip", 1),
			transitionPoint("orders", "open", "closed", "force_close", 2),
			transitionPoint("orders", "closed", "open", "force_open", 1),
		),
		stateMetric(forcedStatePoints("orders", events.Closed)...),
		callsMetric(callPoints("orders", 0, 1, 0, 0)...),
	}
	steps := []struct {
		name      string
		do        func(t *testing.T)
		panics    int64    // inline on each of the 4 transitions, queued on those delivered
		dropped   int64    // transitions the full queue dropped
		overflows []string // the OverflowErrors reported
		delivered []uint64 // seqs the blocking subscriber got
	}{
		{
			name:      "queued subscriber blocked",
			do:        func(*testing.T) {},
			panics:    4 + 1,
			dropped:   2,
			delivered: []uint64{1},
		},
		{
			name: "released and flushed",
			do: func(t *testing.T) {
				unblock()
				if err := b.Flush(ctx); err != nil {
					t.Fatalf("Flush: %v", err)
				}
			},
			panics:    4 + 2,
			dropped:   2,
			overflows: []string{(&hooks.OverflowError{Breaker: "orders", FirstSeq: 3, LastSeq: 4, Count: 2}).Error()},
			delivered: []uint64{1, 2},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			want := metricdata.ScopeMetrics{Scope: scope, Metrics: append(slices.Clone(others),
				append(faultMetrics(nil, faults{breaker: "orders", panics: s.panics, dropped: s.dropped}), consecutiveMetrics(nil, consecutive{"orders", 0, 1})...)...)}
			metricdatatest.AssertEqual(t, want, r.collect(t), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

			var panics int64
			var overflows []string
			for _, err := range rep.all() {
				var pe *hooks.PanicError
				var oe *hooks.OverflowError
				switch {
				case errors.As(err, &pe) && pe.Breaker == "orders" && pe.Value == "subscriber bug":
					panics++
				case errors.As(err, &oe):
					overflows = append(overflows, oe.Error())
				default:
					t.Errorf("error handler got %v", err)
				}
			}
			if panics != s.panics {
				t.Errorf("error handler got %d subscriber panics, want %d", panics, s.panics)
			}
			if !slices.Equal(overflows, s.overflows) {
				t.Errorf("error handler got overflows %q, want %q", overflows, s.overflows)
			}
			// The dispatcher goroutine wrote delivered before it blocked
			// (entered) or before Flush returned.
			if !slices.Equal(delivered, s.delivered) {
				t.Errorf("the blocking subscriber got seqs %v, want %v", delivered, s.delivered)
			}
		})
	}

	t.Run("unregistered", func(t *testing.T) {
		unregisterAll(t, r, reg)
		if c := b.Counts(); c.SubscriberPanics != 6 || c.QueueDropped != 2 {
			t.Errorf("Counts() panics %d, dropped %d, want 6 and 2 (still counted, no longer reported)", c.SubscriberPanics, c.QueueDropped)
		}
	})
}
