package hooks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/circuitry-go/circuitry/clock"

	"github.com/circuitry-go/circuitry/events"
)

// AlertKind says which rule of an [Alerter] fired.
type AlertKind uint8

const (
	// AlertFlapping: a breaker opened more than [AlertConfig.MaxOpens] times
	// within [AlertConfig.Window].
	AlertFlapping AlertKind = iota + 1
	// AlertStuckOpen: a breaker stayed open longer than
	// [AlertConfig.MaxOpenDuration].
	AlertStuckOpen
)

var alertKindNames = [...]string{AlertFlapping: "flapping", AlertStuckOpen: "stuck_open"}

// String returns "flapping" or "stuck_open".
func (k AlertKind) String() string {
	if k.valid() {
		return alertKindNames[k]
	}
	return fmt.Sprintf("AlertKind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name. It fails for an undeclared kind.
func (k AlertKind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("circuitry: invalid alert kind %d", uint8(k))
	}
	return []byte(alertKindNames[k]), nil
}

func (k AlertKind) valid() bool { return k != 0 && int(k) < len(alertKindNames) }

// Alert is what an [Alerter] reports to [AlertConfig.OnAlert].
type Alert struct {
	// Kind is the rule that fired.
	Kind AlertKind
	// Breaker is the name of the breaker the alert is about.
	Breaker string
	// Opens is, for [AlertFlapping], the number of times the breaker opened
	// within Window, counting the opening that fired the alert: always
	// MaxOpens+1, since the alert fires as the count crosses MaxOpens. It is
	// 0 for [AlertStuckOpen].
	Opens int
	// Window is [AlertConfig.Window] for [AlertFlapping], 0 for
	// [AlertStuckOpen].
	Window time.Duration
	// OpenSince is when the breaker opened, read from the alerter's clock
	// when it saw the transition to open: for [AlertFlapping] the opening
	// that fired the alert, for [AlertStuckOpen] the start of the open period
	// that lasted too long.
	OpenSince time.Time
	// Transition is the transition to open that fired a flapping alert, or
	// that started the open period of a stuck-open alert.
	Transition events.Transition
}

// AlertConfig configures [NewAlerter]. At least one of the two rules must be
// set: flapping (MaxOpens and Window, both positive) or stuck open
// (MaxOpenDuration positive); a rule whose fields are all zero is off.
type AlertConfig struct {
	// MaxOpens is how many times a breaker may open within Window without an
	// alert: the opening that makes it MaxOpens+1 fires [AlertFlapping].
	MaxOpens int
	// Window is the length of the sliding window of the flapping rule.
	Window time.Duration
	// MaxOpenDuration is how long a breaker may stay open: when it has been
	// open this long without a transition out of open, [AlertStuckOpen]
	// fires.
	MaxOpenDuration time.Duration
	// Clock measures the window and times the stuck-open rule. Nil means
	// [SystemClock].
	Clock clock.Clock
	// OnAlert is called for each alert. It is required.
	OnAlert func(ctx context.Context, a Alert)
}

// validate returns an error naming the first field that is wrong.
func (c AlertConfig) validate() error {
	bad := func(field, value, reason string) error {
		return &events.OptionError{Option: "hooks.AlertConfig." + field, Value: value, Reason: reason}
	}
	switch {
	case c.MaxOpens < 0:
		return bad("MaxOpens", fmt.Sprint(c.MaxOpens), "must not be negative")
	case c.Window < 0:
		return bad("Window", c.Window.String(), "must not be negative")
	case c.MaxOpenDuration < 0:
		return bad("MaxOpenDuration", c.MaxOpenDuration.String(), "must not be negative")
	case c.MaxOpens > 0 && c.Window == 0:
		return bad("Window", c.Window.String(), fmt.Sprintf("must be positive when MaxOpens is %d", c.MaxOpens))
	case c.MaxOpens == 0 && c.Window > 0:
		return bad("MaxOpens", fmt.Sprint(c.MaxOpens), fmt.Sprintf("must be positive when Window is %s", c.Window))
	case c.MaxOpens == 0 && c.MaxOpenDuration == 0:
		return bad("MaxOpens", "0", "no rule set: set MaxOpens and Window, or MaxOpenDuration, or both")
	case c.OnAlert == nil:
		return bad("OnAlert", "nil", "must be a function")
	}
	return nil
}

// Alerter is a subscriber that calls [AlertConfig.OnAlert] when a breaker
// flaps or stays open too long. One Alerter may be shared by many breakers:
// it keeps its figures per breaker name. It is safe for concurrent use.
//
// # Flapping
//
// At each transition to open, the Alerter reads its clock's Now (when Notify
// runs, not the transition's recorded Time, so that a test clock drives it)
// and counts the transitions to open of that breaker within the window
// (Now-Window, Now], this one included. It fires [AlertFlapping] when that
// count goes from MaxOpens to MaxOpens+1: once per crossing. The rule re-arms
// when the count falls back to MaxOpens or fewer, that is when earlier
// openings leave the window; a breaker that keeps opening while the count
// stays above MaxOpens does not fire again.
//
// # Memory
//
// To decide this the Alerter keeps, per breaker, at most the last MaxOpens+1
// opening times that are within the window, and the transition that started
// the current open period. At each transition out of open it forgets a
// breaker that has no opening left within the window, so it holds an entry
// only for breakers that are open or have opened recently (until their next
// transition).
//
// # Stuck open
//
// Each transition to open starts a timer of MaxOpenDuration on the clock, and
// any other transition of that breaker stops it; a later transition to open
// starts a new one. When the timer fires, the Alerter fires [AlertStuckOpen]
// once for that open period. OnAlert is then called on the timer's goroutine
// (for a fake clock, the goroutine advancing it) with [context.Background],
// since no call caused it.
//
// # Callbacks and locks
//
// A flapping alert is reported on the goroutine that called Notify, with
// Notify's context, after the transition was recorded. OnAlert is never
// called with the Alerter's lock held, so it may call Notify; it must not
// call [Alerter.Close], which waits for OnAlert calls to return. The Alerter
// calls its clock's Now, AfterFunc and Timer.Stop while holding its lock, so
// a Clock must not run a timer function inside AfterFunc or Stop.
//
// The Alerter runs on the [LaneQueued] lane, because OnAlert may page someone
// or call a remote service.
type Alerter struct {
	cfg   AlertConfig
	clock clock.Clock

	mu       sync.Mutex
	closed   bool
	periods  uint64 // open periods started so far, to tell stale timers apart
	breakers map[string]*watch
	calls    sync.WaitGroup // OnAlert calls in progress, for Close
}

// watch is what an Alerter keeps about one breaker.
type watch struct {
	opens     []time.Time // the last MaxOpens+1 opening times at most, oldest first
	openSince time.Time   // start of the current open period
	openedBy  events.Transition
	period    uint64      // the current open period, for the stuck-open timer
	timer     clock.Timer // the stuck-open timer, while it may still fire
	open      bool
}

var _ Laned = (*Alerter)(nil)

// NewAlerter returns an [Alerter] for cfg, or an error naming the field of
// cfg that is invalid and its value: a negative figure, only one of MaxOpens
// and Window set, neither rule set, or a nil OnAlert.
//
// Call [Alerter.Close] when done with it to stop its pending timers.
func NewAlerter(cfg AlertConfig) (*Alerter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Alerter{cfg: cfg, clock: cfg.Clock, breakers: make(map[string]*watch)}
	if a.clock == nil {
		a.clock = clock.System()
	}
	return a, nil
}

// Lane returns LaneQueued.
func (a *Alerter) Lane() Lane { return LaneQueued }

// Notify records t and, if it makes the breaker flap, calls OnAlert with ctx
// before it returns. After [Alerter.Close] it does nothing.
func (a *Alerter) Notify(ctx context.Context, t events.Transition) {
	alert, fire := a.observe(t)
	if !fire {
		return
	}
	defer a.calls.Done()
	a.cfg.OnAlert(ctx, alert)
}

// observe updates the breaker's watch and reports a flapping alert to fire.
// When it reports one, it has added it to a.calls.
func (a *Alerter) observe(t events.Transition) (Alert, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return Alert{}, false
	}
	now := a.clock.Now()
	w := a.breakers[t.Breaker]
	if w == nil {
		w = &watch{}
		a.breakers[t.Breaker] = w
	}
	// Any transition ends the open period that was being timed: either the
	// breaker left open, or (if a transition was missed) a new one starts.
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.opens = a.inWindow(w.opens, now)
	if t.To != events.Open {
		if len(w.opens) == 0 {
			delete(a.breakers, t.Breaker)
		}
		return Alert{}, false
	}

	w.openSince, w.openedBy = now, t
	if a.cfg.MaxOpenDuration > 0 {
		a.periods++
		period := a.periods
		w.period = period
		name := t.Breaker
		w.timer = a.clock.AfterFunc(a.cfg.MaxOpenDuration, func() { a.stuck(name, period) })
	}
	if a.cfg.MaxOpens == 0 {
		return Alert{}, false
	}
	before := len(w.opens)
	w.opens = append(w.opens, now)
	if len(w.opens) > a.cfg.MaxOpens+1 {
		w.opens = append(w.opens[:0], w.opens[len(w.opens)-(a.cfg.MaxOpens+1):]...)
	}
	if before != a.cfg.MaxOpens {
		return Alert{}, false
	}
	a.calls.Add(1)
	return Alert{
		Kind:       AlertFlapping,
		Breaker:    t.Breaker,
		Opens:      len(w.opens),
		Window:     a.cfg.Window,
		OpenSince:  now,
		Transition: t,
	}, true
}

