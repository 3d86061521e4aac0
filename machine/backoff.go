package machine

import (
	"fmt"
	"math"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// backoff grows the open period with each consecutive open; zero: none.
type backoff struct {
	base   time.Duration
	factor float64
	max    time.Duration
}

// jitter spreads the open periods; zero: none.
type jitter struct {
	fraction float64
	source   func() float64
}

// WithBackoff makes the open period grow while the breaker keeps
// re-opening: the k-th open since the breaker was last closed (k =
// [events.Snapshot.Opens] after it) lasts min(base × factor^(k-1), max).
// The first trip opens for base, each retrip multiplies by factor, and
// recovering (closing) starts again at base. It applies to trip, retrip
// and force_open without an Override.OpenFor.
//
// The period chosen is recorded in the record's OpenFor, so a replay of the
// journal reproduces it, and since Opens is part of the fold, a breaker
// resumed from its journal continues the same sequence. base must be
// positive, factor at least 1 and max at least base. It replaces
// [WithRecoveryTimeout]: giving both is an error. Default none: every open
// period is the recovery timeout.
func WithBackoff(base time.Duration, factor float64, max time.Duration) Option {
	return optionFunc(func(c *config) error {
		v := fmt.Sprintf("%s, %v, %s", base, factor, max)
		switch {
		case base <= 0:
			return &events.OptionError{Option: "WithBackoff", Value: v, Reason: "base must be positive"}
		case !(factor >= 1) || math.IsInf(factor, 1):
			return &events.OptionError{Option: "WithBackoff", Value: v, Reason: "factor must be at least 1 and finite"}
		case max < base:
			return &events.OptionError{Option: "WithBackoff", Value: v, Reason: "max must be at least base"}
		}
		c.backoff = backoff{base: base, factor: factor, max: max}
		return nil
	})
}

// WithJitter spreads each open period the breaker chooses (the recovery
// timeout, or the backoff's) over ± fraction of it, so that the breakers of
// many instances do not probe at the same moment: a period d becomes
// d × (1 + fraction × (2u - 1)), where u is a value of source in [0, 1]
// (values outside are clamped; NaN counts as 0). source is called once per
// open period chosen, under the transition lock; pass math/rand/v2's
// Float64, or a fixed sequence in tests. A source that panics is reported to
// the error handler, and that open period is left unjittered. The period is recorded jittered,
// so a replay reproduces it. An operator's Override.OpenFor is kept
// exactly. fraction must be above 0 and below 1; source must not be nil.
// Default none.
func WithJitter(fraction float64, source func() float64) Option {
	return optionFunc(func(c *config) error {
		if !(fraction > 0 && fraction < 1) {
			return &events.OptionError{Option: "WithJitter", Value: fmt.Sprintf("fraction=%v", fraction), Reason: "must be above 0 and below 1"}
		}
		if source == nil {
			return &events.OptionError{Option: "WithJitter", Value: "source=nil", Reason: "must be a function, such as math/rand/v2.Float64"}
		}
		c.jitter = jitter{fraction: fraction, source: source}
		return nil
	})
}

// openPeriodLocked chooses the open period of a transition to open that
// names none, from the breaker's fold (under b.mu).
func (b *Breaker) openPeriodLocked() time.Duration {
	d := b.cfg.recoveryTimeout
	if bo := b.cfg.backoff; bo.base > 0 {
		d = bo.period(b.fold.Opens + 1)
	}
	if j := b.cfg.jitter; j.source != nil {
		jd, err := j.apply(d)
		if err != nil {
			b.toReport = append(b.toReport, fmt.Errorf("circuitry: breaker %q: %w; the open period is %s, unjittered", b.name, err, d))
			return d
		}
		d = jd
	}
	return d
}

// period is the open period of the k-th consecutive open, k >= 1.
func (bo backoff) period(k uint32) time.Duration {
	d := float64(bo.base) * math.Pow(bo.factor, float64(k-1))
	if !(d < float64(bo.max)) { // +Inf too
		return bo.max
	}
	return time.Duration(d)
}

// apply returns d jittered, or an error when the source panics.
func (j jitter) apply(d time.Duration) (_ time.Duration, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the WithJitter source panicked: %v", v)
		}
	}()
	u := j.source()
	if !(u >= 0) { // NaN too
		u = 0
	}
	u = min(u, 1)
	f := float64(d) * (1 + j.fraction*(2*u-1))
	if f >= math.MaxInt64 {
		return math.MaxInt64, nil
	}
	return max(time.Duration(f), 1), nil
}
