package registry_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

// watchdog is how long a test waits for what must not block.
const watchdog = 5 * time.Second

// faultyObserver is a subscriber that observes breakers, whose first
// ObserveBreaker runs fault (after waiting for release, when set): a bug
// in a user's observer, inside machine.New.
type faultyObserver struct {
	fault   func()
	entered chan struct{} // closed when the first ObserveBreaker begins
	release chan struct{} // nil: no wait
	calls   atomic.Int32
}

func newFaultyObserver(fault func(), release chan struct{}) *faultyObserver {
	return &faultyObserver{fault: fault, entered: make(chan struct{}), release: release}
}

func (o *faultyObserver) Notify(context.Context, events.Transition) {}

// Lane is inline, so that no dispatcher goroutine runs for it.
func (o *faultyObserver) Lane() hooks.Lane { return hooks.LaneInline }

func (o *faultyObserver) ObserveBreaker(*machine.Breaker) (func() error, error) {
	if o.calls.Add(1) == 1 {
		close(o.entered)
		if o.release != nil {
			<-o.release
		}
		o.fault()
	}
	return func() error { return nil }, nil
}

// getResult is what a Get returned, or the panic it raised.
type getResult struct {
	b      *machine.Breaker
	err    error
	panics any
}

// goGet calls reg.Get(key) on a goroutine of its own, recovering a panic,
// and returns where its result arrives.
func goGet(reg *registry.Registry, key string) <-chan getResult {
	got := make(chan getResult, 1)
	go func() {
		var res getResult
		defer func() {
			res.panics = recover()
			got <- res
		}()
		res.b, res.err = reg.Get(key)
	}()
	return got
}

// await returns the result of a Get started by goGet, failing the test if
// it does not arrive within the watchdog.
func await(t *testing.T, got <-chan getResult, what string) getResult {
	t.Helper()
	select {
	case res := <-got:
		return res
	case <-time.After(watchdog):
		t.Fatalf("%s blocks", what)
		return getResult{}
	}
}

// TestPanicMakingABreakerDoesNotLockItsKey checks that a panic inside
// machine.New (here an observer's ObserveBreaker) goes on to the Get
// making the breaker, gives back its place, and leaves the key usable: the
// next Get does not block, and makes the breaker.
func TestPanicMakingABreakerDoesNotLockItsKey(t *testing.T) {
	ctx := context.Background()
	o := newFaultyObserver(func() { panic("observer bug") }, nil)
	reg, err := registry.New(registry.WithIdleTimeout(0), registry.WithBreakerOptions(machine.WithSubscribers(o)))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(ctx)
	res := await(t, goGet(reg, "k"), "the first Get")
	if res.panics != "observer bug" {
		t.Fatalf("the first Get = %v, %v, panic %v; want the observer's panic", res.b, res.err, res.panics)
	}
	if n := reg.Len(); n != 0 {
		t.Errorf("Len after the panic = %d, want 0: the place was not given back", n)
	}
	if _, ok := reg.Lookup("k"); ok {
		t.Error("Lookup finds a breaker whose making panicked")
	}
	res = await(t, goGet(reg, "k"), "the Get after the panic")
	if res.err != nil || res.b == nil || res.panics != nil {
		t.Fatalf("the Get after the panic = %v, %v, panic %v; want a new breaker", res.b, res.err, res.panics)
	}
	if n := reg.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
	if err := reg.Remove(ctx, "k"); err != nil {
		t.Errorf("Remove: %v", err)
	}
}

