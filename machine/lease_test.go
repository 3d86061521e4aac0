package machine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// leaseAsk is one request for a probe lease.
type leaseAsk struct {
	Breaker string
	Seq     uint64
	Writer  string
}

// fakeLease answers with answer, and keeps every request.
type fakeLease struct {
	mu     sync.Mutex
	asked  []leaseAsk
	answer func(ctx context.Context, a leaseAsk) (bool, error)
}

func (l *fakeLease) Acquire(ctx context.Context, breaker string, seq uint64, writer string) (bool, error) {
	a := leaseAsk{breaker, seq, writer}
	l.mu.Lock()
	l.asked = append(l.asked, a)
	l.mu.Unlock()
	return l.answer(ctx, a)
}

func (l *fakeLease) Asked() []leaseAsk {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]leaseAsk(nil), l.asked...)
}

func grant(held bool, err error) func(context.Context, leaseAsk) (bool, error) {
	return func(context.Context, leaseAsk) (bool, error) { return held, err }
}

// firstWriter is a lease held by the first writer to ask for a period:
// the behaviour of a compare-and-set store.
func firstWriter() *fakeLease {
	var mu sync.Mutex
	holder := map[uint64]string{}
	return &fakeLease{answer: func(_ context.Context, a leaseAsk) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := holder[a.Seq]; !ok {
			holder[a.Seq] = a.Writer
		}
		return holder[a.Seq] == a.Writer, nil
	}}
}

const leaseHalfOpenTimeout = 10 * time.Second

// leased is a fixture whose breaker takes the probe lease l, and which has
// entered half-open: the call that fired probe found the lease unanswered
// and was rejected.
func leased(t *testing.T, l machine.ProbeLease, opts ...machine.Option) *fixture {
	t.Helper()
	f := newFixture(t, append([]machine.Option{machine.WithProbeLease(l), machine.WithHalfOpenTimeout(leaseHalfOpenTimeout),
		machine.WithWriter("replica-1")}, opts...)...)
	f.failN(machine.DefaultFailureThreshold)
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	return f
}

