package machine_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// TestConcurrentOutages runs many goroutines of calls through repeated
// outages and recoveries of a shared dependency, while one goroutine drives
// the fake clock, toggles the dependency and fires manual controls, and then
// checks the invariants that must hold whatever the interleaving.
//
// The test advances in rounds: in each, every worker makes a fixed number of
// calls while the driver performs one action concurrently with them. Rounds
// make progress certain without any sleeping: every phase of every cycle
// happens, whatever the scheduler does.
func TestConcurrentOutages(t *testing.T) {
	const (
		workers    = 16
		perRound   = 30
		cycles     = 25
		probeLimit = 2
	)
	phases := []func(d *driver){
		func(d *driver) { d.down.Store(true) },
		func(d *driver) { d.clk.Advance(10 * time.Second) },
		func(d *driver) { d.clk.Advance(21 * time.Second) },
		func(d *driver) { d.down.Store(false) },
		func(d *driver) { d.clk.Advance(31 * time.Second) },
		func(d *driver) { d.manual() },
		func(d *driver) { d.clk.Advance(31 * time.Second) },
		func(d *driver) { d.manual(); d.clk.Advance(time.Second) },
	}

	ctx := context.Background()
	clk := clocktest.New(t0)
	j := newMemory(t)
	inline, queued := &recorder{}, &recorder{}
	errs := &errSink{}
	b, err := machine.New("svc",
		machine.WithClock(clk),
		machine.WithJournal(j),
		machine.WithProbeLimit(probeLimit),
		machine.WithSubscribers(hooks.Inline(inline), queued),
		machine.WithQueueCapacity(1<<16),
		machine.WithErrorHandler(errs.handle),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Flush(ctx)

	d := &driver{t: t, b: b, clk: clk, rng: rand.New(rand.NewPCG(7, 7))}
	var (
		inflight sync.Map // generation -> *atomic.Int32: probes running
		maxProbe atomic.Int32
		tallies  [workers]struct{ succ, fail, ign, rej uint64 }
	)
	worker := func(w int, rng *rand.Rand) {
		for range perRound {
			cctx := ctx
			ignored := rng.IntN(16) == 0
			if ignored {
				c, cancel := context.WithCancel(ctx)
				cancel()
				cctx = c
			}
			if rng.IntN(8) == 0 { // some calls through Do
				err := b.Do(cctx, func(ctx context.Context) error {
					switch {
					case ignored:
						return ctx.Err()
					case d.down.Load():
						return errDep
					}
					return nil
				})
				switch {
				case errors.Is(err, machine.ErrOpen):
					tallies[w].rej++
				case ignored:
					tallies[w].ign++
				case err != nil:
					tallies[w].fail++
				default:
					tallies[w].succ++
				}
				continue
			}
			p, err := b.Allow(cctx)
			if err != nil {
				if !errors.Is(err, machine.ErrOpen) {
					t.Errorf("Allow: %v", err)
				}
				tallies[w].rej++
				continue
			}
			gen, probe := machine.PermitInfo(p)
			var n *atomic.Int32
			if probe {
				v, _ := inflight.LoadOrStore(gen, new(atomic.Int32))
				n = v.(*atomic.Int32)
				for c := n.Add(1); ; {
					m := maxProbe.Load()
					if c <= m || maxProbe.CompareAndSwap(m, c) {
						break
					}
				}
			}
			var res error
			switch {
			case ignored:
				res = cctx.Err()
				tallies[w].ign++
			case d.down.Load():
				res = errDep
				tallies[w].fail++
			default:
				tallies[w].succ++
			}
			runtime.Gosched() // the call "runs": let others in
			if probe {
				n.Add(-1) // before Done, which frees the slot
			}
			p.Done(res)
		}
	}

	rngs := make([]*rand.Rand, workers)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w), 1))
	}
	for round := range cycles * len(phases) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { worker(w, rngs[w]) })
		}
		wg.Go(func() { phases[round%len(phases)](d) })
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	if m := maxProbe.Load(); m > probeLimit {
		t.Errorf("%d probes of one half-open period ran at once, limit %d", m, probeLimit)
	}
	recs := readAll(t, j, "svc")
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("journal record %d has seq %d", i, r.Seq)
		}
	}
	snap, err := events.Replay("svc", recs)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if got := b.Snapshot(); got != snap {
		t.Errorf("Snapshot() = %+v, Replay(journal) = %+v", got, snap)
	}
	if got := inline.Records(); !slices.Equal(got, recs) {
		t.Errorf("inline subscriber saw %d records, not the journal's %d in order", len(got), len(recs))
	}
	if got := queued.Records(); !slices.Equal(got, recs) {
		t.Errorf("queued subscriber saw %d records, not the journal's %d in order", len(got), len(recs))
	}
	var want machine.Counts
	for _, tl := range tallies {
		want.Successes += tl.succ
		want.Failures += tl.fail
		want.Ignored += tl.ign
		want.Rejected += tl.rej
	}
	c := b.Counts()
	if got := (machine.Counts{Successes: c.Successes, Failures: c.Failures, Ignored: c.Ignored, Rejected: c.Rejected}); got != want {
		t.Errorf("cumulative Counts() = %+v, calls made %+v", got, want)
	}
	if total := want.Successes + want.Failures + want.Ignored + want.Rejected; total != workers*perRound*uint64(cycles*len(phases)) {
		t.Errorf("%d calls counted, %d made", total, workers*perRound*cycles*len(phases))
	}
	if c.QueueDropped != 0 || c.JournalErrors != 0 || c.SubscriberPanics != 0 {
		t.Errorf("Counts() = %+v", c)
	}
	if e := errs.Errors(); len(e) > 0 {
		t.Errorf("error handler got %v", e)
	}
	byEvent := map[events.Event]int{}
	for _, r := range recs {
		byEvent[r.Event]++
	}
	if byEvent[events.Trip] == 0 || byEvent[events.Recover] == 0 || byEvent[events.Probe] == 0 {
		t.Errorf("no full outage and recovery happened: %v", byEvent)
	}
	t.Logf("%d transitions %v; counts %+v; most probes at once %d", len(recs), byEvent, c, maxProbe.Load())
}

