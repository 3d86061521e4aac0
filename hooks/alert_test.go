package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// breaker produces a legal sequence of transitions for one breaker name.
type breaker struct {
	name  string
	seq   uint64
	state events.State
}

func (b *breaker) fire(t testing.TB, e events.Event) events.Transition {
	t.Helper()
	to, ok := events.Target(b.state, e)
	if !ok {
		t.Errorf("breaker %s: %s is not allowed from %s", b.name, e, b.state) // not Fatal: may run off the test goroutine
	}
	b.seq++
	tr := events.Transition{Breaker: b.name, Seq: b.seq, Event: e, From: b.state, To: to}
	if to == events.Open {
		tr.OpenFor = time.Second
	}
	b.state = to
	return tr
}

// alerts collects what onAlert receives.
type alerts struct {
	mu   sync.Mutex
	got  []hooks.Alert
	ctxs []context.Context
}

func (r *alerts) on(ctx context.Context, a hooks.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
	r.ctxs = append(r.ctxs, ctx)
}

func (r *alerts) list() []hooks.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func newAlerter(t *testing.T, opts ...hooks.AlertOption) (*hooks.Alerter, *alerts) {
	t.Helper()
	r := &alerts{}
	a, err := hooks.NewAlerter(r.on, opts...)
	if err != nil {
		t.Fatalf("NewAlerter: %v", err)
	}
	t.Cleanup(a.Close)
	return a, r
}

func TestNewAlerterRejectsInvalidOptionsNamingOptionAndValue(t *testing.T) {
	on := func(context.Context, hooks.Alert) {}
	tests := []struct {
		name    string
		onAlert func(context.Context, hooks.Alert)
		opts    []hooks.AlertOption
		want    string
	}{
		{"negative maxOpens", on, []hooks.AlertOption{hooks.WithFlapping(-1, time.Minute)},
			"circuitry: hooks.WithFlapping(-1, 1m0s): maxOpens must be positive"},
		{"negative window", on, []hooks.AlertOption{hooks.WithFlapping(3, -time.Second)},
			"circuitry: hooks.WithFlapping(3, -1s): window must be positive"},
		{"negative stuck-open duration", on, []hooks.AlertOption{hooks.WithStuckOpen(-time.Minute)},
			"circuitry: hooks.WithStuckOpen(-1m0s): must be positive"},
		{"zero stuck-open duration", on, []hooks.AlertOption{hooks.WithStuckOpen(0)},
			"circuitry: hooks.WithStuckOpen(0s): must be positive"},
		{"maxOpens without window", on, []hooks.AlertOption{hooks.WithFlapping(3, 0)},
			"circuitry: hooks.WithFlapping(3, 0s): window must be positive"},
		{"window without maxOpens", on, []hooks.AlertOption{hooks.WithFlapping(0, time.Minute), hooks.WithStuckOpen(time.Hour)},
			"circuitry: hooks.WithFlapping(0, 1m0s): maxOpens must be positive"},
		{"neither maxOpens nor window", on, []hooks.AlertOption{hooks.WithFlapping(0, 0)},
			"circuitry: hooks.WithFlapping(0, 0s): maxOpens and window must be positive"},
		{"no rule", on, nil,
			"circuitry: hooks.NewAlerter(no rule): give WithFlapping, WithStuckOpen or both"},
		{"no rule, a clock only", on, []hooks.AlertOption{hooks.WithAlertClock(clocktest.New(t0))},
			"circuitry: hooks.NewAlerter(no rule): give WithFlapping, WithStuckOpen or both"},
		{"nil clock", on, []hooks.AlertOption{hooks.WithStuckOpen(time.Minute), hooks.WithAlertClock(nil)},
			"circuitry: hooks.WithAlertClock(nil): must be a clock"},
		{"nil option", on, []hooks.AlertOption{hooks.WithStuckOpen(time.Minute), nil},
			"circuitry: hooks.NewAlerter option 1(nil): must not be nil"},
		{"nil onAlert", nil, []hooks.AlertOption{hooks.WithStuckOpen(time.Minute)},
			"circuitry: hooks.NewAlerter(onAlert=nil): must be a function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := hooks.NewAlerter(tt.onAlert, tt.opts...)
			if err == nil || err.Error() != tt.want || !errors.Is(err, events.ErrInvalidOption) {
				t.Fatalf("NewAlerter() error = %v, want %q matching ErrInvalidOption", err, tt.want)
			}
			if a != nil {
				t.Errorf("NewAlerter() returned an Alerter with its error")
			}
		})
	}
}