func TestProbeLease(t *testing.T) {
	ctx := context.Background()
	t.Run("asked once per half-open period, off the call's path; the holder probes", func(t *testing.T) {
		l := &fakeLease{answer: grant(true, nil)}
		f := leased(t, l, machine.WithProbeOnTimer())
		f.wantState(events.HalfOpen) // the timer fired probe: no call waited for the lease
		if got, want := l.Asked(), []leaseAsk{{"svc", 2, "replica-1"}}; !equalAsks(got, want) {
			t.Fatalf("lease asked %+v, want %+v", got, want)
		}
		f.mustSucceed()
		f.mustSucceed()
		f.wantState(events.Closed)
		f.wantSteps(tripStep, probeStep, recoverStep)
		if n := len(l.Asked()); n != 1 {
			t.Fatalf("lease asked %d times, want once", n)
		}
		f.noErrors()
	})
	t.Run("the call that fires probe waits for the lease's answer", func(t *testing.T) {
		asked, answer := make(chan struct{}), make(chan bool)
		l := &fakeLease{answer: func(context.Context, leaseAsk) (bool, error) {
			close(asked)
			return <-answer, nil
		}}
		f := leased(t, l)
		done := make(chan error)
		go func() { done <- f.b.Do(ctx, okCall) }()
		<-asked // the call fired probe, and the lease is asked
		answer <- true
		if err := <-done; err != nil {
			t.Fatalf("the call that fired probe: %v, want it admitted as the holder's probe", err)
		}
		f.wantState(events.HalfOpen)
		f.wantCounts(probes(0, 1))
		f.noErrors()
	})
	t.Run("the call that fires probe is refused when the lease says no", func(t *testing.T) {
		l := &fakeLease{answer: grant(false, nil)}
		f := leased(t, l)
		if err := f.b.Do(ctx, okCall); !isHalfOpenRejection(err) {
			t.Fatalf("the call that fired probe: %v, want a half-open rejection", err)
		}
		f.wantState(events.HalfOpen)
	})
	t.Run("with little traffic, the first call after the open period probes", func(t *testing.T) {
		l := &fakeLease{answer: grant(true, nil)}
		f := leased(t, l, machine.WithSuccessThreshold(1))
		if err := f.b.Do(ctx, okCall); err != nil {
			t.Fatalf("the one call after the open period: %v, want it admitted", err)
		}
		f.wantState(events.Closed)
	})
	t.Run("without the lease no probe is admitted, and the half-open timeout begins a new period", func(t *testing.T) {
		l := &fakeLease{answer: grant(false, nil)}
		f := leased(t, l, machine.WithProbeOnTimer())
		for range 5 {
			if err := f.do(okCall); !isHalfOpenRejection(err) {
				t.Fatalf("a call without the lease: %v, want a half-open rejection", err)
			}
		}
		f.wantCounts(probes(0, 0))
		f.clk.Advance(leaseHalfOpenTimeout)
		f.wantState(events.Open)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.wantState(events.HalfOpen)
		f.wantSteps(tripStep, probeStep, retripStep, probeStep)
		if got, want := l.Asked(), []leaseAsk{{"svc", 2, "replica-1"}, {"svc", 4, "replica-1"}}; !equalAsks(got, want) {
			t.Fatalf("lease asked %+v, want %+v", got, want)
		}
		f.noErrors()
	})
	t.Run("a manual half-open asks for the lease too", func(t *testing.T) {
		l := &fakeLease{answer: grant(false, nil)}
		f := newFixture(t, machine.WithProbeLease(l), machine.WithHalfOpenTimeout(leaseHalfOpenTimeout), machine.WithWriter("replica-1"))
		if err := f.b.ForceOpen(ctx, operator); err != nil {
			t.Fatal(err)
		}
		if err := f.b.ForceHalfOpen(ctx, operator); err != nil {
			t.Fatal(err)
		}
		machine.Settle(f.b)
		if got, want := l.Asked(), []leaseAsk{{"svc", 2, "replica-1"}}; !equalAsks(got, want) {
			t.Fatalf("lease asked %+v, want %+v", got, want)
		}
		if err := f.do(okCall); !isHalfOpenRejection(err) {
			t.Fatalf("a call without the lease: %v, want a half-open rejection", err)
		}
	})

	// A lease that cannot answer must not keep a fleet open: the breaker
	// reports it and probes up to its own limit.
	failures := []struct {
		name    string
		answer  func(context.Context, leaseAsk) (bool, error)
		opts    []machine.Option
		wantErr string
	}{
		{"an error", grant(false, errors.New("bucket unavailable")), nil, "bucket unavailable"},
		{"a panic", func(context.Context, leaseAsk) (bool, error) { panic("lease bug") }, nil, "panicked: lease bug"},
		{"no answer within the journal timeout", func(ctx context.Context, _ leaseAsk) (bool, error) {
			<-ctx.Done()
			return false, ctx.Err()
		}, []machine.Option{machine.WithJournalTimeout(10 * time.Millisecond)}, context.DeadlineExceeded.Error()},
	}
	for _, tc := range failures {
		t.Run("a lease that fails: "+tc.name, func(t *testing.T) {
			l := &fakeLease{answer: tc.answer}
			f := leased(t, l, append([]machine.Option{machine.WithProbeOnTimer()}, tc.opts...)...)
			f.wantState(events.HalfOpen)
			errs := f.errs.Errors()
			var le *machine.LeaseError
			if len(errs) != 1 || !errors.As(errs[0], &le) || le.Breaker != "svc" || le.Seq != 2 || !strings.Contains(le.Error(), tc.wantErr) {
				t.Fatalf("reported %v, want one *LeaseError for seq 2 saying %q", errs, tc.wantErr)
			}
			f.mustSucceed()
			f.mustSucceed()
			f.wantState(events.Closed)
		})
	}

	t.Run("leaving half-open ends the request, which is not reported", func(t *testing.T) {
		asked := make(chan struct{})
		ended := make(chan error, 1)
		l := &fakeLease{answer: func(ctx context.Context, _ leaseAsk) (bool, error) {
			close(asked)
			<-ctx.Done()
			ended <- ctx.Err()
			return false, ctx.Err()
		}}
		f := leased(t, l, machine.WithProbeOnTimer())
		<-asked
		if err := f.b.ForceOpen(ctx, operator); err != nil {
			t.Fatal(err)
		}
		if err := <-ended; !errors.Is(err, context.Canceled) {
			t.Fatalf("the lease's context ended with %v, want context.Canceled", err)
		}
		machine.Settle(f.b)
		f.noErrors()
	})
	t.Run("Close ends the request and waits for it", func(t *testing.T) {
		asked := make(chan struct{})
		l := &fakeLease{answer: func(ctx context.Context, _ leaseAsk) (bool, error) {
			close(asked)
			<-ctx.Done()
			return false, ctx.Err()
		}}
		f := leased(t, l, machine.WithProbeOnTimer())
		<-asked
		if err := f.b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		f.noErrors() // goleak, in TestMain, checks that the request's goroutine is gone
	})
	t.Run("Close gives up on a lease that ignores its context", func(t *testing.T) {
		release := make(chan struct{})
		l := &fakeLease{answer: func(context.Context, leaseAsk) (bool, error) {
			<-release
			return true, nil
		}}
		f := leased(t, l, machine.WithProbeOnTimer())
		cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		if err := f.b.Close(cctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "probe lease") {
			t.Fatalf("Close = %v, want the probe lease's deadline", err)
		}
		close(release)
		if err := f.b.Close(ctx); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func TestProbeLeaseOptions(t *testing.T) {
	l := &fakeLease{answer: grant(true, nil)}
	for _, tc := range []struct {
		name string
		opts []machine.Option
		want string
	}{
		{"nil", []machine.Option{machine.WithProbeLease(nil), machine.WithHalfOpenTimeout(time.Second)}, "WithProbeLease"},
		{"without a half-open timeout", []machine.Option{machine.WithProbeLease(l)}, "needs WithHalfOpenTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := machine.New("svc", tc.opts...)
			if !errors.Is(err, events.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an option error saying %q", err, tc.want)
			}
		})
	}
}

// Two processes share a breaker through one journal and one lease: both
// follow the trip and the probe into half-open, and only the holder of the
// lease probes, so the fleet sends the probe limit, not twice that.
func TestProbeLeaseAcrossAFleet(t *testing.T) {
	ctx := context.Background()
	j := newMemory(t)
	clk := clocktest.New(t0)
	l := firstWriter()
	mk := func(writer string) *machine.Breaker {
		b, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(j), machine.WithFollow(5*time.Millisecond),
			machine.WithWriter(writer), machine.WithProbeLease(l), machine.WithHalfOpenTimeout(leaseHalfOpenTimeout),
			machine.WithProbeLimit(1), machine.WithSuccessThreshold(1), machine.WithProbeOnTimer())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(ctx); err != nil {
				t.Error(err)
			}
		})
		return b
	}
	a, b := mk("replica-a"), mk("replica-b")
	for range machine.DefaultFailureThreshold {
		_ = a.Do(ctx, failCall)
	}
	machine.Settle(a)
	eventually(t, "b follows a's trip", func() bool { return b.State() == events.Open })
	clk.Advance(machine.DefaultRecoveryTimeout)

	// Each replica's timer fires probe: one stores it, the other adopts it,
	// and both ask for the lease on the same period.
	eventually(t, "both replicas ask for the lease", func() bool {
		n := map[string]bool{}
		for _, ask := range l.Asked() {
			n[ask.Writer] = true
		}
		return len(n) == 2
	})
	machine.Settle(a)
	machine.Settle(b)
	asked := l.Asked()
	writers := map[string]bool{}
	for _, ask := range asked {
		if ask.Seq != 2 {
			t.Fatalf("lease asked %+v, want every request for seq 2", asked)
		}
		writers[ask.Writer] = true
	}
	if len(writers) != 2 {
		t.Fatalf("lease asked %+v, want both replicas", asked)
	}
	// The first to ask holds it: its probe is admitted and held; the
	// other admits none.
	holder, other := a, b
	if asked[0].Writer == "replica-b" {
		holder, other = b, a
	}
	p, err := holder.Allow(ctx)
	if err != nil {
		t.Fatalf("the holder's probe: %v", err)
	}
	if err := other.Do(ctx, okCall); !isHalfOpenRejection(err) {
		t.Fatalf("a call without the lease: %v, want a half-open rejection", err)
	}
	p.Done(nil)
	machine.Settle(holder)
	eventually(t, "the other follows the holder's recover", func() bool { return other.State() == events.Closed })
	if err := other.Do(ctx, okCall); err != nil {
		t.Fatalf("a call once the fleet recovered: %v", err)
	}
}

