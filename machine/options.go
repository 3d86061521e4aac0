package machine

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/internal/dispatch"
)

// The defaults, all in one place. Each applies when its option is not given.
//
//	option                  default
//	WithTripPolicy          ConsecutiveFailures(5): 5 consecutive failures trip a closed breaker
//	WithFailureThreshold    5 (the shorthand for ConsecutiveFailures(n))
//	WithRecoveryTimeout     30s open before a probe is admitted
//	WithBackoff             none: every open period is the recovery timeout
//	WithJitter              none: open periods are exactly as chosen
//	WithSuccessThreshold    2 probe successes close a half-open breaker
//	WithProbeLimit          the success threshold: concurrent probes in half-open
//	WithHalfOpenTimeout     none: half-open lasts until its probes decide
//	WithProbeOnTimer        off: the first call after the open period fires probe
//	WithObserveOnly         off: the breaker enforces (rejects calls when open)
//	WithClassifier          DefaultClassifier: nil success, caller's cancellation ignored, else failure
//	WithClock               clock.System()
//	WithJournal             a new events.Memory of events.DefaultMemoryCapacity records
//	WithSubscribers         none
//	WithQueueCapacity       DefaultQueueCapacity (1024) transitions for queued subscribers
//	WithErrorHandler        log through slog.Default at level Error
//	WithWriter              the host name and process id, "host:pid"
//	WithJournalTimeout      DefaultJournalTimeout (5s) for each append, read and the load in New
//	WithFollow              off: other writers are met at the next append or Sync
//	WithProbeLease          none: each process admits up to its own probe limit in half-open
//	WithMaxRetryAfter       DefaultMaxRetryAfter (5m): the longest a failure's Result.RetryAfter opens for
//
// With the defaults a call in closed or open reads no clock and takes no
// lock; each policy or option that needs more says what it costs.
const (
	DefaultFailureThreshold = 5
	DefaultRecoveryTimeout  = 30 * time.Second
	DefaultSuccessThreshold = 2
	// DefaultQueueCapacity is how many transitions may wait for a
	// breaker's queued subscribers.
	DefaultQueueCapacity = dispatch.DefaultQueueCapacity
	// DefaultJournalTimeout bounds each journal append and read, and the
	// load of the journal in New.
	DefaultJournalTimeout = 5 * time.Second
	// DefaultMaxRetryAfter caps the open period a dependency may ask for
	// ([Result].RetryAfter).
	DefaultMaxRetryAfter = 5 * time.Minute
)

// maxThreshold bounds the thresholds so that counts fit the packed atomic
// words of the hot path.
const maxThreshold = 1<<31 - 1

// Option configures a [Breaker]. Options are applied in order, after the
// defaults; an invalid value makes [New] return an [*events.OptionError].
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	failureThreshold int          // 0: not given
	policies         []TripPolicy // none given: the default
	recoveryTimeout  time.Duration
	recoveryGiven    bool
	backoff          backoff
	jitter           jitter
	successThreshold int
	probeLimit       int           // 0: the success threshold
	halfOpenTimeout  time.Duration // 0: none
	probeOnTimer     bool
	observeOnly      bool
	classifier       Classifier
	clock            clock.Clock
	journal          events.Journal
	subscribers      []hooks.Subscriber
	queueCapacity    int
	onError          func(error)
	writer           string // "": DefaultWriter()
	journalTimeout   time.Duration
	follow           time.Duration // 0: WithFollow not given
	lease            ProbeLease    // nil: none
	maxRetryAfter    time.Duration
}

func defaults() config {
	return config{
		recoveryTimeout:  DefaultRecoveryTimeout,
		successThreshold: DefaultSuccessThreshold,
		journalTimeout:   DefaultJournalTimeout,
		maxRetryAfter:    DefaultMaxRetryAfter,
		clock:            clock.System(),
	}
}

func threshold(option string, n int) error {
	if n < 1 || n > maxThreshold {
		return &events.OptionError{Option: option, Value: fmt.Sprint(n), Reason: fmt.Sprintf("must be between 1 and %d", maxThreshold)}
	}
	return nil
}

// WithFailureThreshold sets how many consecutive failures trip a closed
// breaker. A success resets the count. Default 5. It is a shorthand for
// [ConsecutiveFailures](n): given with [WithTripPolicy], it is one more
// policy; given twice, the last one counts.
func WithFailureThreshold(n int) Option {
	return optionFunc(func(c *config) error {
		if err := threshold("WithFailureThreshold", n); err != nil {
			return err
		}
		c.failureThreshold = n
		return nil
	})
}

