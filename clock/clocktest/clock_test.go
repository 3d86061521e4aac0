package clocktest_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/clock/clocktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// recorder collects the labels of timers in the order they ran.
type recorder struct {
	mu  sync.Mutex
	ran []string
}

func (r *recorder) fn(label string) func() {
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ran = append(r.ran, label)
	}
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ran)
}

func TestNowStartsAtStartAndMovesOnlyWhenAdvanced(t *testing.T) {
	c := clocktest.New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %s, want %s", got, start)
	}
	c.AfterFunc(time.Second, func() {})
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("after AfterFunc, Now() = %s, want %s", got, start)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance(90s), Now() = %s, want %s", got, want)
	}
}

func TestZeroValueIsAClockAtTheZeroTime(t *testing.T) {
	var c clocktest.Clock
	r := &recorder{}
	c.AfterFunc(time.Minute, r.fn("a"))
	c.Advance(time.Minute)
	if got, want := c.Now(), (time.Time{}).Add(time.Minute); !got.Equal(want) {
		t.Errorf("Now() = %s, want %s", got, want)
	}
	if got := r.got(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("ran %v, want [a]", got)
	}
}

func TestAdvanceRunsDueTimersInDeadlineOrder(t *testing.T) {
	type tm struct {
		label string
		d     time.Duration
	}
	tests := []struct {
		name    string
		timers  []tm // made in this order
		advance time.Duration
		want    []string
		pending int
	}{
		{
			name:    "by deadline, not by creation",
			timers:  []tm{{"c", 3 * time.Second}, {"a", time.Second}, {"b", 2 * time.Second}},
			advance: 3 * time.Second,
			want:    []string{"a", "b", "c"},
		},
		{
			name:    "equal deadlines in creation order",
			timers:  []tm{{"x", time.Second}, {"y", time.Second}, {"z", time.Second}, {"w", time.Second}},
			advance: time.Second,
			want:    []string{"x", "y", "z", "w"},
		},
		{
			name:    "deadline exactly at the new time runs",
			timers:  []tm{{"a", 5 * time.Second}},
			advance: 5 * time.Second,
			want:    []string{"a"},
		},
		{
			name:    "deadline 1ns after the new time does not run",
			timers:  []tm{{"a", 5 * time.Second}},
			advance: 5*time.Second - time.Nanosecond,
			want:    nil,
			pending: 1,
		},
		{
			name:    "only the due ones run",
			timers:  []tm{{"late", time.Hour}, {"early", time.Minute}},
			advance: time.Minute,
			want:    []string{"early"},
			pending: 1,
		},
		{
			name:    "zero and negative durations are due on Advance(0), in creation order",
			timers:  []tm{{"zero", 0}, {"neg", -time.Second}, {"later", time.Nanosecond}},
			advance: 0,
			want:    []string{"zero", "neg"},
			pending: 1,
		},
		{
			name:    "negative duration is due now, not in the past",
			timers:  []tm{{"zero", 0}, {"neg", -time.Hour}},
			advance: time.Second,
			want:    []string{"zero", "neg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(start)
			r := &recorder{}
			for _, x := range tt.timers {
				c.AfterFunc(x.d, r.fn(x.label))
			}
			c.Advance(tt.advance)
			if got := r.got(); !slices.Equal(got, tt.want) {
				t.Errorf("ran %v, want %v", got, tt.want)
			}
			if got := c.Pending(); got != tt.pending {
				t.Errorf("Pending() = %d, want %d", got, tt.pending)
			}
		})
	}
}

func TestAfterFuncNeverRunsTheFunctionItself(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
	}{
		{"zero", 0},
		{"negative", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(start)
			var mu sync.Mutex
			ran := false
			// The caller holds the lock that f takes: running f inside
			// AfterFunc would deadlock here.
			mu.Lock()
			c.AfterFunc(tt.d, func() {
				mu.Lock()
				defer mu.Unlock()
				ran = true
			})
			ranInside := ran
			mu.Unlock()
			if ranInside {
				t.Fatal("f ran inside AfterFunc")
			}
			if got := c.Pending(); got != 1 {
				t.Fatalf("Pending() = %d, want 1", got)
			}
			c.Advance(0)
			mu.Lock()
			defer mu.Unlock()
			if !ran {
				t.Error("f did not run on Advance(0)")
			}
		})
	}
}

