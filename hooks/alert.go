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
	// AlertFlapping: a breaker opened more than maxOpens times within the
	// window, the two given to [WithFlapping].
	AlertFlapping AlertKind = iota + 1
	// AlertStuckOpen: a breaker stayed open longer than the duration given
	// to [WithStuckOpen].
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

// Alert is what an [Alerter] reports to the onAlert function given to
// [NewAlerter].
type Alert struct {
	// Kind is the rule that fired.
	Kind AlertKind
	// Breaker is the name of the breaker the alert is about.
	Breaker string
	// Opens is, for [AlertFlapping], the number of times the breaker opened
	// within Window, counting the opening that fired the alert: always
	// maxOpens+1 (of [WithFlapping]), since the alert fires as the count
	// crosses maxOpens. It is 0 for [AlertStuckOpen].
	Opens int
	// Window is the window given to [WithFlapping] for [AlertFlapping], 0
	// for [AlertStuckOpen].
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

// AlertOption configures [NewAlerter]. Options are applied in order, after
// the defaults; an invalid value makes NewAlerter return an
// [*events.OptionError] naming the option and the value.
//
// The defaults, all in one place. Each applies when its option is not
// given; at least one of the two rules must be given.
//
//	option            default
//	WithFlapping      off: no flapping rule
//	WithStuckOpen     off: no stuck-open rule
//	WithAlertClock    clock.System()
type AlertOption interface {
	applyAlert(*alertConfig) error
}

type alertOptionFunc func(*alertConfig) error

func (f alertOptionFunc) applyAlert(c *alertConfig) error { return f(c) }

type alertConfig struct {
	maxOpens        int           // 0: no flapping rule
	window          time.Duration // the flapping rule's window
	maxOpenDuration time.Duration // 0: no stuck-open rule
	clock           clock.Clock
	onAlert         func(ctx context.Context, a Alert)
}

func alertDefaults() alertConfig {
	return alertConfig{clock: clock.System()}
}

// WithFlapping sets the flapping rule: a breaker may open maxOpens times
// within a sliding window of the given length without an alert; the opening
// that makes it maxOpens+1 fires [AlertFlapping]. Both must be positive.
// Default off. Given twice, the last one counts.
func WithFlapping(maxOpens int, window time.Duration) AlertOption {
	return alertOptionFunc(func(c *alertConfig) error {
		var reason string
		switch {
		case maxOpens <= 0 && window <= 0:
			reason = "maxOpens and window must be positive"
		case maxOpens <= 0:
			reason = "maxOpens must be positive"
		case window <= 0:
			reason = "window must be positive"
		}
		if reason != "" {
			return &events.OptionError{Option: "hooks.WithFlapping", Value: fmt.Sprintf("%d, %s", maxOpens, window), Reason: reason}
		}
		c.maxOpens, c.window = maxOpens, window
		return nil
	})
}

// WithStuckOpen sets the stuck-open rule: when a breaker has been open for
// d without a transition out of open, [AlertStuckOpen] fires. d must be
// positive. Default off. Given twice, the last one counts.
func WithStuckOpen(d time.Duration) AlertOption {
	return alertOptionFunc(func(c *alertConfig) error {
		if d <= 0 {
			return &events.OptionError{Option: "hooks.WithStuckOpen", Value: d.String(), Reason: "must be positive"}
		}
		c.maxOpenDuration = d
		return nil
	})
}

// WithAlertClock sets the clock that measures the flapping window and times
// the stuck-open rule; tests pass a fake such as clocktest.Clock. Default
// clock.System().
func WithAlertClock(c clock.Clock) AlertOption {
	return alertOptionFunc(func(cfg *alertConfig) error {
		if c == nil {
			return &events.OptionError{Option: "hooks.WithAlertClock", Value: "nil", Reason: "must be a clock"}
		}
		cfg.clock = c
		return nil
	})
}

// Alerter is a subscriber that calls the onAlert function given to
// [NewAlerter] when a breaker flaps ([WithFlapping]) or stays open too long
// ([WithStuckOpen]). One Alerter may be shared by many breakers: it keeps
// its figures per breaker name. It is safe for concurrent use.
//
// # Flapping
//
// At each transition to open, the Alerter reads its clock's Now (when Notify
// runs, not the transition's recorded Time, so that a test clock drives it)
// and counts the transitions to open of that breaker within the window
// (Now-window, Now], this one included, where maxOpens and window are those
// given to [WithFlapping]. It fires [AlertFlapping] when that count goes
// from maxOpens to maxOpens+1: once per crossing. The rule re-arms when the
// count falls back to maxOpens or fewer, that is when earlier openings leave
// the window; a breaker that keeps opening while the count stays above
// maxOpens does not fire again.
//
// # Memory
//
// To decide this the Alerter keeps, per breaker, at most the last maxOpens+1
// opening times that are within the window, and the transition that started
// the current open period. At each transition out of open it forgets a
// breaker that has no opening left within the window, so it holds an entry
// only for breakers that are open or have opened recently (until their next
// transition).
//
// # Stuck open
//
// Each transition to open starts a timer on the clock, of the duration given
// to [WithStuckOpen], and any other transition of that breaker stops it; a
// later transition to open starts a new one. When the timer fires, the Alerter fires [AlertStuckOpen]
// once for that open period. onAlert is then called on the timer's goroutine
// (for a fake clock, the goroutine advancing it) with [context.Background],
// since no call caused it.
//
// # Callbacks and locks
//
// A flapping alert is reported on the goroutine that called Notify, with
// Notify's context, after the transition was recorded. onAlert is never
// called with the Alerter's lock held, so it may call Notify; it must not
// call [Alerter.Close], which waits for onAlert calls to return. The Alerter
// calls its clock's Now, AfterFunc and Timer.Stop while holding its lock, so
// a Clock must not run a timer function inside AfterFunc or Stop.
//
// The Alerter runs on the [LaneQueued] lane, because onAlert may page someone
// or call a remote service.
type Alerter struct {
	cfg alertConfig

	mu       sync.Mutex
	closed   bool
	periods  uint64 // open periods started so far, to tell stale timers apart
	breakers map[string]*watch
	calls    sync.WaitGroup // onAlert calls in progress, for Close
}

// watch is what an Alerter keeps about one breaker.
type watch struct {
	opens     []time.Time // the last maxOpens+1 opening times at most, oldest first
	openSince time.Time   // start of the current open period
	openedBy  events.Transition
	period    uint64      // the current open period, for the stuck-open timer
	timer     clock.Timer // the stuck-open timer, while it may still fire
	lastSeq   uint64      // the last record's seq
	openSeq   uint64      // the seq of the last opening counted
}

var _ Laned = (*Alerter)(nil)

// NewAlerter returns an [Alerter] that calls onAlert for each alert, with
// the rules given by opts: [WithFlapping], [WithStuckOpen] or both. It
// returns an [*events.OptionError] for a nil onAlert, a nil or invalid
// option, or when neither rule is given.
//
// Call [Alerter.Close] when done with it to stop its pending timers.
func NewAlerter(onAlert func(ctx context.Context, a Alert), opts ...AlertOption) (*Alerter, error) {
	if onAlert == nil {
		return nil, &events.OptionError{Option: "hooks.NewAlerter", Value: "onAlert=nil", Reason: "must be a function"}
	}
	cfg := alertDefaults()
	for i, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: fmt.Sprintf("hooks.NewAlerter option %d", i), Value: "nil", Reason: "must not be nil"}
		}
		if err := o.applyAlert(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.maxOpens == 0 && cfg.maxOpenDuration == 0 {
		return nil, &events.OptionError{Option: "hooks.NewAlerter", Value: "no rule", Reason: "give WithFlapping, WithStuckOpen or both"}
	}
	cfg.onAlert = onAlert
	return &Alerter{cfg: cfg, breakers: make(map[string]*watch)}, nil
}

