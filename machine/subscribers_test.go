package machine_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

type ctxKey struct{}

func TestInlineSubscriberRunsBeforeDoReturns(t *testing.T) {
	var mu sync.Mutex
	var seen []string // the context value of the call behind each record
	sub := hooks.Inline(hooks.Func(func(ctx context.Context, tr events.Transition) {
		mu.Lock()
		defer mu.Unlock()
		v, _ := ctx.Value(ctxKey{}).(string)
		seen = append(seen, tr.Event.String()+" by "+v)
	}))
	f := newFixture(t, machine.WithSubscribers(sub))
	for i := range 5 {
		ctx := context.WithValue(context.Background(), ctxKey{}, "call "+string(rune('1'+i)))
		_ = f.b.Do(ctx, failCall)
	}
	// No Flush, no waiting: the trip was delivered before the 5th Do returned.
	mu.Lock()
	got := slices.Clone(seen)
	mu.Unlock()
	if want := []string{"trip by call 5"}; !slices.Equal(got, want) {
		t.Fatalf("inline subscriber saw %v, want %v", got, want)
	}
	if got := f.log.Records(); len(got) != 1 {
		t.Fatalf("recorder saw %v", got)
	}

	// A cancelled caller's context still reaches the subscriber, values and all.
	// The control is made; with its caller gone it may not wait to see the
	// record stored, and then says so.
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "operator"))
	cancel()
	if err := f.b.ForceClose(ctx, operator); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	f.wantState(events.Closed)
	mu.Lock()
	got = slices.Clone(seen)
	mu.Unlock()
	if want := []string{"trip by call 5", "force_close by operator"}; !slices.Equal(got, want) {
		t.Fatalf("inline subscriber saw %v, want %v", got, want)
	}
}

func TestQueuedSubscriberSeesEveryTransitionInOrder(t *testing.T) {
	ctx := context.Background()
	queued := &recorder{}
	f := newFixture(t, machine.WithSubscribers(queued, hooks.Queue(hooks.Inline(&recorder{}))))
	for range 3 {
		f.failN(5)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustFail() // retrip
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustSucceed()
		f.mustSucceed()
	}
	if err := f.b.ForceOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	if err := f.b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := f.journal()
	if len(recs) != 16 {
		t.Fatalf("journal holds %d records, want 16", len(recs))
	}
	if got := queued.Records(); !slices.Equal(got, recs) {
		t.Fatalf("queued subscriber saw %v, want %v", steps(got), steps(recs))
	}
	f.wantSteps(steps(recs)...)
}

func TestSubscriberPanic(t *testing.T) {
	ctx := context.Background()
	panicky := hooks.Func(func(context.Context, events.Transition) { panic("subscriber bug") })
	inlineAfter, queuedAfter := &recorder{}, &recorder{}
	f := newFixture(t, machine.WithSubscribers(
		hooks.Inline(panicky), hooks.Inline(inlineAfter),
		panicky, queuedAfter,
	))
	defer f.b.Flush(ctx)

	f.failN(4)
	if err := f.do(failCall); !errors.Is(err, errDep) { // trips: both panics
		t.Fatalf("the call that tripped returned %v, want its own error", err)
	}
	f.wantState(events.Open)
	if err := f.b.ForceClose(ctx, operator); err != nil {
		t.Fatalf("ForceClose: %v", err)
	}
	if err := f.b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := f.journal()
	if got := inlineAfter.Records(); !slices.Equal(got, recs) {
		t.Fatalf("inline subscriber after the panicking one saw %v", got)
	}
	if got := queuedAfter.Records(); !slices.Equal(got, recs) {
		t.Fatalf("queued subscriber after the panicking one saw %v", got)
	}
	f.wantSteps(tripStep, step{events.ForceClose, events.Open, events.Closed})

	var panics []uint64
	for _, err := range f.errs.Errors() {
		var pe *hooks.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("error handler got %v (%T), want *hooks.PanicError", err, err)
		}
		if pe.Value != "subscriber bug" || pe.Breaker != "svc" || len(pe.Stack) == 0 {
			t.Fatalf("PanicError = %+v", pe)
		}
		panics = append(panics, pe.Seq)
	}
	slices.Sort(panics)
	if want := []uint64{1, 1, 2, 2}; !slices.Equal(panics, want) {
		t.Fatalf("panics reported for seqs %v, want %v (each lane, each record)", panics, want)
	}
	if c := f.b.Counts(); c.SubscriberPanics != 4 {
		t.Fatalf("SubscriberPanics = %d, want 4", c.SubscriberPanics)
	}
}

func TestPanickingErrorHandler(t *testing.T) {
	f := newFixture(t,
		machine.WithSubscribers(hooks.Inline(hooks.Func(func(context.Context, events.Transition) { panic("sub") }))),
		machine.WithErrorHandler(func(error) { panic("handler") }),
	)
	f.failN(5)
	f.wantState(events.Open)
}