func TestNewAlerterAcceptsEitherRuleOrBoth(t *testing.T) {
	on := func(context.Context, hooks.Alert) {}
	tests := []struct {
		name string
		opts []hooks.AlertOption
	}{
		{"flapping only", []hooks.AlertOption{hooks.WithFlapping(1, time.Minute)}},
		{"stuck open only", []hooks.AlertOption{hooks.WithStuckOpen(time.Minute)}},
		{"both", []hooks.AlertOption{hooks.WithFlapping(1, time.Minute), hooks.WithStuckOpen(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := hooks.NewAlerter(on, tt.opts...)
			if err != nil {
				t.Fatalf("NewAlerter() error = %v, want nil", err)
			}
			a.Close()
		})
	}
}

func TestAlertOptionGivenTwiceTheLastCounts(t *testing.T) {
	clk := clocktest.New(t0)
	a, r := newAlerter(t,
		hooks.WithFlapping(5, time.Hour), hooks.WithFlapping(1, time.Minute),
		hooks.WithStuckOpen(time.Hour), hooks.WithStuckOpen(time.Minute),
		hooks.WithAlertClock(clock.System()), hooks.WithAlertClock(clk))
	b := &breaker{name: "b"}
	a.Notify(context.Background(), b.fire(t, events.Trip))
	a.Notify(context.Background(), b.fire(t, events.ForceClose))
	opened := b.fire(t, events.Trip)
	a.Notify(context.Background(), opened)
	clk.Advance(time.Minute)
	want := []hooks.Alert{
		{Kind: hooks.AlertFlapping, Breaker: "b", Opens: 2, Window: time.Minute, OpenSince: t0, Transition: opened},
		{Kind: hooks.AlertStuckOpen, Breaker: "b", OpenSince: t0, Transition: opened},
	}
	if got := r.list(); !slices.EqualFunc(got, want, equalAlert) {
		t.Errorf("alerts = %+v\nwant     %+v", got, want)
	}
}

// step is one move of a scripted test: advance the clock by wait, then
// notify the next transition of the breaker.
type step struct {
	wait  time.Duration
	event events.Event
}

// opensEvery returns n cycles of trip then force_close, the trips every gap
// apart, starting with a trip at once.
func opensEvery(n int, gap time.Duration) []step {
	var s []step
	for i := range n {
		wait := gap
		if i == 0 {
			wait = 0
		}
		s = append(s, step{wait, events.Trip}, step{0, events.ForceClose})
	}
	return s
}

func TestAlertFlappingFiresWhenOpensExceedMaxOpensWithinWindow(t *testing.T) {
	const maxOpens = 3
	const window = time.Minute
	tests := []struct {
		name      string
		steps     []step
		wantAtOps []int // 1-based index among the trips that fired an alert
	}{
		{"maxOpens opens within the window: no alert", opensEvery(3, time.Second), nil},
		{"maxOpens+1 opens within the window: one alert", opensEvery(4, time.Second), []int{4}},
		{"maxOpens+1 opens at the same instant: one alert", opensEvery(4, 0), []int{4}},
		{"opens spread beyond the window: no alert", opensEvery(8, window/3), nil},
		{"first open exactly window before the last does not count", opensEvery(4, window/3), nil},
		{"first open window-1ns before the last counts", opensEvery(4, (window-time.Nanosecond)/3), []int{4}},
		{"transitions other than to open do not count", []step{
			{0, events.Trip}, {0, events.Probe}, {0, events.Recover},
			{0, events.ForceOpen}, {0, events.ForceHalfOpen}, {0, events.ForceClose},
			{0, events.Trip}, {0, events.Probe}, {0, events.Retrip},
		}, []int{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			a, r := newAlerter(t, hooks.WithFlapping(maxOpens, window), hooks.WithAlertClock(clk))
			b := &breaker{name: "payments"}
			var opens []events.Transition
			for _, s := range tt.steps {
				clk.Advance(s.wait)
				tr := b.fire(t, s.event)
				if tr.To == events.Open {
					opens = append(opens, tr)
				}
				a.Notify(context.Background(), tr)
			}
			var want []hooks.Alert
			for _, n := range tt.wantAtOps {
				want = append(want, hooks.Alert{
					Kind: hooks.AlertFlapping, Breaker: "payments", Opens: maxOpens + 1, Window: window,
					OpenSince: clk.Now(), Transition: opens[n-1],
				})
			}
			if got := r.list(); !slices.EqualFunc(got, want, equalAlert) {
				t.Errorf("alerts = %+v\nwant     %+v", got, want)
			}
		})
	}
}

func equalAlert(a, b hooks.Alert) bool {
	return a.Kind == b.Kind && a.Breaker == b.Breaker && a.Opens == b.Opens && a.Window == b.Window &&
		a.OpenSince.Equal(b.OpenSince) && a.Transition == b.Transition
}

// secs converts seconds to a duration.
func secs(ss ...float64) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		out = append(out, time.Duration(s*float64(time.Second)))
	}
	return out
}