// TestGetsWaitingForAPanickingMakerReturnAnError checks that the Gets of a
// key waiting while its breaker is made get an error when the making
// panics, rather than block (or, come later, a new breaker).
func TestGetsWaitingForAPanickingMakerReturnAnError(t *testing.T) {
	release := make(chan struct{})
	o := newFaultyObserver(func() { panic("observer bug") }, release)
	reg, err := registry.New(registry.WithIdleTimeout(0), registry.WithBreakerOptions(machine.WithSubscribers(o)))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	maker := goGet(reg, "k")
	<-o.entered
	waiter := goGet(reg, "k")
	time.Sleep(20 * time.Millisecond) // the waiter waits for the maker
	close(release)
	if res := await(t, maker, "the Get making the breaker"); res.panics != "observer bug" {
		t.Errorf("the Get making the breaker = %v, %v, panic %v; want the observer's panic", res.b, res.err, res.panics)
	}
	switch res := await(t, waiter, "the Get waiting for it"); {
	case res.panics != nil:
		t.Errorf("the waiting Get panicked: %v", res.panics)
	case res.err != nil:
		if !strings.Contains(res.err.Error(), "panicked: observer bug") {
			t.Errorf("the waiting Get = %v, want an error saying the making panicked", res.err)
		}
	case res.b == nil:
		t.Error("the waiting Get returned neither a breaker nor an error")
	default:
		t.Log("the waiting Get came after the panic, and made a new breaker")
	}
	if n, want := reg.Len(), int(o.calls.Load()-1); n != want {
		t.Errorf("Len = %d, want %d", n, want)
	}
}

// TestGoexitMakingABreakerDoesNotLockItsKey checks that a maker whose
// goroutine exits inside machine.New (an observer calling t.FailNow, say)
// leaves the key usable too.
func TestGoexitMakingABreakerDoesNotLockItsKey(t *testing.T) {
	o := newFaultyObserver(runtime.Goexit, nil)
	reg, err := registry.New(registry.WithIdleTimeout(0), registry.WithBreakerOptions(machine.WithSubscribers(o)))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_, _ = reg.Get("k")
	}()
	select {
	case <-exited:
	case <-time.After(watchdog):
		t.Fatal("the Get whose making exits its goroutine blocks")
	}
	if n := reg.Len(); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
	if res := await(t, goGet(reg, "k"), "the next Get"); res.err != nil || res.b == nil {
		t.Errorf("the next Get = %v, %v, panic %v; want a new breaker", res.b, res.err, res.panics)
	}
}

// gatedJournal is a Memory whose Reads (machine.New's load) wait until
// release is closed; it counts them, and those after after is set.
type gatedJournal struct {
	*events.Memory
	entered chan struct{} // receives at each Read's start
	release chan struct{}
	reads   atomic.Int32
	late    atomic.Int32 // Reads begun with after set
	after   atomic.Bool
}

