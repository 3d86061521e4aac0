package registry_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

// churn is a registry under load: workers call through thousands of keys
// while a sweeper goroutine moves the fake clock, so that breakers are made
// and evicted all the time, and the registry is full most of it.
type churn struct {
	clk *clocktest.Clock
	seq atomic.Uint64 // orders Gets and Closes: see census
	c   *census
	reg *registry.Registry
}

const churnMaxKeys = 64

func newChurn(t *testing.T) *churn {
	t.Helper()
	ch := &churn{clk: clocktest.New(t0)}
	ch.c = newCensus(&ch.seq)
	j, err := events.NewMemory(16)
	if err != nil {
		t.Fatal(err)
	}
	report := func(err error) { t.Errorf("reported: %v", err) }
	ch.reg, err = registry.New(
		registry.WithClock(ch.clk),
		registry.WithIdleTimeout(idle),
		registry.WithMaxKeys(churnMaxKeys),
		registry.WithErrorHandler(report),
		registry.WithBreakerOptions(
			machine.WithClock(ch.clk),
			machine.WithJournal(j),
			machine.WithFailureThreshold(3),
			machine.WithRecoveryTimeout(idle/2),
			machine.WithSubscribers(ch.c),
			machine.WithErrorHandler(report),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// work makes n calls through random keys among keys, each a Get and a
// Do, and moves the clock half an idle timeout every 25 calls, running the
// sweeps due on its goroutine, among the other workers' calls; it fails the
// test if a Get returns a breaker closed before the Get began, or if Do
// returns machine.ErrClosed.
func (ch *churn) work(t *testing.T, seed uint64, n, keys int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	ctx := context.Background()
	for i := range n {
		if i%25 == 0 {
			ch.clk.Advance(idle / 2)
		}
		key := fmt.Sprintf("host-%04d", rng.IntN(keys))
		began := ch.seq.Add(1)
		b, err := ch.reg.Get(key)
		switch {
		case err == nil:
			if at, closed := ch.c.closedAt(b); closed && at < began {
				t.Errorf("Get(%s) returned a breaker closed before it began", key)
				return
			}
		case errors.Is(err, registry.ErrFull), errors.Is(err, registry.ErrClosed):
		default:
			t.Errorf("Get(%s): %v", key, err)
			return
		}
		fn := succeed
		if rng.IntN(10) == 0 {
			fn = fail
		}
		err = ch.reg.Do(ctx, key, fn)
		switch {
		case err == nil, err == errDependency, errors.Is(err, machine.ErrOpen),
			errors.Is(err, registry.ErrFull), errors.Is(err, registry.ErrClosed):
		default:
			t.Errorf("Do(%s): %v", key, err)
			return
		}
		if rng.IntN(50) == 0 {
			if err := ch.reg.Remove(ctx, key); err != nil {
				t.Errorf("Remove(%s): %v", key, err)
				return
			}
		}
		if n := ch.reg.Len(); n > churnMaxKeys {
			t.Errorf("Len = %d, more than %d", n, churnMaxKeys)
			return
		}
	}
}

// TestChurn runs workers through thousands of keys while the clock moves,
// and checks the bounds: never more breakers open than the registry's
// bound, no Get returning a breaker closed before it, no ErrClosed from Do,
// every breaker closed once the registry is, and (TestMain) no goroutine
// left.
func TestChurn(t *testing.T) {
	ch := newChurn(t)
	const workers, calls, keys = 16, 1000, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { ch.work(t, uint64(w), calls, keys) })
	}
	wg.Wait()
	if err := ch.reg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	made, most, open := ch.c.made.Load(), ch.c.most.Load(), ch.c.open.Load()
	t.Logf("%d breakers made, at most %d open at once", made, most)
	if most > churnMaxKeys || open != 0 {
		t.Errorf("at most %d breakers open at once (bound %d), %d open after Close", most, churnMaxKeys, open)
	}
	if made < 2000 {
		t.Errorf("only %d breakers made: the test did not churn", made)
	}
	if n := ch.clk.Pending(); n != 0 {
		t.Errorf("%d timers pending after Close", n)
	}
}

// TestCloseDuringChurn closes the registry while workers call through it:
// every breaker ends closed, including those being made when Close came.
func TestCloseDuringChurn(t *testing.T) {
	ch := newChurn(t)
	var wg sync.WaitGroup
	var working atomic.Int32
	for w := range 8 {
		working.Add(1)
		wg.Go(func() {
			defer working.Add(-1)
			ch.work(t, uint64(100+w), 300, 500)
		})
	}
	for ch.c.made.Load() < 100 && working.Load() > 0 { // Close in the middle of it
		runtime.Gosched()
	}
	if err := ch.reg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if open := ch.c.open.Load(); open != 0 {
		t.Errorf("%d breakers open after Close and the workers' end", open)
	}
	if _, err := ch.reg.Get("host-0000"); err != registry.ErrClosed {
		t.Errorf("Get after Close = %v", err)
	}
	// The clock moving after Close runs no sweep.
	ch.clk.Advance(time.Hour)
}
