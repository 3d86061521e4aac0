package registry

import (
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// The defaults, all in one place. Each applies when its option is not given.
//
//	option               default
//	WithBreakerOptions   none: every breaker has machine's defaults, its own in-memory journal included
//	WithName             the key itself is the breaker's name
//	WithMaxKeys          DefaultMaxKeys (10000) breakers at once
//	WithIdleTimeout      DefaultIdleTimeout (10m): a quiet breaker unused that long is closed and forgotten
//	WithClock            clock.System(): the clock of the sweeper
//	WithErrorHandler     log through slog.Default at level Error
//
// The sweeper closes the breakers it evicts within [EvictCloseTimeout]
// (5s) for each sweep. Creating a breaker loads its journal within the
// breaker's own machine.WithJournalTimeout.
const (
	// DefaultMaxKeys is how many breakers a registry holds at once when
	// not given [WithMaxKeys].
	DefaultMaxKeys = 10000
	// DefaultIdleTimeout is how long a quiet breaker stays unused before
	// it is closed and forgotten, when [WithIdleTimeout] is not given.
	DefaultIdleTimeout = 10 * time.Minute
	// EvictCloseTimeout bounds the Close of the breakers one sweep
	// evicts: their journal writers and queued subscribers get that long
	// to finish, together.
	EvictCloseTimeout = 5 * time.Second
)

// Option configures a [Registry]. Options are applied in order, after the
// defaults; an invalid value makes [New] return an [*events.OptionError].
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	breaker []machine.Option
	name    func(key string) string // nil: the key
	maxKeys int
	idle    time.Duration // 0: never evict
	clock   clock.Clock
	onError func(error) // nil: slog
}

func defaults() config {
	return config{maxKeys: DefaultMaxKeys, idle: DefaultIdleTimeout, clock: clock.System()}
}

// WithBreakerOptions sets the options every breaker of the registry is
// made with, by [machine.New]: given more than once, they add up, in
// order. One set of options for every key means one set of subscribers,
// one journal and one OpenTelemetry bridge for them all: a subscriber that
// observes breakers ([machine.BreakerObserver], such as the otelbridge
// Bridge) observes each breaker the registry makes, from its making to its
// eviction, with no step of yours. Give a shared journal
// (machine.WithJournal) so that a breaker evicted and made again resumes
// from its history; without one each breaker has a journal of its own,
// forgotten with it. An invalid option is reported by the first [Registry.Get]
// that makes a breaker, as machine.New's error.
func WithBreakerOptions(opts ...machine.Option) Option {
	return optionFunc(func(c *config) error {
		for i, o := range opts {
			if o == nil {
				return &events.OptionError{Option: "registry.WithBreakerOptions", Value: fmt.Sprintf("option %d = nil", i), Reason: "must not be nil"}
			}
		}
		c.breaker = append(c.breaker, opts...)
		return nil
	})
}

// WithName sets how a key names its breaker: the name is f(key), which
// must pass [events.CheckName] (a key whose name does not is refused with a
// [*KeyError]). Distinct keys must give distinct names: two breakers of one
// name over one journal would contend for its records. f runs when a key's
// breaker is made, not on every call. Default: the key itself.
func WithName(f func(key string) string) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "registry.WithName", Value: "nil", Reason: "must be a function"}
		}
		c.name = f
		return nil
	})
}

// WithMaxKeys bounds how many breakers the registry holds at once. When it
// is full, making another one first evicts the quiet breakers that have
// not been used since the last sweep (see [WithIdleTimeout]); if there is
// none, [Registry.Get] returns a [*FullError] (matching [ErrFull]) rather
// than growing. n must be at least 1. Default [DefaultMaxKeys].
func WithMaxKeys(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return &events.OptionError{Option: "registry.WithMaxKeys", Value: fmt.Sprint(n), Reason: "must be at least 1"}
		}
		c.maxKeys = n
		return nil
	})
}

// WithIdleTimeout sets how long a breaker may go unused before the
// registry closes it ([machine.Breaker.Close]) and forgets it; its key's
// next use makes a new one, which resumes from the journal when the
// breakers share one. A sweeper, armed on the registry's clock every d,
// evicts the breakers not used since the sweep before, so a breaker goes
// between d and 2d after its last use: only if it is quiet
// ([machine.Breaker.Quiet]), that is closed with no failure counted and
// everything stored. An open or half-open breaker stays (evicting it would
// skip its open period), and so does a closed one with failures (evicting
// it would let the next calls start counting afresh), until a later sweep
// finds it quiet. d must be positive, or 0 to keep every breaker until
// [Registry.Close] or [Registry.Remove]. Default [DefaultIdleTimeout].
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return &events.OptionError{Option: "registry.WithIdleTimeout", Value: d.String(), Reason: "must be positive, or 0 for no eviction"}
		}
		c.idle = d
		return nil
	})
}

// WithClock sets the clock that drives the sweeper; tests pass a fake such
// as clocktest.Clock and advance it. It is the registry's own: give the
// breakers theirs with machine.WithClock in [WithBreakerOptions]. Default
// clock.System().
func WithClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) error {
		if clk == nil {
			return &events.OptionError{Option: "registry.WithClock", Value: "nil", Reason: "must be a clock"}
		}
		c.clock = clk
		return nil
	})
}

// WithErrorHandler sets the function that receives what the registry
// cannot return to a caller: the errors of closing the breakers it evicts
// (such as a *machine.UnstoredError, or a deadline when their queued
// subscribers did not finish within [EvictCloseTimeout]). Default: log
// through slog.Default at level Error.
func WithErrorHandler(f func(error)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "registry.WithErrorHandler", Value: "nil", Reason: "must be a function"}
		}
		c.onError = f
		return nil
	})
}