// inWindow drops from opens the times that are not within (now-Window, now].
func (a *Alerter) inWindow(opens []time.Time, now time.Time) []time.Time {
	if a.cfg.MaxOpens == 0 {
		return opens[:0]
	}
	kept := opens[:0]
	for _, at := range opens {
		if age := now.Sub(at); age >= 0 && age < a.cfg.Window {
			kept = append(kept, at)
		}
	}
	return kept
}

// stuck is the stuck-open timer of the given open period of a breaker.
func (a *Alerter) stuck(name string, period uint64) {
	a.mu.Lock()
	w := a.breakers[name]
	if a.closed || w == nil || w.timer == nil || w.period != period {
		// Closed, or the period ended while this call was on its way.
		a.mu.Unlock()
		return
	}
	w.timer = nil
	alert := Alert{
		Kind:       AlertStuckOpen,
		Breaker:    name,
		OpenSince:  w.openSince,
		Transition: w.openedBy,
	}
	a.calls.Add(1)
	a.mu.Unlock()
	defer a.calls.Done()
	a.cfg.OnAlert(context.Background(), alert)
}

// Close stops the Alerter's pending timers, forgets every breaker, and waits
// for OnAlert calls in progress to return; after it returns, OnAlert is not
// called again and Notify does nothing. It must not be called from OnAlert.
// Calling it more than once is harmless.
func (a *Alerter) Close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		for _, w := range a.breakers {
			if w.timer != nil {
				w.timer.Stop()
				w.timer = nil
			}
		}
		a.breakers = nil
	}
	a.mu.Unlock()
	a.calls.Wait()
}