// Lane returns LaneQueued.
func (a *Alerter) Lane() Lane { return LaneQueued }

// Notify records t and, if it makes the breaker flap, calls onAlert with ctx
// before it returns. After [Alerter.Close] it does nothing.
func (a *Alerter) Notify(ctx context.Context, t events.Transition) {
	alert, fire := a.observe(t)
	if !fire {
		return
	}
	defer a.calls.Done()
	a.cfg.onAlert(ctx, alert)
}

// observe updates the breaker's watch and reports a flapping alert to fire.
// When it reports one, it has added it to a.calls.
func (a *Alerter) observe(t events.Transition) (Alert, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return Alert{}, false
	}
	now := a.cfg.clock.Now()
	w := a.breakers[t.Breaker]
	if w == nil {
		w = &watch{}
		a.breakers[t.Breaker] = w
	}
	if t.Adopted && t.Seq <= w.lastSeq && w.openSeq >= t.Seq && len(w.opens) > 0 {
		// t replaces a record seen before (the breaker adopted another
		// writer's history): the opening counted for it did not happen.
		w.opens = w.opens[:len(w.opens)-1]
		w.openSeq = 0
	}
	w.lastSeq = t.Seq
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
	if a.cfg.maxOpenDuration > 0 {
		a.periods++
		period := a.periods
		w.period = period
		name := t.Breaker
		w.timer = a.cfg.clock.AfterFunc(a.cfg.maxOpenDuration, func() { a.stuck(name, period) })
	}
	if a.cfg.maxOpens == 0 {
		return Alert{}, false
	}
	before := len(w.opens)
	w.opens = append(w.opens, now)
	w.openSeq = t.Seq
	if len(w.opens)-1 > a.cfg.maxOpens { // not maxOpens+1, which may overflow
		w.opens = append(w.opens[:0], w.opens[len(w.opens)-(a.cfg.maxOpens+1):]...)
	}
	if before != a.cfg.maxOpens {
		return Alert{}, false
	}
	a.calls.Add(1)
	return Alert{
		Kind:       AlertFlapping,
		Breaker:    t.Breaker,
		Opens:      len(w.opens),
		Window:     a.cfg.window,
		OpenSince:  now,
		Transition: t,
	}, true
}

// inWindow drops from opens the times that are not within (now-window, now].
func (a *Alerter) inWindow(opens []time.Time, now time.Time) []time.Time {
	if a.cfg.maxOpens == 0 {
		return opens[:0]
	}
	kept := opens[:0]
	for _, at := range opens {
		if age := now.Sub(at); age >= 0 && age < a.cfg.window {
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
	a.cfg.onAlert(context.Background(), alert)
}

// Close stops the Alerter's pending timers, forgets every breaker, and waits
// for onAlert calls in progress to return; after it returns, onAlert is not
// called again and Notify does nothing. It must not be called from onAlert.
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