func newGatedJournal(t *testing.T) *gatedJournal {
	t.Helper()
	m, err := events.NewMemory(16)
	if err != nil {
		t.Fatal(err)
	}
	return &gatedJournal{Memory: m, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (j *gatedJournal) Read(ctx context.Context, b string, after uint64) ([]events.Transition, error) {
	j.reads.Add(1)
	if j.after.Load() {
		j.late.Add(1)
	}
	j.entered <- struct{}{}
	<-j.release
	return j.Memory.Read(ctx, b, after)
}

// TestCloseWaitsForTheBreakersBeingMade checks that Close waits for a
// breaker being made (its journal load blocked) and closes it, so that
// when Close returns the registry holds nothing, no breaker is open, and
// nothing touches the journal any more; a Get coming during Close makes
// nothing.
func TestCloseWaitsForTheBreakersBeingMade(t *testing.T) {
	j := newGatedJournal(t)
	c := newCensus(nil)
	reg, err := registry.New(registry.WithIdleTimeout(0), registry.WithBreakerOptions(
		machine.WithJournal(j), machine.WithSubscribers(c)))
	if err != nil {
		t.Fatal(err)
	}
	maker := goGet(reg, "k")
	<-j.entered
	closed := make(chan error, 1)
	go func() { closed <- reg.Close(context.Background()) }()
	select {
	case err := <-closed:
		close(j.release)
		t.Fatalf("Close returned (%v) while a breaker was being made", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := reg.Get("other"); err != registry.ErrClosed {
		t.Errorf("Get of another key during Close = %v, want ErrClosed", err)
	}
	if n := j.reads.Load(); n != 1 {
		t.Errorf("%d journal reads, want 1: a Get during Close made a breaker", n)
	}
	close(j.release)
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(watchdog):
		t.Fatal("Close blocks after the breaker was made")
	}
	j.after.Store(true)
	if n, open := reg.Len(), c.open.Load(); n != 0 || open != 0 {
		t.Errorf("after Close: Len %d, %d breakers open; want none", n, open)
	}
	if made := c.made.Load(); made != 1 {
		t.Errorf("%d breakers made, want 1", made)
	}
	if res := await(t, maker, "the Get being made"); res.err != registry.ErrClosed || res.panics != nil {
		t.Errorf("the Get that was making the breaker = %v, %v, panic %v; want ErrClosed", res.b, res.err, res.panics)
	}
	if _, err := reg.Get("k"); err != registry.ErrClosed {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if n := j.late.Load(); n != 0 {
		t.Errorf("%d journal reads after Close returned", n)
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Errorf("Close again: %v", err)
	}
}

// TestCloseStopsWaitingWhenItsContextEnds checks that Close gives up
// waiting for a breaker being made when its ctx ends, saying so, and that
// the breaker's maker then closes it as soon as it is made.
func TestCloseStopsWaitingWhenItsContextEnds(t *testing.T) {
	j := newGatedJournal(t)
	c := newCensus(nil)
	var reported atomic.Int32
	reg, err := registry.New(registry.WithIdleTimeout(0),
		registry.WithErrorHandler(func(err error) { reported.Add(1); t.Errorf("reported: %v", err) }),
		registry.WithBreakerOptions(machine.WithJournal(j), machine.WithSubscribers(c)))
	if err != nil {
		t.Fatal(err)
	}
	maker := goGet(reg, "k")
	<-j.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := reg.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with its ctx done = %v, want an error matching context.Canceled", err)
	}
	if n := reg.Len(); n != 1 {
		t.Errorf("Len = %d, want 1: the breaker being made", n)
	}
	close(j.release)
	if res := await(t, maker, "the Get being made"); res.err != registry.ErrClosed {
		t.Errorf("the Get that was making the breaker = %v, %v, panic %v; want ErrClosed", res.b, res.err, res.panics)
	}
	if n, open, made := reg.Len(), c.open.Load(), c.made.Load(); n != 0 || open != 0 || made != 1 {
		t.Errorf("after its maker: Len %d, %d breakers open, %d made; want 0, 0, 1", n, open, made)
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Errorf("Close again: %v", err)
	}
}

// TestNoBreakerOutlivesClose races Close with Gets making breakers of new
// keys, again and again: when Close returns the registry holds nothing,
// every breaker made is closed, and none is made afterwards.
func TestNoBreakerOutlivesClose(t *testing.T) {
	for round := range 50 {
		j, err := events.NewMemory(16)
		if err != nil {
			t.Fatal(err)
		}
		c := newCensus(nil)
		reg, err := registry.New(registry.WithIdleTimeout(0), registry.WithBreakerOptions(
			machine.WithJournal(j), machine.WithSubscribers(c)))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					if _, err := reg.Get(fmt.Sprintf("w%d-%d", w, i)); err != nil {
						if err != registry.ErrClosed {
							t.Errorf("Get: %v", err)
						}
						return
					}
				}
			})
		}
		for c.made.Load() < int64(round%8) {
			runtime.Gosched()
		}
		if err := reg.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		made := c.made.Load()
		if n, open := reg.Len(), c.open.Load(); n != 0 || open != 0 {
			t.Fatalf("round %d: after Close, Len %d and %d breakers open; want none", round, n, open)
		}
		wg.Wait()
		if m := c.made.Load(); m != made {
			t.Fatalf("round %d: %d breakers made after Close returned", round, m-made)
		}
	}
}