func TestAlertFlappingFiresOncePerCrossingAndRearms(t *testing.T) {
	// maxOpens 2 within 10s: the third open within 10s crosses.
	tests := []struct {
		name   string
		opens  []time.Duration // times of the opens, since t0
		wantAt []time.Duration // times of the flapping alerts, since t0
	}{
		{
			name:   "keeps opening while above maxOpens: no second alert",
			opens:  secs(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20),
			wantAt: secs(2),
		},
		{
			name:   "count back at maxOpens when the next open comes: fires again",
			opens:  secs(0, 1, 2, 10.5),
			wantAt: secs(2, 10.5),
		},
		{
			name:   "count still above maxOpens when the next open comes: no alert",
			opens:  secs(0, 1, 2, 3, 10.5),
			wantAt: secs(2),
		},
		{
			name:   "quiet spell empties the window: fires again on the next crossing",
			opens:  secs(0, 1, 2, 3, 40, 41, 42),
			wantAt: secs(2, 42),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			a, r := newAlerter(t, hooks.WithFlapping(2, 10*time.Second), hooks.WithAlertClock(clk))
			b := &breaker{name: "b"}
			for _, at := range tt.opens {
				if err := clk.Set(t0.Add(at)); err != nil {
					t.Fatal(err)
				}
				a.Notify(context.Background(), b.fire(t, events.Trip))
				a.Notify(context.Background(), b.fire(t, events.ForceClose))
			}
			var gotAt []time.Duration
			for _, al := range r.list() {
				gotAt = append(gotAt, al.OpenSince.Sub(t0))
			}
			if !slices.Equal(gotAt, tt.wantAt) {
				t.Errorf("flapping alerts at %v, want %v", gotAt, tt.wantAt)
			}
		})
	}
}

