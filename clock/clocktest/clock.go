package clocktest

import (
	"container/heap"
	"fmt"
	"sync"
	"time"

	"github.com/circuitry-go/circuitry/clock"
)

// Clock is a fake [clock.Clock] whose time moves only when a test calls
// [Clock.Advance] or [Clock.Set]. See the package documentation for when
// timers run. The zero value is a clock at the zero time, ready to use; a
// Clock must not be copied after first use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	made   uint64 // timers made so far: the tie-break between equal deadlines
	timers timerHeap
}

var _ clock.Clock = (*Clock)(nil)

// New returns a clock whose time is start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's current time. While a timer's function runs, it
// returns the time at which that timer was due.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc makes a timer that calls f once the clock has moved d past Now.
// A d of zero or less makes a timer that is due at once: it runs on the next
// Advance or Set (Advance(0) suffices), never inside AfterFunc itself, so a
// caller may hold a lock that f takes. A nil f makes a timer that counts as
// pending until it is due or stopped and then does nothing.
//
// The returned timer's Stop reports true exactly when it prevented the call:
// the timer was still pending, and f will now never run.
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	when := c.now
	if d > 0 {
		when = when.Add(d)
	}
	c.made++
	t := &timer{clock: c, when: when, seq: c.made, f: f}
	heap.Push(&c.timers, t)
	return t
}

// Advance moves the clock forward by d and runs, on the calling goroutine,
// every timer that is due by the new time, in order of deadline. A negative
// d does nothing: time never goes back. Advance(0) runs the timers that are
// already due.
//
// If a timer function panics, the panic reaches the caller of Advance: that
// timer counts as run, and the clock stays at its deadline.
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		return
	}
	c.mu.Lock()
	c.runUntil(c.now.Add(d))
}

// Set moves the clock forward to t and runs every timer that is due by t, as
// [Clock.Advance] does. It returns an error, and changes nothing, if t is
// before Now.
func (c *Clock) Set(t time.Time) error {
	c.mu.Lock()
	if t.Before(c.now) {
		now := c.now
		c.mu.Unlock()
		return fmt.Errorf("clocktest: Set(%s) is before Now %s: time never goes back",
			t.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	c.runUntil(t)
	return nil
}

// Pending returns the number of timers that have neither run (or started
// running) nor been stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// runUntil runs every timer due by target, then moves the clock to target
// unless a timer function moved it further. It is called with c.mu held and
// returns with it released; timer functions run without it.
func (c *Clock) runUntil(target time.Time) {
	for len(c.timers) > 0 && !c.timers[0].when.After(target) {
		t := heap.Pop(&c.timers).(*timer)
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		if t.f != nil {
			t.f()
		}
		c.mu.Lock()
	}
	if target.After(c.now) {
		c.now = target
	}
	c.mu.Unlock()
}

// timer is a pending call made by Clock.AfterFunc.
type timer struct {
	clock *Clock
	when  time.Time
	seq   uint64
	f     func()
	index int // position in clock.timers, or -1 once it ran or was stopped
}

// Stop removes the timer if it is still pending and reports whether it did.
// It returns false if the timer already ran, started running, or was
// stopped before. It never waits for a running timer function.
func (t *timer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&c.timers, t.index)
	return true
}

// timerHeap orders pending timers by deadline, then by creation.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