func isHalfOpenRejection(err error) bool {
	var oe *machine.OpenError
	return errors.As(err, &oe) && oe.State == events.HalfOpen
}

func equalAsks(a, b []leaseAsk) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A lease store that does not answer is given half the half-open period at
// most, so that the breaker falls back on its own probe limit before the
// period ends.
func TestProbeLeaseRequestIsBoundedByHalfTheHalfOpenPeriod(t *testing.T) {
	deadlines := make(chan time.Duration, 1)
	l := &fakeLease{answer: func(ctx context.Context, _ leaseAsk) (bool, error) {
		d, ok := ctx.Deadline()
		if !ok {
			deadlines <- -1
			return true, nil
		}
		deadlines <- time.Until(d)
		return true, nil
	}}
	newFixture(t, machine.WithProbeLease(l), machine.WithHalfOpenTimeout(2*time.Second), machine.WithProbeOnTimer()).
		enterHalfOpenByTimer()
	if d := <-deadlines; d <= 0 || d > time.Second {
		t.Fatalf("the lease request's deadline is %s away, want at most 1s (half of the 2s half-open timeout, under the 5s journal timeout)", d)
	}
}

// enterHalfOpenByTimer trips the breaker and lets its open period end.
func (f *fixture) enterHalfOpenByTimer() {
	f.t.Helper()
	f.failN(machine.DefaultFailureThreshold)
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	f.wantState(events.HalfOpen)
}