func TestAlertStuckOpen(t *testing.T) {
	const maxOpen = 5 * time.Minute
	tests := []struct {
		name   string
		script func(t *testing.T, clk *clocktest.Clock, a *hooks.Alerter, r *alerts, b *breaker) (opened events.Transition, openedAt time.Time)
		// wantAlert says whether exactly one stuck-open alert is expected,
		// for the transition the script returns.
		wantAlert bool
	}{
		{
			name: "fires at exactly the stuck-open duration, not 1ns before",
			script: func(t *testing.T, clk *clocktest.Clock, a *hooks.Alerter, r *alerts, b *breaker) (events.Transition, time.Time) {
				clk.Advance(time.Second) // the period starts when Notify runs
				tr := b.fire(t, events.Trip)
				a.Notify(context.Background(), tr)
				at := clk.Now()
				clk.Advance(maxOpen - time.Nanosecond)
				if n := len(r.list()); n != 0 {
					t.Fatalf("%d alerts 1ns before the stuck-open duration, want 0", n)
				}
				clk.Advance(time.Nanosecond)
				return tr, at
			},
			wantAlert: true,
		},
		{
			name: "fires once per open period, however long it lasts",
			script: func(t *testing.T, clk *clocktest.Clock, a *hooks.Alerter, r *alerts, b *breaker) (events.Transition, time.Time) {
				tr := b.fire(t, events.Trip)
				a.Notify(context.Background(), tr)
				clk.Advance(10 * maxOpen)
				clk.Advance(10 * maxOpen)
				return tr, t0
			},
			wantAlert: true,
		},
		{
			name: "does not fire when the breaker leaves open 1ns earlier",
			script: func(t *testing.T, clk *clocktest.Clock, a *hooks.Alerter, r *alerts, b *breaker) (events.Transition, time.Time) {
				a.Notify(context.Background(), b.fire(t, events.Trip))
				clk.Advance(maxOpen - time.Nanosecond)
				a.Notify(context.Background(), b.fire(t, events.Probe))
				clk.Advance(10 * maxOpen)
				return events.Transition{}, time.Time{}
			},
			wantAlert: false,
		},
		{
			name: "a retrip starts a new period, timed from the retrip",
			script: func(t *testing.T, clk *clocktest.Clock, a *hooks.Alerter, r *alerts, b *breaker) (events.Transition, time.Time) {
				a.Notify(context.Background(), b.fire(t, events.Trip))
				clk.Advance(maxOpen / 2)
				a.Notify(context.Background(), b.fire(t, events.Probe))
				tr := b.fire(t, events.Retrip)
				a.Notify(context.Background(), tr)
				at := clk.Now()
				clk.Advance(maxOpen - time.Nanosecond)
				if n := len(r.list()); n != 0 {
					t.Fatalf("%d alerts 1ns before the stuck-open duration after the retrip, want 0", n)
				}
				clk.Advance(time.Nanosecond)
				return tr, at
			},
			wantAlert: true,
		},
		{
			name: "a second open notified without the close in between restarts the period",
			script: func(t *testing.T, clk *clocktest.Clock, a *hooks.Alerter, r *alerts, b *breaker) (events.Transition, time.Time) {
				a.Notify(context.Background(), b.fire(t, events.Trip))
				clk.Advance(maxOpen / 2)
				b.fire(t, events.ForceClose) // lost, as on a full queue
				tr := b.fire(t, events.Trip)
				a.Notify(context.Background(), tr)
				at := clk.Now()
				clk.Advance(maxOpen - time.Nanosecond)
				if n := len(r.list()); n != 0 {
					t.Fatalf("%d alerts 1ns before the stuck-open duration after the second open, want 0", n)
				}
				clk.Advance(time.Nanosecond)
				return tr, at
			},
			wantAlert: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			a, r := newAlerter(t, hooks.WithStuckOpen(maxOpen), hooks.WithAlertClock(clk))
			tr, at := tt.script(t, clk, a, r, &breaker{name: "payments"})
			var want []hooks.Alert
			if tt.wantAlert {
				want = []hooks.Alert{{Kind: hooks.AlertStuckOpen, Breaker: "payments", OpenSince: at, Transition: tr}}
			}
			if got := r.list(); !slices.EqualFunc(got, want, equalAlert) {
				t.Errorf("alerts = %+v\nwant     %+v", got, want)
			}
			if got := clk.Pending(); got != 0 {
				t.Errorf("clock has %d pending timers, want 0", got)
			}
		})
	}
}

type alertCtxKey struct{}

func TestAlertContexts(t *testing.T) {
	clk := clocktest.New(t0)
	a, r := newAlerter(t, hooks.WithFlapping(1, time.Minute), hooks.WithStuckOpen(time.Minute), hooks.WithAlertClock(clk))
	ctx := context.WithValue(context.Background(), alertCtxKey{}, "caller")
	b := &breaker{name: "b"}
	a.Notify(ctx, b.fire(t, events.Trip))
	a.Notify(ctx, b.fire(t, events.ForceClose))
	a.Notify(ctx, b.fire(t, events.Trip)) // flapping, from Notify
	clk.Advance(time.Minute)              // stuck open, from the timer

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 2 || r.got[0].Kind != hooks.AlertFlapping || r.got[1].Kind != hooks.AlertStuckOpen {
		t.Fatalf("alerts = %+v, want flapping then stuck_open", r.got)
	}
	t.Run("flapping gets Notify's context", func(t *testing.T) {
		if got := r.ctxs[0].Value(alertCtxKey{}); got != "caller" {
			t.Errorf("context value = %v, want caller", got)
		}
	})
	t.Run("stuck open gets context.Background", func(t *testing.T) {
		if got := r.ctxs[1]; got != context.Background() {
			t.Errorf("context = %v, want context.Background()", got)
		}
	})
}

