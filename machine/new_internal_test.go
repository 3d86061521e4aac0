package machine

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
)

// TestFreshBreakerStartsAsAdoptWould checks that New's shortcut for a
// breaker with an empty journal and no window policy (the shared first
// snapshot) leaves it exactly as adopting its fold would: same snapshot
// contents, generation and failure run.
func TestFreshBreakerStartsAsAdoptWould(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"defaults", nil},
		{"fake clock", []Option{WithClock(clk)}},
		{"threshold and subscriber", []Option{WithFailureThreshold(3), WithSubscribers(hooks.Func(func(context.Context, events.Transition) {}))}},
		{"observe only", []Option{WithObserveOnly()}},
		{"half-open timeout", []Option{WithHalfOpenTimeout(time.Second), WithProbeOnTimer()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := New("fresh", c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(context.Background())
			b.mu.Lock()
			got, gotGen, gotRun := *b.snap.Load(), b.gen, b.run.w.Load()
			if b.snap.Load() != &firstClosed.s {
				t.Errorf("a fresh breaker does not share the first snapshot")
			}
			b.gen = 0
			b.adoptLocked(b.fold)
			want, wantGen, wantRun := *b.snap.Load(), b.gen, b.run.w.Load()
			b.mu.Unlock()
			if got != want || gotGen != wantGen || gotRun != wantRun {
				t.Errorf("fresh start: snapshot %+v gen %d run %#x; adopting the fold: %+v gen %d run %#x",
					got, gotGen, gotRun, want, wantGen, wantRun)
			}
		})
	}
}

// TestBreakerWithHistoryOrWindowsHasItsOwnSnapshot checks that the shared
// first snapshot is only for breakers it describes.
func TestBreakerWithHistoryOrWindowsHasItsOwnSnapshot(t *testing.T) {
	j, err := events.NewMemory(8)
	if err != nil {
		t.Fatal(err)
	}
	first, err := New("resumed", WithJournal(j))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, control := range []func(context.Context, Override) error{first.ForceOpen, first.ForceClose} {
		if err := control(ctx, Override{Operator: "test", Note: "a history to resume"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		make func() (*Breaker, error)
	}{
		{"resumed closed", func() (*Breaker, error) { return New("resumed", WithJournal(j)) }},
		{"window policy", func() (*Breaker, error) {
			return New("windowed", WithTripPolicy(FailureRate(50, 10, LastCalls(10))))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.make()
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(ctx)
			if b.snap.Load() == &firstClosed.s {
				t.Errorf("shares the first snapshot")
			}
			if b.State() != events.Closed {
				t.Errorf("state %s, want closed", b.State())
			}
		})
	}
}

// TestCountersAreMadeByTheFirstCall checks that New makes no counter cells,
// that the first call does, and that the counts are exact when many
// goroutines make their first calls at once.
func TestCountersAreMadeByTheFirstCall(t *testing.T) {
	if got := unsafe.Sizeof(cell{}); got != cacheLine {
		t.Fatalf("a cell is %d bytes, want one cache line, %d", got, cacheLine)
	}
	b, err := New("lazy", WithFailureThreshold(maxThreshold))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer b.Close(ctx)
	if b.calls.cells.Load() != nil {
		t.Fatal("New made the counter cells")
	}
	if c := b.Counts(); c != (Counts{}) {
		t.Fatalf("Counts before any call = %+v, want zeros", c)
	}
	const goroutines, calls = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				if (g+i)%2 == 0 {
					_ = b.Do(ctx, func(context.Context) error { return nil })
				} else {
					_ = b.Do(ctx, func(context.Context) error { return errInternal })
				}
			}
		})
	}
	wg.Wait()
	if b.calls.cells.Load() == nil {
		t.Fatal("no cells after calls")
	}
	c := b.Counts()
	if c.Successes+c.Failures != goroutines*calls || c.Successes != goroutines*calls/2 {
		t.Errorf("Counts = %+v, want %d successes and %d failures", c, goroutines*calls/2, goroutines*calls/2)
	}
}

// TestCountersPastTheCells checks that a P without a cell of its own
// (GOMAXPROCS raised after the cells were made) counts in the shared cell.
func TestCountersPastTheCells(t *testing.T) {
	var c counters
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	c.add(kindSuccess) // makes one cell per P: one
	runtime.GOMAXPROCS(4)
	const goroutines, adds = 8, 1000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range adds {
				c.add(kindRejected)
			}
		})
	}
	wg.Wait()
	if got := c.sum(kindSuccess); got != 1 {
		t.Errorf("successes = %d, want 1", got)
	}
	if got := c.sum(kindRejected); got != goroutines*adds {
		t.Errorf("rejections = %d, want %d", got, goroutines*adds)
	}
	if procs := c.cells.Load().procs; procs != 1 {
		t.Errorf("cells made for %d Ps, want 1", procs)
	}
}

// errInternal is a failure for the internal tests.
var errInternal = errorString("dependency failed")

type errorString string

func (e errorString) Error() string { return string(e) }