func TestNowInsideTimerIsItsDeadline(t *testing.T) {
	c := clocktest.New(start)
	var seen []time.Time
	for _, d := range []time.Duration{3 * time.Second, time.Second, 0} {
		c.AfterFunc(d, func() { seen = append(seen, c.Now()) })
	}
	c.Advance(10 * time.Second)
	want := []time.Time{start, start.Add(time.Second), start.Add(3 * time.Second)}
	if !slices.EqualFunc(seen, want, time.Time.Equal) {
		t.Errorf("Now() inside timers = %v, want %v", seen, want)
	}
	if got, want := c.Now(), start.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("Now() after Advance = %s, want %s", got, want)
	}
}

func TestAdvanceNegativeDoesNothing(t *testing.T) {
	c := clocktest.New(start)
	r := &recorder{}
	c.AfterFunc(0, r.fn("due"))
	c.Advance(-time.Second)
	if got := c.Now(); !got.Equal(start) {
		t.Errorf("Now() = %s, want %s", got, start)
	}
	if got := r.got(); len(got) != 0 {
		t.Errorf("ran %v, want nothing", got)
	}
	if got := c.Pending(); got != 1 {
		t.Errorf("Pending() = %d, want 1", got)
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		name    string
		to      time.Time
		wantErr string
		wantNow time.Time
		wantRan []string
	}{
		{
			name:    "forward runs due timers",
			to:      start.Add(2 * time.Second),
			wantNow: start.Add(2 * time.Second),
			wantRan: []string{"now", "1s", "2s"},
		},
		{
			name:    "to Now runs timers already due",
			to:      start,
			wantNow: start,
			wantRan: []string{"now"},
		},
		{
			name:    "backwards is an error and changes nothing",
			to:      start.Add(-time.Nanosecond),
			wantErr: "clocktest: Set(2026-01-02T03:04:04.999999999Z) is before Now 2026-01-02T03:04:05Z: time never goes back",
			wantNow: start,
			wantRan: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(start)
			r := &recorder{}
			c.AfterFunc(0, r.fn("now"))
			c.AfterFunc(time.Second, r.fn("1s"))
			c.AfterFunc(2*time.Second, r.fn("2s"))
			c.AfterFunc(3*time.Second, r.fn("3s"))
			err := c.Set(tt.to)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Set() error = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("Set() error = %v, want %q", err, tt.wantErr)
			}
			if got := c.Now(); !got.Equal(tt.wantNow) {
				t.Errorf("Now() = %s, want %s", got, tt.wantNow)
			}
			if got := r.got(); !slices.Equal(got, tt.wantRan) {
				t.Errorf("ran %v, want %v", got, tt.wantRan)
			}
		})
	}
}