func TestAlertBreakersAreIndependent(t *testing.T) {
	clk := clocktest.New(t0)
	a, r := newAlerter(t, hooks.WithFlapping(2, time.Minute), hooks.WithStuckOpen(time.Hour), hooks.WithAlertClock(clk))
	x, y := &breaker{name: "x"}, &breaker{name: "y"}
	// Each opens twice: four opens in all, but only two per breaker.
	for range 2 {
		a.Notify(context.Background(), x.fire(t, events.Trip))
		a.Notify(context.Background(), y.fire(t, events.Trip))
		a.Notify(context.Background(), x.fire(t, events.ForceClose))
		a.Notify(context.Background(), y.fire(t, events.ForceClose))
	}
	t.Run("flapping counts per breaker", func(t *testing.T) {
		if got := r.list(); len(got) != 0 {
			t.Fatalf("alerts = %+v, want none", got)
		}
		a.Notify(context.Background(), x.fire(t, events.Trip))
		got := r.list()
		if len(got) != 1 || got[0].Kind != hooks.AlertFlapping || got[0].Breaker != "x" {
			t.Fatalf("alerts = %+v, want one flapping alert for x", got)
		}
	})
	t.Run("stuck open times per breaker", func(t *testing.T) {
		a.Notify(context.Background(), y.fire(t, events.Trip))
		clk.Advance(time.Minute)
		a.Notify(context.Background(), x.fire(t, events.ForceClose))
		clk.Advance(time.Hour)
		var got []hooks.Alert
		for _, al := range r.list() {
			if al.Kind == hooks.AlertStuckOpen {
				got = append(got, al)
			}
		}
		if len(got) != 1 || got[0].Breaker != "y" {
			t.Fatalf("alerts = %+v, want one stuck_open alert for y", got)
		}
	})
}