// driver is the goroutine that moves the world: the clock, the dependency
// and the operator.
type driver struct {
	t    *testing.T
	b    *machine.Breaker
	clk  *clocktest.Clock
	rng  *rand.Rand
	down atomic.Bool
}

func (d *driver) manual() {
	ctx := context.Background()
	var err error
	switch d.rng.IntN(3) {
	case 0:
		err = d.b.ForceOpen(ctx, operator)
	case 1:
		err = d.b.ForceClose(ctx, operator)
	case 2:
		err = d.b.ForceHalfOpen(ctx, operator)
	}
	if err != nil && !errors.Is(err, machine.ErrIllegalTransition) {
		d.t.Errorf("manual control: %v", err)
	}
}

// stepClock is a clock that moves one second forward at every reading, so
// that every call, timed from one reading to the next, lasts at least a
// second. It arms no timer in closed, which is all it is used for.
type stepClock struct {
	n atomic.Int64
}

func (c *stepClock) Now() time.Time { return t0.Add(time.Duration(c.n.Add(1)) * time.Second) }

func (c *stepClock) AfterFunc(d time.Duration, f func()) clock.Timer { return time.AfterFunc(d, f) }

// TestConcurrentWindows records calls from many goroutines at once in the
// windows of policies that never trip, and checks that no count is lost:
// the windows' counts equal the calls made.
func TestConcurrentWindows(t *testing.T) {
	const workers, perWorker = 8, 3000
	total := uint64(workers * perWorker)
	ctx := context.Background()
	var violations atomic.Int64
	// never is a custom policy that never trips and checks, at each
	// evaluation, that the counts it is given are coherent.
	never := func(w machine.Window, max uint64) machine.TripPolicy {
		return machine.CustomPolicy("never", w, func(c machine.WindowCounts) bool {
			if c.Failures > c.Calls || c.Slow > c.Calls || c.Calls > max {
				violations.Add(1)
			}
			return false
		})
	}
	// run makes perWorker calls on each of workers goroutines; call i of
	// each fails when fails(i). It returns the failures made.
	run := func(b *machine.Breaker, fails func(i int) bool, during func()) uint64 {
		var failed atomic.Uint64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range perWorker {
					fn := okCall
					if fails(i) {
						fn = failCall
						failed.Add(1)
					}
					if err := b.Do(ctx, fn); err != nil && !errors.Is(err, errDep) {
						t.Errorf("Do: %v", err)
						return
					}
				}
			})
		}
		if during != nil {
			wg.Go(during)
		}
		wg.Wait()
		return failed.Load()
	}
	check := func(t *testing.T, b *machine.Breaker, want machine.WindowCounts) {
		t.Helper()
		wantBreakerState(t, b, events.Closed)
		for _, pc := range b.Windows() {
			if pc.WindowCounts != want {
				t.Fatalf("%s window counts %+v, want %+v", pc.Policy, pc.WindowCounts, want)
			}
		}
		if v := violations.Swap(0); v != 0 {
			t.Fatalf("%d evaluations saw incoherent counts", v)
		}
	}
	everyThird := func(i int) bool { return i%3 == 0 }

	t.Run("count window larger than the calls", func(t *testing.T) {
		b, err := machine.New("w", machine.WithTripPolicy(never(machine.LastCalls(1<<16), 1<<16)))
		if err != nil {
			t.Fatal(err)
		}
		failed := run(b, everyThird, nil)
		check(t, b, machine.WindowCounts{Calls: total, Failures: failed})
	})
	t.Run("count window that wraps many times", func(t *testing.T) {
		const n = 64
		b, err := machine.New("w", machine.WithTripPolicy(never(machine.LastCalls(n), n)))
		if err != nil {
			t.Fatal(err)
		}
		run(b, everyThird, nil) // mixed, wrapping hundreds of times
		if c := b.Windows()[0]; c.Calls != n || c.Failures > n {
			t.Fatalf("window after mixed calls: %+v", c)
		}
		run(b, func(int) bool { return false }, nil) // every slot overwritten by a success
		check(t, b, machine.WindowCounts{Calls: n, Failures: 0})
		run(b, func(int) bool { return true }, nil) // and then by a failure
		check(t, b, machine.WindowCounts{Calls: n, Failures: n})
	})
	t.Run("time window, all in one bucket", func(t *testing.T) {
		clk := clocktest.New(t0)
		b, err := machine.New("w", machine.WithClock(clk), machine.WithTripPolicy(never(machine.LastDuration(time.Minute, 10), total)))
		if err != nil {
			t.Fatal(err)
		}
		failed := run(b, everyThird, nil)
		check(t, b, machine.WindowCounts{Calls: total, Failures: failed})
	})
	t.Run("time window rolling over buckets during the calls", func(t *testing.T) {
		clk := clocktest.New(t0)
		w := machine.LastDuration(machine.MaxWindowBuckets*time.Hour, machine.MaxWindowBuckets)
		b, err := machine.New("w", machine.WithClock(clk), machine.WithTripPolicy(never(w, total)))
		if err != nil {
			t.Fatal(err)
		}
		failed := run(b, everyThird, func() {
			for range machine.MaxWindowBuckets - 24 { // every bucket but the last day's is started
				clk.Advance(time.Hour)
				runtime.Gosched()
			}
		})
		check(t, b, machine.WindowCounts{Calls: total, Failures: failed})
	})
	t.Run("slow calls in a shared window", func(t *testing.T) {
		w := machine.LastCalls(1 << 16)
		b, err := machine.New("w", machine.WithClock(&stepClock{}), machine.WithTripPolicy(
			machine.SlowCallRate(100, 500*time.Millisecond, 1<<16, w),
			machine.FailureRate(100, 1<<16, w),
			never(w, 1<<16),
		))
		if err != nil {
			t.Fatal(err)
		}
		failed := run(b, everyThird, nil)
		check(t, b, machine.WindowCounts{Calls: total, Failures: failed, Slow: total})
	})
}