// An error handler that closes the breaker on a LeaseError runs on the
// lease's goroutine: Close does not wait for it there.
func TestCloseFromTheErrorHandlerOfALeaseError(t *testing.T) {
	done := make(chan error, 1)
	var f *fixture
	f = newFixture(t, machine.WithProbeLease(&fakeLease{answer: grant(false, errors.New("store down"))}),
		machine.WithHalfOpenTimeout(leaseHalfOpenTimeout), machine.WithProbeOnTimer(),
		machine.WithErrorHandler(func(err error) {
			if errors.As(err, new(*machine.LeaseError)) {
				done <- f.b.Close(context.Background())
			}
		}))
	f.failN(machine.DefaultFailureThreshold)
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	if err := <-done; err != nil {
		t.Fatalf("Close from the error handler: %v", err)
	}
}

// failingObserver makes New fail after the breaker is made.
type failingObserver struct{ recorder }

func (*failingObserver) ObserveBreaker(*machine.Breaker) (func() error, error) {
	return nil, errors.New("meter registration failed")
}

// A New that fails after resuming in half-open takes no lease from the
// fleet: a breaker nobody holds must not be the period's only prober.
func TestFailedNewTakesNoLease(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	enterState(f, events.HalfOpen)
	l := firstWriter()
	_, err := machine.New("svc", machine.WithClock(f.clk), machine.WithJournal(f.j), machine.WithProbeLease(l),
		machine.WithHalfOpenTimeout(leaseHalfOpenTimeout), machine.WithWriter("ghost"),
		machine.WithSubscribers(&failingObserver{}))
	if err == nil {
		t.Fatal("New with a failing observer succeeded")
	}
	if asked := l.Asked(); len(asked) != 0 {
		t.Fatalf("the failed New asked for the lease: %+v", asked)
	}
	if held, _ := l.Acquire(ctx, "svc", 2, "replica-that-lives"); !held {
		t.Fatal("a live replica is refused the lease")
	}
}

// held is a journal whose appends wait until released. It does I/O, as
// far as the breaker knows (it is not an events.Immediate): its writer
// runs on a goroutine of its own.
type held struct {
	mem     *events.Memory
	entered chan struct{}
	release chan struct{}
}

func (h *held) Append(ctx context.Context, t events.Transition) error {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-h.release
	return h.mem.Append(ctx, t)
}

func (h *held) Read(ctx context.Context, breaker string, after uint64) ([]events.Transition, error) {
	return h.mem.Read(ctx, breaker, after)
}

// A breaker closed while its writer's last append meets another writer's
// records adopts them into its fold and stays closed: calls get ErrClosed,
// no timer or lease starts.
func TestClosedBreakerStaysClosedWhenItsLastAppendConflicts(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t)
	clk := clocktest.New(t0)
	h := &held{mem: mem, entered: make(chan struct{}, 1), release: make(chan struct{})}
	l := &fakeLease{answer: grant(true, nil)}
	a, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(h), machine.WithWriter("a"),
		machine.WithProbeLease(l), machine.WithHalfOpenTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(mem), machine.WithWriter("b"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	for range machine.DefaultFailureThreshold {
		_ = a.Do(ctx, failCall) // a's trip waits in its append
	}
	<-h.entered
	for range machine.DefaultFailureThreshold {
		_ = other.Do(ctx, failCall) // b's trip is stored first
	}
	clk.Advance(machine.DefaultRecoveryTimeout)
	if _, err := other.Allow(ctx); err != nil { // b probes: half-open, seq 2
		t.Fatal(err)
	}
	if err := other.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error)
	go func() { closed <- a.Close(ctx) }()
	eventually(t, "Close began", func() bool { // (a call could fire probe before it)
		sctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		defer cancel()
		return errors.Is(a.Sync(sctx), machine.ErrClosed)
	})
	close(h.release) // a's last append conflicts, and it adopts b's records
	<-closed
	if err := a.Do(ctx, okCall); !errors.Is(err, machine.ErrClosed) {
		t.Fatalf("a call after Close: %v, want ErrClosed", err)
	}
	if got := a.Snapshot(); got.Seq != 2 || got.State != events.HalfOpen {
		t.Fatalf("a's fold %+v, want b's records adopted (seq 2, half-open)", got)
	}
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers pending after Close", n)
	}
	machine.Settle(a)
	if asked := l.Asked(); len(asked) != 0 {
		t.Fatalf("a closed breaker asked for the lease: %+v", asked)
	}
}