func TestAlertOnAlertMayCallNotify(t *testing.T) {
	clk := clocktest.New(t0)
	var a *hooks.Alerter
	var got []hooks.Alert
	other := &breaker{name: "other"}
	a, err := hooks.NewAlerter(func(ctx context.Context, al hooks.Alert) {
		got = append(got, al)
		if al.Kind == hooks.AlertFlapping {
			a.Notify(ctx, other.fire(t, events.Trip)) // would deadlock under the Alerter's lock
		}
	}, hooks.WithFlapping(1, time.Minute), hooks.WithStuckOpen(time.Minute), hooks.WithAlertClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := &breaker{name: "b"}
	a.Notify(context.Background(), b.fire(t, events.Trip))
	a.Notify(context.Background(), b.fire(t, events.ForceClose))
	a.Notify(context.Background(), b.fire(t, events.Trip)) // flapping: onAlert notifies "other"
	clk.Advance(time.Minute)                               // stuck: b and other
	var kinds []string
	for _, al := range got {
		kinds = append(kinds, al.Kind.String()+":"+al.Breaker)
	}
	want := []string{"flapping:b", "stuck_open:b", "stuck_open:other"}
	if !slices.Equal(kinds, want) {
		t.Errorf("alerts = %v, want %v", kinds, want)
	}
}

func TestAlertCloseStopsTimersAndSilencesTheAlerter(t *testing.T) {
	clk := clocktest.New(t0)
	a, r := newAlerter(t, hooks.WithFlapping(1, time.Minute), hooks.WithStuckOpen(time.Minute), hooks.WithAlertClock(clk))
	for _, name := range []string{"a", "b", "c"} {
		a.Notify(context.Background(), (&breaker{name: name}).fire(t, events.Trip))
	}
	if got := clk.Pending(); got != 3 {
		t.Fatalf("Pending() before Close = %d, want 3", got)
	}
	a.Close()
	if got := clk.Pending(); got != 0 {
		t.Errorf("Pending() after Close = %d, want 0", got)
	}
	b := &breaker{name: "d"}
	for range 3 {
		a.Notify(context.Background(), b.fire(t, events.Trip))
		a.Notify(context.Background(), b.fire(t, events.ForceClose))
	}
	clk.Advance(time.Hour)
	if got := r.list(); len(got) != 0 {
		t.Errorf("alerts after Close = %+v, want none", got)
	}
	if got := clk.Pending(); got != 0 {
		t.Errorf("Pending() after Notify on a closed Alerter = %d, want 0", got)
	}
	a.Close() // again: harmless
}

func TestAlertCloseWaitsForOnAlertInProgress(t *testing.T) {
	clk := clocktest.New(t0)
	entered, release := make(chan struct{}), make(chan struct{})
	a, err := hooks.NewAlerter(func(context.Context, hooks.Alert) { close(entered); <-release },
		hooks.WithStuckOpen(time.Minute), hooks.WithAlertClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	a.Notify(context.Background(), (&breaker{name: "b"}).fire(t, events.Trip))
	advanced := make(chan struct{})
	go func() { clk.Advance(time.Minute); close(advanced) }()
	<-entered
	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while onAlert was running")
	case <-advanced:
		t.Fatal("Advance returned while onAlert was running")
	default:
	}
	close(release)
	<-closed
	<-advanced
}

func TestAlertConcurrentNotify(t *testing.T) {
	const (
		breakers = 8
		shared   = 8 // goroutines opening the shared breaker
		maxOpens = 3
	)
	clk := clocktest.New(t0)
	a, r := newAlerter(t, hooks.WithFlapping(maxOpens, time.Hour), hooks.WithStuckOpen(time.Minute), hooks.WithAlertClock(clk))
	var wg sync.WaitGroup
	for i := range breakers {
		wg.Go(func() {
			b := &breaker{name: fmt.Sprintf("own-%d", i)}
			for range maxOpens + 1 {
				a.Notify(context.Background(), b.fire(t, events.Trip))
				a.Notify(context.Background(), b.fire(t, events.ForceClose))
			}
			a.Notify(context.Background(), b.fire(t, events.Trip)) // left open
		})
	}
	for i := range shared {
		wg.Go(func() {
			// Transitions of a breaker shared by many processes, each
			// notifying its own view: only the opens matter here.
			b := &breaker{name: "shared", seq: uint64(i) * 100}
			a.Notify(context.Background(), b.fire(t, events.Trip))
			a.Notify(context.Background(), b.fire(t, events.ForceClose))
		})
	}
	wg.Go(func() {
		for range 100 {
			clk.Advance(0) // timers run concurrently with Notify
		}
	})
	wg.Wait()
	clk.Advance(time.Minute)

	counts := map[string]int{}
	for _, al := range r.list() {
		counts[al.Kind.String()+":"+al.Breaker]++
	}
	want := map[string]int{"flapping:shared": 1}
	for i := range breakers {
		want[fmt.Sprintf("flapping:own-%d", i)] = 1
		want[fmt.Sprintf("stuck_open:own-%d", i)] = 1
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("alert counts = %v\nwant           %v", counts, want)
	}
}

func TestAlertDefaultClockIsTheSystemClock(t *testing.T) {
	a, r := newAlerter(t, hooks.WithFlapping(1, time.Hour), hooks.WithStuckOpen(time.Hour))
	b := &breaker{name: "b"}
	before := time.Now()
	a.Notify(context.Background(), b.fire(t, events.Trip))
	a.Notify(context.Background(), b.fire(t, events.ForceClose))
	a.Notify(context.Background(), b.fire(t, events.Trip))
	after := time.Now()
	got := r.list()
	if len(got) != 1 || got[0].Kind != hooks.AlertFlapping {
		t.Fatalf("alerts = %+v, want one flapping alert", got)
	}
	if at := got[0].OpenSince; at.Before(before) || at.After(after) {
		t.Errorf("OpenSince = %s, want between %s and %s", at, before, after)
	}
	// The stuck-open timer is a real one: Close (in cleanup) stops it.
}

func TestAlerterRunsOnTheQueuedLane(t *testing.T) {
	a, _ := newAlerter(t, hooks.WithStuckOpen(time.Minute))
	if got := hooks.LaneOf(a); got != hooks.LaneQueued {
		t.Errorf("LaneOf(alerter) = %s, want queued", got)
	}
}

func TestAlertKindText(t *testing.T) {
	tests := []struct {
		kind    hooks.AlertKind
		str     string
		text    string
		wantErr string
	}{
		{hooks.AlertFlapping, "flapping", "flapping", ""},
		{hooks.AlertStuckOpen, "stuck_open", "stuck_open", ""},
		{0, "AlertKind(0)", "", "circuitry: invalid alert kind 0"},
		{9, "AlertKind(9)", "", "circuitry: invalid alert kind 9"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			text, err := tt.kind.MarshalText()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("MarshalText() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(text) != tt.text {
				t.Errorf("MarshalText() = %q, %v, want %q", text, err, tt.text)
			}
		})
	}
}