// TestInlineSubscriberReentry: an inline subscriber that fires a manual
// control with the context it was given does not deadlock, and the nested
// transition is delivered right after the one being handled.
func TestInlineSubscriberReentry(t *testing.T) {
	cases := []struct {
		name  string
		on    events.Event // the event the subscriber reacts to
		react func(ctx context.Context, b *machine.Breaker) error
		cause func(f *fixture)
		want  []step
	}{
		{
			name:  "force_close on trip",
			on:    events.Trip,
			react: func(ctx context.Context, b *machine.Breaker) error { return b.ForceClose(ctx, operator) },
			cause: func(f *fixture) { f.failN(5) },
			want:  []step{tripStep, {events.ForceClose, events.Open, events.Closed}},
		},
		{
			name:  "force_open on probe",
			on:    events.Probe,
			react: func(ctx context.Context, b *machine.Breaker) error { return b.ForceOpen(ctx, operator) },
			cause: func(f *fixture) {
				f.failN(5)
				f.clk.Advance(machine.DefaultRecoveryTimeout)
				_ = f.do(okCall) // admitted as a probe, whose outcome is then late
			},
			want: []step{tripStep, probeStep, {events.ForceOpen, events.HalfOpen, events.Open}},
		},
		{
			name: "force_half_open then force_close on trip",
			on:   events.Trip,
			react: func(ctx context.Context, b *machine.Breaker) error {
				if err := b.ForceHalfOpen(ctx, operator); err != nil {
					return err
				}
				return b.ForceClose(ctx, operator)
			},
			cause: func(f *fixture) { f.failN(5) },
			want:  []step{tripStep, {events.ForceHalfOpen, events.Open, events.HalfOpen}, {events.ForceClose, events.HalfOpen, events.Closed}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b *machine.Breaker
			var reactErr error
			reactor := hooks.Inline(hooks.Func(func(ctx context.Context, tr events.Transition) {
				if tr.Event == c.on {
					reactErr = c.react(ctx, b)
				}
			}))
			after := &recorder{}
			queued := &recorder{}
			f := newFixture(t, machine.WithSubscribers(reactor, hooks.Inline(after), queued))
			defer f.b.Flush(context.Background())
			b = f.b
			within(t, "a transition whose subscriber re-enters the breaker", func() { c.cause(f) })
			if reactErr != nil {
				t.Fatalf("nested control: %v", reactErr)
			}
			// All delivered inline before the causing call returned.
			if got := steps(after.Records()); !slices.Equal(got, c.want) {
				t.Fatalf("subscriber after the reentrant one saw %v, want %v", got, c.want)
			}
			f.wantSteps(c.want...)
			if err := f.b.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := queued.Records(); !slices.Equal(got, f.journal()) {
				t.Fatalf("queued subscriber saw %v", steps(got))
			}
			f.noErrors()
		})
	}
}

func TestSubscriberReadsNewState(t *testing.T) {
	ctx := context.Background()
	var b *machine.Breaker
	var mu sync.Mutex
	var mismatches []string
	sub := hooks.Inline(hooks.Func(func(_ context.Context, tr events.Transition) {
		got := b.State()
		snap := b.Snapshot()
		c := b.Counts()
		mu.Lock()
		defer mu.Unlock()
		if got != tr.To || snap.Seq != tr.Seq || snap.State != tr.To {
			mismatches = append(mismatches, tr.String()+": State "+got.String())
		}
		if c.Probes != 0 || c.ConsecutiveFailures != 0 {
			mismatches = append(mismatches, tr.String()+": counters not fresh")
		}
	}))
	f := newFixture(t, machine.WithSubscribers(sub))
	b = f.b
	f.failN(5)
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	f.mustFail()
	if err := f.b.ForceHalfOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	f.mustSucceed()
	f.mustSucceed()
	if len(f.journal()) != 5 {
		t.Fatalf("journal = %v", steps(f.journal()))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(mismatches) > 0 {
		t.Fatalf("subscriber read: %v", mismatches)
	}
}

// blocker is a queued subscriber that blocks on its first record until
// released.
type blocker struct {
	recorder
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blocker) Notify(ctx context.Context, t events.Transition) {
	b.once.Do(func() {
		close(b.started)
		<-b.release
	})
	b.recorder.Notify(ctx, t)
}

func TestQueueOverflow(t *testing.T) {
	ctx := context.Background()
	blk := &blocker{started: make(chan struct{}), release: make(chan struct{})}
	f := newFixture(t,
		machine.WithSubscribers(blk),
		machine.WithQueueCapacity(1),
		machine.WithFailureThreshold(1),
		machine.WithSuccessThreshold(1),
	)
	released := false
	release := func() {
		if !released {
			released = true
			close(blk.release)
		}
	}
	defer func() {
		release()
		f.b.Flush(ctx)
	}()

	f.mustFail() // trip, seq 1: the queued subscriber takes it and blocks
	<-blk.started
	// While it is blocked, calls go on and transitions happen.
	within(t, "calls while a queued subscriber is blocked", func() {
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustSucceed() // probe, seq 2: queued; recover, seq 3: dropped
		f.mustFail()    // trip, seq 4: dropped
		openError(t, f.do(okCall))
	})
	f.wantState(events.Open)
	if c := f.b.Counts(); c.QueueDropped != 2 {
		t.Fatalf("QueueDropped = %d, want 2", c.QueueDropped)
	}
	// The inline lane and the journal lost nothing.
	f.wantSteps(tripStep, probeStep, recoverStep, tripStep)

	release()
	if err := f.b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := blk.Records(); !slices.Equal(got, f.journal()[:2]) {
		t.Fatalf("blocked subscriber saw %v, want seqs 1 and 2", steps(got))
	}
	errs := f.errs.Errors()
	if len(errs) != 1 {
		t.Fatalf("error handler got %v, want one overflow report", errs)
	}
	var oe *hooks.OverflowError
	if !errors.As(errs[0], &oe) {
		t.Fatalf("error handler got %v (%T), want *hooks.OverflowError", errs[0], errs[0])
	}
	if oe.Breaker != "svc" || oe.FirstSeq != 3 || oe.LastSeq != 4 || oe.Count != 2 {
		t.Fatalf("OverflowError = %+v, want seqs 3 to 4, count 2", oe)
	}
}