// TestCallPathFillsCacheLines: the objects every call touches fill whole
// cache lines, so that no unrelated object written by another goroutine
// shares one with them (see window.go).
func TestCallPathFillsCacheLines(t *testing.T) {
	for name, size := range machine.CallPathSizes {
		if size == 0 || size%64 != 0 {
			t.Errorf("%s is %d bytes, not a multiple of 64", name, size)
		}
	}
	for _, n := range []int{1, 3, 8, 9, 100, 3 * machine.MaxWindowBuckets} {
		if addr := machine.AlignedWords(n); addr%64 != 0 {
			t.Errorf("alignedWords(%d) starts at %#x, not on a cache line", n, addr)
		}
	}
}

// TestTimeWindowReadsEveryStripe: a time window's counts sum every stripe
// of every bucket, whichever stripes the goroutines happened to write.
func TestTimeWindowReadsEveryStripe(t *testing.T) {
	for _, n := range []int{1, 10, machine.MaxWindowBuckets} {
		stripes, c := machine.TimeWindowStripes(n)
		want := uint64(n * stripes) // one failed call per stripe and bucket
		if c != (machine.WindowCounts{Calls: want, Failures: want}) {
			t.Errorf("%d buckets of %d stripes: counts %+v, want %d calls, all failed", n, stripes, c, want)
		}
		if stripes < 4 || stripes > 16 || stripes*n > 4096 {
			t.Errorf("%d buckets: %d stripes, want 4 to 16 and at most 4096 words", n, stripes)
		}
	}
}

// TestWindowStripesSpreadNeighbouringStacks: goroutine stacks are often
// 2 KiB apart; the stripes of neighbouring stacks must differ, or parallel
// calls contend for one word.
func TestWindowStripesSpreadNeighbouringStacks(t *testing.T) {
	for _, stripes := range []int{4, 8, 16} {
		for _, base := range []uintptr{0xc000100000, 0x13c47222d000, 0x7f0000000800} {
			for k := range uintptr(64) {
				a := machine.StripeOf(base+k*2048+0x5cf, stripes)
				b := machine.StripeOf(base+(k+1)*2048+0x5cf, stripes)
				if a == b || a >= stripes {
					t.Fatalf("%d stripes: stacks %#x and %#x both in stripe %d", stripes, base+k*2048, base+(k+1)*2048, a)
				}
			}
		}
	}
}