// lateClock is a clock whose timers cannot be stopped: Stop always loses the
// race with a timer that has started, so the test can run the timer function
// after the Alerter tried to stop it.
type lateClock struct {
	clock.Clock
	mu  sync.Mutex
	fns []func()
}

type lostTimer struct{}

func (lostTimer) Stop() bool { return false }

func (c *lateClock) AfterFunc(_ time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
	return lostTimer{}
}

func TestAlertStuckTimerThatLostTheRaceDoesNotFire(t *testing.T) {
	tests := []struct {
		name  string
		after func(t *testing.T, a *hooks.Alerter, b *breaker)
	}{
		{"breaker left open", func(t *testing.T, a *hooks.Alerter, b *breaker) {
			a.Notify(context.Background(), b.fire(t, events.Probe))
		}},
		{"breaker left open and opened again", func(t *testing.T, a *hooks.Alerter, b *breaker) {
			a.Notify(context.Background(), b.fire(t, events.Probe))
			a.Notify(context.Background(), b.fire(t, events.Retrip))
		}},
		{"breaker left open and was forgotten", func(t *testing.T, a *hooks.Alerter, b *breaker) {
			a.Notify(context.Background(), b.fire(t, events.ForceClose))
		}},
		{"Alerter closed", func(t *testing.T, a *hooks.Alerter, b *breaker) { a.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &lateClock{Clock: clocktest.New(t0)}
			a, r := newAlerter(t, hooks.WithStuckOpen(time.Minute), hooks.WithAlertClock(clk))
			b := &breaker{name: "b"}
			a.Notify(context.Background(), b.fire(t, events.Trip))
			tt.after(t, a, b)
			clk.fns[0]() // the first period's timer, started before it was stopped
			if got := r.list(); len(got) != 0 {
				t.Errorf("alerts = %+v, want none", got)
			}
		})
	}
}

// A breaker that adopts another writer's history delivers a record of a seq
// it delivered before: the opening of the replaced record did not happen,
// and does not count toward flapping.
func TestAlertReplacedOpeningIsNotCountedTwice(t *testing.T) {
	clk := clocktest.New(t0)
	a, got := newAlerter(t, hooks.WithFlapping(1, time.Hour), hooks.WithAlertClock(clk))
	ctx := context.Background()
	trip := events.Transition{Breaker: "svc", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open, Time: t0, OpenFor: time.Minute}
	a.Notify(ctx, trip) // the breaker's own trip
	replaced := trip
	replaced.Adopted, replaced.Writer = true, "replica-2"
	a.Notify(ctx, replaced) // another writer's trip of the same seq replaces it
	if n := len(got.list()); n != 0 {
		t.Fatalf("alerts %v: one opening, replaced, is not flapping", got.list())
	}
	a.Notify(ctx, events.Transition{Breaker: "svc", Seq: 2, Event: events.ForceClose, From: events.Open, To: events.Closed, Time: t0})
	a.Notify(ctx, events.Transition{Breaker: "svc", Seq: 3, Event: events.Trip, From: events.Closed, To: events.Open, Time: t0, OpenFor: time.Minute})
	if n := len(got.list()); n != 1 {
		t.Fatalf("alerts %v, want one for the second opening", got.list())
	}
}