// WithTripPolicy sets the rules that trip a closed breaker: it trips when
// any of them says so. It replaces the default, [ConsecutiveFailures](5);
// given more than once, the policies add up. A policy made with an invalid
// argument makes New return its [*events.OptionError].
//
// Rate and custom policies over equal windows share one window, so that
// FailureRate and SlowCallRate over LastCalls(100) cost one recording per
// call. When several policies would fire on the same call, the reason names
// the first: consecutive failures, then the others in the order given.
//
//	machine.WithTripPolicy(
//		machine.FailureRate(50, 20, machine.LastDuration(time.Minute, 12)),
//		machine.SlowCallRate(80, 2*time.Second, 20, machine.LastDuration(time.Minute, 12)),
//		machine.ConsecutiveFailures(50),
//	)
func WithTripPolicy(policies ...TripPolicy) Option {
	return optionFunc(func(c *config) error {
		if len(policies) == 0 {
			return &events.OptionError{Option: "WithTripPolicy", Value: "no policy", Reason: "give at least one policy"}
		}
		for i, p := range policies {
			if p.p == nil {
				return &events.OptionError{Option: "WithTripPolicy", Value: fmt.Sprintf("policy %d = TripPolicy{}", i),
					Reason: "make policies with ConsecutiveFailures, FailureRate, SlowCallRate or CustomPolicy"}
			}
			if p.p.err != nil {
				return p.p.err
			}
		}
		c.policies = append(c.policies, policies...)
		return nil
	})
}

// WithRecoveryTimeout sets how long a breaker stays open before it admits a
// probe. Default 30s. It cannot be given with [WithBackoff], whose base is
// the first open period.
func WithRecoveryTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return &events.OptionError{Option: "WithRecoveryTimeout", Value: d.String(), Reason: "must be positive"}
		}
		c.recoveryTimeout = d
		c.recoveryGiven = true
		return nil
	})
}

// WithHalfOpenTimeout sets the longest a breaker stays in half-open: if its
// probes have not closed it d after it entered half-open, a timer re-opens
// it with retrip, whose reason is named "half_open_timeout" (with the probe
// successes so far and the success threshold). This bounds half-open even
// when a probe hangs for ever holding its slot. The timer fires the event on
// its own goroutine, with context.Background(); the late probes of that
// half-open period then count in Counts only. A breaker resumed in
// half-open from its journal measures d from the recorded time. Default
// none. With little traffic, set d well above the time the success
// threshold's calls take to arrive, or the breaker may re-open before its
// probes could close it.
func WithHalfOpenTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return &events.OptionError{Option: "WithHalfOpenTimeout", Value: d.String(), Reason: "must be positive"}
		}
		c.halfOpenTimeout = d
		return nil
	})
}

// WithProbeOnTimer makes the end of the open period fire probe by itself:
// the timer that ends the open period moves the breaker to half-open at
// once, on the timer's goroutine with context.Background(), instead of
// flagging the breaker so that the next call fires probe. The breaker then
// shows half-open as soon as it may admit probes, also when no call comes.
// Default off.
func WithProbeOnTimer() Option {
	return optionFunc(func(c *config) error {
		c.probeOnTimer = true
		return nil
	})
}

// WithObserveOnly makes the breaker observe without enforcing, to calibrate
// its policies on live traffic: the policies run and every transition is
// fired, journalled (with [events.Transition.ObserveOnly] set: "would
// trip") and delivered as usual, but no call is ever rejected. A call that
// an enforcing breaker would reject (in open, or in half-open with every
// probe slot taken) runs, is counted in [Counts.WouldReject], and its
// outcome moves nothing. Default off: the breaker enforces.
func WithObserveOnly() Option {
	return optionFunc(func(c *config) error {
		c.observeOnly = true
		return nil
	})
}

// WithSuccessThreshold sets how many probe successes close a half-open
// breaker. Default 2. Any probe failure re-opens the breaker at once, with
// the successes so far in the record's reason; a probe whose outcome is
// Ignored frees its slot and moves nothing. This is deliberate: gobreaker
// re-opens on any half-open failure too, but failsafe-go given a success
// ratio (WithSuccessThresholdRatio) tolerates failures up to the ratio's
// capacity minus its threshold, and with a failure rate decides on the rate
// over the half-open executions.
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
//
// It bounds probes in flight, not admissions per half-open period: a probe
// that finishes (with success or an ignored outcome) frees its slot for the
// next call, so with a limit of 1 and a success threshold of 2 two probes
// run one after the other. gobreaker's MaxRequests counts admissions per
// half-open period instead.
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
			return &events.OptionError{Option: "WithClassifier", Value: "nil", Reason: "must be a function"}
		}
		c.classifier = f
		return nil
	})
}