func TestStopReportsWhetherItPreventedTheCall(t *testing.T) {
	tests := []struct {
		name     string
		scenario func(c *clocktest.Clock, r *recorder) (stopped []bool)
		wantStop []bool
		wantRan  []string
	}{
		{
			name: "before it is due: true, and it never runs",
			scenario: func(c *clocktest.Clock, r *recorder) []bool {
				tm := c.AfterFunc(time.Second, r.fn("a"))
				s := tm.Stop()
				c.Advance(time.Hour)
				return []bool{s}
			},
			wantStop: []bool{true},
			wantRan:  nil,
		},
		{
			name: "due but not yet advanced: true",
			scenario: func(c *clocktest.Clock, r *recorder) []bool {
				tm := c.AfterFunc(0, r.fn("a"))
				s := tm.Stop()
				c.Advance(0)
				return []bool{s}
			},
			wantStop: []bool{true},
			wantRan:  nil,
		},
		{
			name: "after it ran: false",
			scenario: func(c *clocktest.Clock, r *recorder) []bool {
				tm := c.AfterFunc(time.Second, r.fn("a"))
				c.Advance(time.Second)
				return []bool{tm.Stop()}
			},
			wantStop: []bool{false},
			wantRan:  []string{"a"},
		},
		{
			name: "twice: true then false",
			scenario: func(c *clocktest.Clock, r *recorder) []bool {
				tm := c.AfterFunc(time.Second, r.fn("a"))
				return []bool{tm.Stop(), tm.Stop()}
			},
			wantStop: []bool{true, false},
			wantRan:  nil,
		},
		{
			name: "from inside its own function: false",
			scenario: func(c *clocktest.Clock, r *recorder) []bool {
				var tm clock.Timer
				var s bool
				tm = c.AfterFunc(time.Second, func() { s = tm.Stop(); r.fn("a")() })
				c.Advance(time.Second)
				return []bool{s}
			},
			wantStop: []bool{false},
			wantRan:  []string{"a"},
		},
		{
			name: "by an earlier timer in the same Advance: true, and it does not run",
			scenario: func(c *clocktest.Clock, r *recorder) []bool {
				var later clock.Timer
				var s bool
				c.AfterFunc(time.Second, func() { s = later.Stop(); r.fn("first")() })
				later = c.AfterFunc(2*time.Second, r.fn("later"))
				c.Advance(time.Minute)
				return []bool{s}
			},
			wantStop: []bool{true},
			wantRan:  []string{"first"},
		},
		{
			name: "one of several equal deadlines: the others still run in order",
			scenario: func(c *clocktest.Clock, r *recorder) []bool {
				c.AfterFunc(time.Second, r.fn("a"))
				b := c.AfterFunc(time.Second, r.fn("b"))
				c.AfterFunc(time.Second, r.fn("c"))
				s := b.Stop()
				c.Advance(time.Second)
				return []bool{s}
			},
			wantStop: []bool{true},
			wantRan:  []string{"a", "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(start)
			r := &recorder{}
			if got := tt.scenario(c, r); !slices.Equal(got, tt.wantStop) {
				t.Errorf("Stop() = %v, want %v", got, tt.wantStop)
			}
			if got := r.got(); !slices.Equal(got, tt.wantRan) {
				t.Errorf("ran %v, want %v", got, tt.wantRan)
			}
			if got := c.Pending(); got != 0 {
				t.Errorf("Pending() = %d, want 0", got)
			}
		})
	}
}

func TestTimerFunctionsMayReenterTheClock(t *testing.T) {
	tests := []struct {
		name        string
		advance     time.Duration
		setup       func(c *clocktest.Clock, r *recorder)
		wantRan     []string
		wantNow     time.Duration // since start, after Advance
		wantPending int
	}{
		{
			name:    "a due-now timer made by a timer runs in the same Advance",
			advance: time.Second,
			setup: func(c *clocktest.Clock, r *recorder) {
				c.AfterFunc(time.Second, func() {
					r.fn("outer")()
					c.AfterFunc(0, r.fn("inner"))
				})
			},
			wantRan: []string{"outer", "inner"},
			wantNow: time.Second,
		},
		{
			name:    "a timer made by a timer and due within the Advance runs in deadline order",
			advance: 10 * time.Second,
			setup: func(c *clocktest.Clock, r *recorder) {
				c.AfterFunc(time.Second, func() {
					r.fn("1s")()
					c.AfterFunc(2*time.Second, r.fn("3s (made at 1s)"))
				})
				c.AfterFunc(5*time.Second, r.fn("5s"))
			},
			wantRan: []string{"1s", "3s (made at 1s)", "5s"},
			wantNow: 10 * time.Second,
		},
		{
			name:    "a timer made by a timer and due after the Advance stays pending",
			advance: 2 * time.Second,
			setup: func(c *clocktest.Clock, r *recorder) {
				c.AfterFunc(time.Second, func() {
					r.fn("1s")()
					c.AfterFunc(2*time.Second, r.fn("3s"))
				})
			},
			wantRan:     []string{"1s"},
			wantNow:     2 * time.Second,
			wantPending: 1,
		},
		{
			name:    "a timer that re-arms itself runs once per period",
			advance: 3500 * time.Millisecond,
			setup: func(c *clocktest.Clock, r *recorder) {
				var tick func()
				tick = func() {
					r.fn(c.Now().Sub(start).String())()
					c.AfterFunc(time.Second, tick)
				}
				c.AfterFunc(time.Second, tick)
			},
			wantRan:     []string{"1s", "2s", "3s"},
			wantNow:     3500 * time.Millisecond,
			wantPending: 1,
		},
		{
			name:    "a timer that advances the clock moves it further",
			advance: time.Second,
			setup: func(c *clocktest.Clock, r *recorder) {
				c.AfterFunc(time.Second, func() {
					r.fn("outer")()
					c.Advance(time.Minute)
				})
				c.AfterFunc(time.Minute, r.fn("1m"))
				c.AfterFunc(61*time.Second, r.fn("1m1s"))
			},
			wantRan: []string{"outer", "1m", "1m1s"},
			wantNow: 61 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(start)
			r := &recorder{}
			tt.setup(c, r)
			c.Advance(tt.advance)
			if got := r.got(); !slices.Equal(got, tt.wantRan) {
				t.Errorf("ran %v, want %v", got, tt.wantRan)
			}
			if got, want := c.Now(), start.Add(tt.wantNow); !got.Equal(want) {
				t.Errorf("Now() = %s, want %s", got, want)
			}
			if got := c.Pending(); got != tt.wantPending {
				t.Errorf("Pending() = %d, want %d", got, tt.wantPending)
			}
		})
	}
}

