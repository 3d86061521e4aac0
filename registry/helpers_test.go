package registry_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

// t0 is where every fake clock starts.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// idle is the idle timeout of the tests' registries.
const idle = time.Minute

var errDependency = errors.New("dependency failed")

func succeed(context.Context) error { return nil }
func fail(context.Context) error    { return errDependency }

// census is a subscriber that observes breakers: it counts the breakers
// made and not yet closed, the most at once, and when each was closed, on
// a sequence shared with the tests' Gets.
type census struct {
	seq    *atomic.Uint64 // the tests' clock of events: nil for none
	open   atomic.Int64
	most   atomic.Int64
	made   atomic.Int64
	mu     sync.Mutex
	closed map[*machine.Breaker]uint64 // when Close stopped observing it
}

func newCensus(seq *atomic.Uint64) *census {
	return &census{seq: seq, closed: make(map[*machine.Breaker]uint64)}
}

func (c *census) Notify(context.Context, events.Transition) {}

// Lane is inline, so that no dispatcher goroutine runs for it.
func (c *census) Lane() hooks.Lane { return hooks.LaneInline }

func (c *census) ObserveBreaker(b *machine.Breaker) (func() error, error) {
	c.made.Add(1)
	n := c.open.Add(1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	return func() error {
		var at uint64
		if c.seq != nil {
			at = c.seq.Add(1)
		}
		c.mu.Lock()
		c.closed[b] = at
		c.mu.Unlock()
		c.open.Add(-1)
		return nil
	}, nil
}

// closedAt returns when b was closed, and whether it was.
func (c *census) closedAt(b *machine.Breaker) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.closed[b]
	return at, ok
}

// rig is a registry on a fake clock, its breakers on the same clock over a
// shared in-memory journal, observed by a census; every error the
// registry or a breaker reports fails the test.
type rig struct {
	clk *clocktest.Clock
	j   *events.Memory
	c   *census
	reg *registry.Registry
}

func newRig(t testing.TB, opts ...registry.Option) *rig {
	t.Helper()
	r := &rig{clk: clocktest.New(t0), c: newCensus(nil)}
	var err error
	if r.j, err = events.NewMemory(64); err != nil {
		t.Fatal(err)
	}
	base := []registry.Option{
		registry.WithClock(r.clk),
		registry.WithIdleTimeout(idle),
		registry.WithErrorHandler(func(err error) { t.Errorf("registry reported: %v", err) }),
		registry.WithBreakerOptions(
			machine.WithClock(r.clk),
			machine.WithJournal(r.j),
			machine.WithSubscribers(r.c),
			machine.WithErrorHandler(func(err error) { t.Errorf("breaker reported: %v", err) }),
		),
	}
	if r.reg, err = registry.New(append(base, opts...)...); err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.reg.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if n := r.c.open.Load(); n != 0 {
			t.Errorf("%d breakers open after Close", n)
		}
	})
	return r
}

// get returns key's breaker, failing the test on an error.
func (r *rig) get(t testing.TB, key string) *machine.Breaker {
	t.Helper()
	b, err := r.reg.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return b
}

// do calls fn through key's breaker and returns its error.
func (r *rig) do(key string, fn func(context.Context) error) error {
	return r.reg.Do(context.Background(), key, fn)
}

// held reports whether the registry holds a breaker for key.
func (r *rig) held(key string) bool {
	_, ok := r.reg.Lookup(key)
	return ok
}

// sweep moves the clock to the next sweep, which runs on this goroutine.
func (r *rig) sweep() { r.clk.Advance(idle) }

// nilCtx is a nil context, for the tests that pass one on purpose.
var nilCtx context.Context

// override is the Override of the tests' manual controls.
var override = machine.Override{Operator: "test", Note: "registry test"}

// failingJournal is a Memory whose appends fail while failing is set.
type failingJournal struct {
	*events.Memory
	failing atomic.Bool
}

func (j *failingJournal) Append(ctx context.Context, t events.Transition) error {
	if j.failing.Load() {
		return errors.New("disk full")
	}
	return j.Memory.Append(ctx, t)
}
