package registry

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/machine"
)

// newTestRegistry returns a registry on a fake clock with one breaker,
// for key "a", whose used mark a sweep has cleared: the next pass may
// evict it.
func newTestRegistry(t *testing.T) (*Registry, *entry, *machine.Breaker) {
	t.Helper()
	clk := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r, err := New(WithClock(clk), WithIdleTimeout(time.Minute), WithBreakerOptions(machine.WithClock(clk)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	b, err := r.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute) // a sweep: clears the mark
	v, _ := r.m.Load("a")
	e := v.(*entry)
	if e.used.Load() || e.state.Load() != live {
		t.Fatalf("after a sweep: used %v, state %d", e.used.Load(), e.state.Load())
	}
	return r, e, b
}

// TestGetDuringEviction walks a Get and an eviction of the same entry
// through their interleavings, step by step: the Get never returns the
// breaker an eviction takes, and the eviction never takes a breaker a Get
// returned.
func TestGetDuringEviction(t *testing.T) {
	t.Run("the evictor claims, then a Get marks: the evictor backs off", func(t *testing.T) {
		r, e, b := newTestRegistry(t)
		if !e.state.CompareAndSwap(live, evicting) { // the evictor's claim
			t.Fatal("claim failed")
		}
		got := make(chan *machine.Breaker)
		go func() {
			b, err := r.Get("a")
			if err != nil {
				t.Error(err)
			}
			got <- b
		}()
		for !e.used.Load() { // the Get has marked the entry, and waits
			runtime.Gosched()
		}
		if _, ok := r.evictClaimed("a", e); ok {
			t.Fatal("evicted an entry a Get marked")
		}
		if g := <-got; g != b {
			t.Fatalf("Get returned another breaker")
		}
		if err := b.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatalf("the breaker Get returned: %v", err)
		}
	})
	t.Run("a Get marks, then the evictor claims: the evictor backs off", func(t *testing.T) {
		r, e, b := newTestRegistry(t)
		e.used.Store(true) // the Get's first step
		if _, ok := r.evictOne("a", e, false); ok {
			t.Fatal("evicted a marked entry")
		}
		if e.state.Load() != live || e.acquire() != b { // the Get's second step
			t.Fatal("the Get did not get the breaker")
		}
	})
	t.Run("the evictor takes the entry, then a Get looks: it gets a new breaker", func(t *testing.T) {
		r, e, b := newTestRegistry(t)
		ev, ok := r.evictOne("a", e, false)
		if !ok || ev.b != b {
			t.Fatal("did not evict an unmarked quiet entry")
		}
		if e.acquire() != nil {
			t.Fatal("an evicted entry gave its breaker")
		}
		r.closeEvicted([]evicted{ev})
		nb, err := r.Get("a")
		if err != nil || nb == b {
			t.Fatalf("Get after the eviction = %v, %v; want a new breaker", nb, err)
		}
		if r.Len() != 1 {
			t.Fatalf("Len = %d, want 1", r.Len())
		}
	})
	t.Run("the evictor claims and takes it while a Get waits: it gets a new breaker", func(t *testing.T) {
		r, e, b := newTestRegistry(t)
		if !e.state.CompareAndSwap(live, evicting) {
			t.Fatal("claim failed")
		}
		// The Get marks and waits; the evictor, having read the mark
		// before the Get set it, takes the entry all the same.
		e.used.Store(false)
		r.m.CompareAndDelete("a", e)
		e.state.Store(gone)
		r.closeEvicted([]evicted{{"a", b}})
		nb, err := r.Get("a")
		if err != nil || nb == b {
			t.Fatalf("Get = %v, %v; want a new breaker", nb, err)
		}
	})
}