// WithClock sets the source of time; tests pass a fake such as
// clocktest.Clock (or run under testing/synctest with the default). Default
// clock.System(). With the default policy the breaker reads it on
// transitions (and in [OpenError.RetryAfter]), never per call; a time
// window reads it once per call, and a slow-call policy or call timing
// twice. The breaker arms one timer per open period, one per half-open
// period with [WithHalfOpenTimeout], and one while a failed journal append
// waits to be retried.
func WithClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) error {
		if clk == nil {
			return &events.OptionError{Option: "WithClock", Value: "nil", Reason: "must be a clock"}
		}
		c.clock = clk
		return nil
	})
}

// WithJournal sets the journal the breaker appends its transitions to and
// resumes from. Default: a new bounded [events.Memory], which a restart
// forgets; filejournal.Open gives a durable one that survives restarts and
// crashes, shared by the breakers of a process.
func WithJournal(j events.Journal) Option {
	return optionFunc(func(c *config) error {
		if j == nil {
			return &events.OptionError{Option: "WithJournal", Value: "nil", Reason: "must be a journal"}
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
				return &events.OptionError{Option: "WithSubscribers", Value: fmt.Sprintf("subscriber %d = nil", i), Reason: "must not be nil"}
			}
		}
		c.subscribers = append(c.subscribers, subs...)
		return nil
	})
}

// WithQueueCapacity sets how many transitions may wait for the queued
// subscribers before further ones are dropped for them (counted and
// reported). Default [DefaultQueueCapacity].
func WithQueueCapacity(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return &events.OptionError{Option: "WithQueueCapacity", Value: fmt.Sprint(n), Reason: "must be at least 1"}
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
			return &events.OptionError{Option: "WithErrorHandler", Value: "nil", Reason: "must be a function"}
		}
		c.onError = f
		return nil
	})
}

// WithWriter names the instance that writes the breaker's records: every
// record carries it (events.Transition.Writer), so that the audit trail of
// a fleet sharing one journal answers which replica moved a breaker. It
// follows the rules of a breaker name ([events.CheckName]). Default
// [DefaultWriter]: the host name and the process id.
func WithWriter(id string) Option {
	return optionFunc(func(c *config) error {
		if err := events.CheckName(id); err != nil {
			te := err.(*events.TextError)
			return &events.OptionError{Option: "WithWriter", Value: fmt.Sprintf("%q", te.Value), Reason: te.Reason}
		}
		c.writer = id
		return nil
	})
}

// DefaultWriter returns the writer identity of a breaker not given
// [WithWriter]: "host:pid", the host name (cut to fit, "unknown-host" when
// the system does not say) and the process id.
func DefaultWriter() string { return defaultWriter() }

var defaultWriter = sync.OnceValue(func() string {
	host, err := os.Hostname()
	if err != nil || events.CheckName(host) != nil {
		host = "unknown-host"
	}
	pid := strconv.Itoa(os.Getpid())
	if len(host)+1+len(pid) > events.MaxNameLen {
		host = host[:events.MaxNameLen-1-len(pid)]
	}
	return host + ":" + pid
})

// WithJournalTimeout bounds each call to the journal: every append and read
// the breaker makes, and the load in [New] (of a journal that does I/O: one
// that implements [events.Immediate] is read without a deadline, and the
// empty journal New makes itself is not read at all). The journal writer appends on a
// goroutine of its own, so no call waits on the journal however long it
// takes; the timeout is what lets the writer give up on an engine that
// hangs, report it and try again later. d must be positive. Default
// [DefaultJournalTimeout].
func WithJournalTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return &events.OptionError{Option: "WithJournalTimeout", Value: d.String(), Reason: "must be positive"}
		}
		c.journalTimeout = d
		return nil
	})
}

// WithMaxRetryAfter caps the open period that a failed call's dependency
// may ask for ([Result].RetryAfter): a server asking for an hour opens the
// breaker for d. It must be positive. Default [DefaultMaxRetryAfter].
func WithMaxRetryAfter(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return &events.OptionError{Option: "WithMaxRetryAfter", Value: d.String(), Reason: "must be positive"}
		}
		c.maxRetryAfter = d
		return nil
	})
}