func TestPendingCountsTimersNotYetRunOrStopped(t *testing.T) {
	c := clocktest.New(start)
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"new clock", func() {}, 0},
		{"three timers made", func() {
			c.AfterFunc(time.Second, nil)
			c.AfterFunc(2*time.Second, nil)
			c.AfterFunc(3*time.Second, nil)
		}, 3},
		{"one ran", func() { c.Advance(time.Second) }, 2},
		{"one stopped", func() { c.AfterFunc(time.Hour, nil).Stop() }, 2},
		{"all ran", func() { c.Advance(time.Hour) }, 0},
	}
	for _, s := range steps {
		s.do()
		if got := c.Pending(); got != s.want {
			t.Fatalf("%s: Pending() = %d, want %d", s.name, got, s.want)
		}
	}
}

func TestPanicInTimerReachesAdvanceAndLeavesClockUsable(t *testing.T) {
	c := clocktest.New(start)
	r := &recorder{}
	c.AfterFunc(time.Second, func() { panic("boom") })
	c.AfterFunc(2*time.Second, r.fn("after"))
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recover() = %v, want boom", p)
			}
		}()
		c.Advance(time.Minute)
	}()
	if got, want := c.Now(), start.Add(time.Second); !got.Equal(want) {
		t.Errorf("Now() after panic = %s, want %s", got, want)
	}
	if got := c.Pending(); got != 1 {
		t.Errorf("Pending() after panic = %d, want 1", got)
	}
	c.Advance(time.Minute)
	if got := r.got(); !slices.Equal(got, []string{"after"}) {
		t.Errorf("ran %v, want [after]", got)
	}
}

// TestConcurrentUseRunsEachTimerAtMostOnce makes, stops and advances from
// many goroutines at once (run it with -race): every timer either runs once or
// is stopped with Stop reporting true, never both and never neither.
func TestConcurrentUseRunsEachTimerAtMostOnce(t *testing.T) {
	const (
		goroutines = 8
		perG       = 200
	)
	c := clocktest.New(start)
	runs := make([]atomic.Int32, goroutines*perG)
	stopped := make([]atomic.Bool, goroutines*perG)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				id := g*perG + i
				tm := c.AfterFunc(time.Duration(i%7)*time.Millisecond, func() {
					_ = c.Now()
					runs[id].Add(1)
				})
				switch i % 3 {
				case 0:
					stopped[id].Store(tm.Stop())
				case 1:
					c.Advance(time.Millisecond)
				}
				_ = c.Pending()
			}
		})
	}
	wg.Wait()
	c.Advance(time.Hour)
	if got := c.Pending(); got != 0 {
		t.Fatalf("Pending() = %d after advancing past every deadline, want 0", got)
	}
	for id := range runs {
		n, s := runs[id].Load(), stopped[id].Load()
		if (s && n != 0) || (!s && n != 1) {
			t.Fatalf("timer %d: ran %d times, Stop reported %v", id, n, s)
		}
	}
}
