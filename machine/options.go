package machine

import (
	"errors"
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
)

// The defaults, all in one place. Each applies when its option is not given.
//
//	option                  default
//	WithFailureThreshold    5 consecutive failures trip a closed breaker
//	WithRecoveryTimeout     30s open before a probe is admitted
//	WithSuccessThreshold    2 probe successes close a half-open breaker
//	WithProbeLimit          the success threshold: concurrent probes in half-open
//	WithClassifier          DefaultClassifier: nil success, caller's cancellation ignored, else failure
//	WithClock               hooks.SystemClock()
//	WithJournal             a new events.Memory of events.DefaultMemoryCapacity records
//	WithSubscribers         none
//	WithQueueCapacity       hooks.DefaultQueueCapacity transitions for queued subscribers
//	WithErrorHandler        log through slog.Default at level Error
const (
	DefaultFailureThreshold = 5
	DefaultRecoveryTimeout  = 30 * time.Second
	DefaultSuccessThreshold = 2
)

// maxThreshold bounds the thresholds so that counts fit the packed atomic
// words of the hot path.
const maxThreshold = 1<<31 - 1

// Option configures a [Breaker]. Options are applied in order, after the
// defaults; an invalid value makes [New] return an [*OptionError].
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	failureThreshold int
	recoveryTimeout  time.Duration
	successThreshold int
	probeLimit       int // 0: the success threshold
	classifier       Classifier
	clock            hooks.Clock
	journal          events.Journal
	subscribers      []hooks.Subscriber
	queueCapacity    int
	onError          func(error)
}

func defaults() config {
	return config{
		failureThreshold: DefaultFailureThreshold,
		recoveryTimeout:  DefaultRecoveryTimeout,
		successThreshold: DefaultSuccessThreshold,
		clock:            hooks.SystemClock(),
	}
}

// ErrInvalidOption is matched by every [*OptionError].
var ErrInvalidOption = errors.New("circuitry: invalid option")

// OptionError reports an option given an invalid value.
type OptionError struct {
	// Option is the option's name, such as "WithFailureThreshold".
	Option string
	// Value is the value given, formatted.
	Value string
	// Reason says what the value must be.
	Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("circuitry: %s(%s): %s", e.Option, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidOption) true.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }

func threshold(option string, n int) error {
	if n < 1 || n > maxThreshold {
		return &OptionError{Option: option, Value: fmt.Sprint(n), Reason: fmt.Sprintf("must be between 1 and %d", maxThreshold)}
	}
	return nil
}

// WithFailureThreshold sets how many consecutive failures trip a closed
// breaker. A success resets the count. Default 5.
func WithFailureThreshold(n int) Option {
	return optionFunc(func(c *config) error {
		if err := threshold("WithFailureThreshold", n); err != nil {
			return err
		}
		c.failureThreshold = n
		return nil
	})
}

// WithRecoveryTimeout sets how long a breaker stays open before it admits a
// probe. Default 30s.
func WithRecoveryTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return &OptionError{Option: "WithRecoveryTimeout", Value: d.String(), Reason: "must be positive"}
		}
		c.recoveryTimeout = d
		return nil
	})
}

// WithSuccessThreshold sets how many probe successes close a half-open
// breaker. Default 2.
func WithSuccessThreshold(n int) Option {
	return optionFunc(func(c *config) error {
		if err := threshold("WithSuccessThreshold", n); err != nil {
			return err
		}
		c.successThreshold = n
		return nil
	})
}

// WithProbeLimit sets how many probes a half-open breaker lets run at once;
// further calls are rejected as if open. Default: the success threshold.
func WithProbeLimit(n int) Option {
	return optionFunc(func(c *config) error {
		if err := threshold("WithProbeLimit", n); err != nil {
			return err
		}
		c.probeLimit = n
		return nil
	})
}

// WithClassifier sets the function that decides whether a call's error is a
// success, a failure or neither. It runs on the call path for every call and
// must be quick. Default [DefaultClassifier].
func WithClassifier(f Classifier) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &OptionError{Option: "WithClassifier", Value: "nil", Reason: "must be a function"}
		}
		c.classifier = f
		return nil
	})
}

// WithClock sets the source of time; tests pass a fake such as
// clocktest.Clock. Default hooks.SystemClock().
func WithClock(clk hooks.Clock) Option {
	return optionFunc(func(c *config) error {
		if clk == nil {
			return &OptionError{Option: "WithClock", Value: "nil", Reason: "must be a clock"}
		}
		c.clock = clk
		return nil
	})
}

// WithJournal sets the journal the breaker appends its transitions to and
// resumes from. Default: a new bounded [events.Memory].
func WithJournal(j events.Journal) Option {
	return optionFunc(func(c *config) error {
		if j == nil {
			return &OptionError{Option: "WithJournal", Value: "nil", Reason: "must be a journal"}
		}
		c.journal = j
		return nil
	})
}

// WithSubscribers adds subscribers, which receive every transition in order
// on the lane each asks for (see package hooks). It may be given more than
// once; subscribers are kept in the order given.
func WithSubscribers(subs ...hooks.Subscriber) Option {
	return optionFunc(func(c *config) error {
		for i, s := range subs {
			if s == nil {
				return &OptionError{Option: "WithSubscribers", Value: fmt.Sprintf("subscriber %d = nil", i), Reason: "must not be nil"}
			}
		}
		c.subscribers = append(c.subscribers, subs...)
		return nil
	})
}

// WithQueueCapacity sets how many transitions may wait for the queued
// subscribers before further ones are dropped for them (counted and
// reported). Default [hooks.DefaultQueueCapacity].
func WithQueueCapacity(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return &OptionError{Option: "WithQueueCapacity", Value: fmt.Sprint(n), Reason: "must be at least 1"}
		}
		c.queueCapacity = n
		return nil
	})
}

// WithErrorHandler sets the function that receives what the breaker cannot
// return to a caller: journal append failures ([*JournalError]), subscriber
// panics and queue overflows (see package hooks), and internal faults. It is
// never called under the transition lock. Default: log through
// slog.Default at level Error.
func WithErrorHandler(f func(error)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &OptionError{Option: "WithErrorHandler", Value: "nil", Reason: "must be a function"}
		}
		c.onError = f
		return nil
	})
}
