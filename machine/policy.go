package machine

import (
	"fmt"
	"math"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// TripPolicy is a rule that trips a closed breaker. Make one with
// [ConsecutiveFailures], [FailureRate], [SlowCallRate] or [CustomPolicy] and
// give it to [WithTripPolicy]. A constructor given an invalid argument
// returns a TripPolicy that makes [New] fail with an [*events.OptionError] naming
// it. The zero TripPolicy is invalid.
type TripPolicy struct {
	p *policySpec
}

// Window says which calls a rate or custom policy looks at: the last N
// calls ([LastCalls]) or the calls of the last period of time
// ([LastDuration]). Each closed period starts with an empty window: the
// counts of a window never outlive the state they were made in. The zero
// Window is invalid.
type Window struct {
	calls   int           // LastCalls: the last calls calls
	d       time.Duration // LastDuration: the last d ...
	buckets int           // ... in buckets buckets
	err     *events.OptionError
}

// WindowCounts are the counts of a window. Calls counts the successes and
// failures in it (an ignored call is not counted), Failures the failures
// among them, and Slow the calls among them that were slower than the
// threshold of a [SlowCallRate] policy over an equal window (0 when there is
// no such policy).
type WindowCounts struct {
	Calls, Failures, Slow uint64
}

// Bounds of windows, so that a window's memory and the cost of reading it
// stay small.
const (
	// MaxWindowCalls is the largest [LastCalls] window. A count-based
	// window holds two bits per call: 256 KiB at this size.
	MaxWindowCalls = 1 << 20
	// MaxWindowBuckets is the most buckets of a [LastDuration] window.
	// Evaluating a policy over a time-based window reads every bucket.
	MaxWindowBuckets = 1024
	// MinBucketWidth is the shortest span of one bucket of a
	// [LastDuration] window.
	MinBucketWidth = time.Millisecond
)

// policySpec is a trip policy as given: its name (the Reason.Policy of its
// trips), for [ConsecutiveFailures] its threshold, and for a window policy
// its rule and window.
type policySpec struct {
	name string
	n    int  // ConsecutiveFailures; 0 for a window policy
	rule rule // a window policy's rule; nil for ConsecutiveFailures
	win  Window
	err  *events.OptionError
}

// rule is what a window policy decides, as a value: when it fires on the
// counts of its window, and the figures it gives for them (the reason of its
// trip, and what [Breaker.Windows] reports).
type rule interface {
	// fires reports whether the policy trips on c; an error says that the
	// user's function panicked (and then it does not fire).
	fires(c WindowCounts) (bool, error)
	// figures returns the policy's figures on c, as the reason of a trip
	// gives them (without the policy's name and the last error).
	figures(c WindowCounts) events.Reason
	// slowerThan is the duration above which the policy's window counts a
	// call as slow; 0 when the policy does not look at slow calls.
	slowerThan() time.Duration
}

// failureRate is the rule of [FailureRate].
type failureRate struct {
	percent  float64
	minCalls int
}

func (r failureRate) fires(c WindowCounts) (bool, error) {
	return c.Calls >= uint64(r.minCalls) && float64(c.Failures)*100 >= r.percent*float64(c.Calls), nil
}

func (r failureRate) figures(c WindowCounts) events.Reason {
	return events.Reason{Failures: c.Failures, Calls: c.Calls, Slow: c.Slow,
		Rate: rate(c.Failures, c.Calls), RateThreshold: r.percent, MinCalls: uint64(r.minCalls)}
}

func (failureRate) slowerThan() time.Duration { return 0 }

// slowCallRate is the rule of [SlowCallRate].
type slowCallRate struct {
	percent  float64
	minCalls int
	slow     time.Duration
}

func (r slowCallRate) fires(c WindowCounts) (bool, error) {
	return c.Calls >= uint64(r.minCalls) && float64(c.Slow)*100 >= r.percent*float64(c.Calls), nil
}

func (r slowCallRate) figures(c WindowCounts) events.Reason {
	return events.Reason{Failures: c.Failures, Calls: c.Calls, Slow: c.Slow,
		Rate: rate(c.Slow, c.Calls), RateThreshold: r.percent, MinCalls: uint64(r.minCalls), SlowerThan: r.slow}
}

func (r slowCallRate) slowerThan() time.Duration { return r.slow }

// customRule is the rule of [CustomPolicy].
type customRule struct {
	name string
	fn   func(WindowCounts) bool
}

func (r customRule) fires(c WindowCounts) (fire bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			fire, err = false, &PolicyError{Policy: r.name, Panic: v}
		}
	}()
	return r.fn(c), nil
}

func (customRule) figures(c WindowCounts) events.Reason {
	return events.Reason{Failures: c.Failures, Calls: c.Calls, Slow: c.Slow}
}

func (customRule) slowerThan() time.Duration { return 0 }

// ConsecutiveFailures trips the breaker when n calls in a row fail; a
// success starts the count again. It is the default policy, with n = 5
// ([DefaultFailureThreshold]); [WithFailureThreshold](n) is a shorthand for
// it. It reads no clock and keeps one atomic word: the cheapest policy. n
// must be between 1 and 2^31-1. The reason of its trip is named
// "consecutive_failures" and holds Failures and Threshold.
func ConsecutiveFailures(n int) TripPolicy {
	p := &policySpec{name: events.PolicyConsecutiveFailures, n: n}
	if err := threshold("ConsecutiveFailures", n); err != nil {
		p.err = err.(*events.OptionError)
	}
	return TripPolicy{p}
}

// FailureRate trips the breaker when at least percent of the calls in the
// window w failed, once the window holds at least minCalls calls: failures
// × 100 ≥ percent × calls. It is evaluated each time a failure (or a slow
// call) is recorded, as gobreaker's ReadyToTrip is: a success never trips a
// breaker, so a rate that rises only because old successes left a time
// window trips on the next failure. percent must be above 0 and at most
// 100, and minCalls at least 1 (and, over [LastCalls](n), at most n). The
// reason of its trip is named "failure_rate" and holds Failures, Calls,
// Slow, Rate, RateThreshold and MinCalls.
func FailureRate(percent float64, minCalls int, w Window) TripPolicy {
	p := &policySpec{name: events.PolicyFailureRate, rule: failureRate{percent, minCalls}, win: w}
	p.err = checkRate("FailureRate", percent, minCalls, w)
	return TripPolicy{p}
}

// SlowCallRate trips the breaker when at least percent of the calls in the
// window w were slower than slowerThan, once the window holds at least
// minCalls calls. A call is timed from its admission to its Done, whether
// it succeeds or fails (an ignored call is not counted), so this policy
// reads the clock twice per call in closed. It is evaluated each time a
// slow call (or a failure) is recorded. percent must be above 0 and at most
// 100, slowerThan positive, and minCalls as for [FailureRate]. Slow calls
// count only in closed: a slow probe in half-open is a success. The reason
// of its trip is named "slow_call_rate" and holds Slow, Calls, Failures,
// Rate, RateThreshold, MinCalls and SlowerThan.
func SlowCallRate(percent float64, slowerThan time.Duration, minCalls int, w Window) TripPolicy {
	p := &policySpec{name: events.PolicySlowCallRate, rule: slowCallRate{percent, minCalls, slowerThan}, win: w}
	p.err = checkRate("SlowCallRate", percent, minCalls, w)
	if p.err == nil && slowerThan <= 0 {
		p.err = &events.OptionError{Option: "SlowCallRate", Value: "slowerThan=" + slowerThan.String(), Reason: "must be positive"}
	}
	return TripPolicy{p}
}

// CustomPolicy trips the breaker when fn, given the counts of the window w,
// returns true. fn is called on the call path, without a lock, each time a
// failure or a slow call is recorded in closed, possibly from many
// goroutines at once: it must be quick, safe for concurrent use and free of
// allocation, and must not call the breaker. name names the policy in the
// reason of its trip (which also holds Failures, Calls and Slow); it must
// not be empty nor one of the names the breaker uses (the events.Policy
// constants) and is held to the rules of a breaker name ([events.CheckName]);
// fn must not be nil. A panic in fn is taken as "does not trip", and the
// first of each breaker is reported to its error handler as a
// [*PolicyError].
func CustomPolicy(name string, w Window, fn func(WindowCounts) bool) TripPolicy {
	p := &policySpec{name: name, rule: customRule{name, fn}, win: w}
	switch {
	case name == "":
		p.err = &events.OptionError{Option: "CustomPolicy", Value: `name=""`, Reason: "must not be empty"}
	case events.CheckName(name) != nil:
		te := events.CheckName(name).(*events.TextError)
		p.err = &events.OptionError{Option: "CustomPolicy", Value: fmt.Sprintf("name=%q (%d bytes)", te.Value, te.Len), Reason: te.Reason}
	case reservedPolicy(name):
		p.err = &events.OptionError{Option: "CustomPolicy", Value: fmt.Sprintf("name=%q", name), Reason: "is the name of one of the breaker's own policies"}
	case fn == nil:
		p.err = &events.OptionError{Option: "CustomPolicy", Value: "fn=nil", Reason: "must be a function"}
	default:
		p.err = checkWindow("CustomPolicy", w)
	}
	return TripPolicy{p}
}

// LastCalls is a count-based window: the last n calls of the closed period,
// once there have been n. n must be between 1 and [MaxWindowCalls].
//
// It is a ring of n two-bit slots (failed, slow) packed in atomic words, an
// atomic head index and atomic running counts of failures and slow calls:
// recording a call is one atomic add on the head and, unless the slot
// already holds the same bits (a success over a success), one
// compare-and-swap on the slot's word and an add on a running count. No
// lock, no clock, no allocation: the cheapest window for one goroutine. The
// head is one word that every call adds to, since "the last n calls" needs
// one order: from many cores at once, [LastDuration] scales better. When
// more than n calls are recorded at once, two of them may land in one slot
// in the other order; the counts still equal the slots' contents.
func LastCalls(n int) Window {
	w := Window{calls: n}
	if n < 1 || n > MaxWindowCalls {
		w.err = &events.OptionError{Option: "LastCalls", Value: fmt.Sprint(n), Reason: fmt.Sprintf("must be between 1 and %d", MaxWindowCalls)}
	}
	return w
}

// LastDuration is a time-based window: the calls that finished in the
// last d of the closed period, in buckets buckets of d/buckets each (rounded
// down to the nanosecond). The window moves a bucket at a time: a call
// leaves it between d-d/buckets and d after it finished. buckets must be
// between 1 and [MaxWindowBuckets], and each bucket at least
// [MinBucketWidth] wide.
//
// Each count of a bucket is an atomic word holding the bucket's epoch (the
// number of bucket widths since the closed period began) in its high 24
// bits and the count in its low 40 bits. Recording a call reads the clock
// once (only the monotonic clock, with the system clock) and adds to the
// words of the current bucket, or compare-and-swaps a word whose epoch is
// stale to the current epoch with a count of one: no lock, no allocation.
// The calls of a bucket are counted in up to 16 stripes, one per group of
// goroutines, on cache lines of their own, so that parallel calls do not
// contend for one word; failures and slow calls have one word each. A
// policy over the window reads buckets × (stripes + 2) words when it is
// evaluated.
//
// Limits of the packing: the epoch is kept modulo 2^24, so a bucket that
// received no call for a multiple of 2^24 bucket widths (194 days with
// one-second buckets, 4.6 hours with the minimum 1 ms) would be read as
// current during one bucket width; a bucket counts up to 2^40 calls; and a
// call whose recording is delayed (its goroutine descheduled) by a whole
// window length may restart a bucket of the current window.
func LastDuration(d time.Duration, buckets int) Window {
	w := Window{d: d, buckets: buckets}
	switch {
	case d <= 0:
		w.err = &events.OptionError{Option: "LastDuration", Value: "d=" + d.String(), Reason: "must be positive"}
	case buckets < 1 || buckets > MaxWindowBuckets:
		w.err = &events.OptionError{Option: "LastDuration", Value: fmt.Sprintf("buckets=%d", buckets), Reason: fmt.Sprintf("must be between 1 and %d", MaxWindowBuckets)}
	case d/time.Duration(buckets) < MinBucketWidth:
		w.err = &events.OptionError{Option: "LastDuration", Value: fmt.Sprintf("d=%s, buckets=%d", d, buckets),
			Reason: fmt.Sprintf("each bucket (d/buckets = %s) must span at least %s", d/time.Duration(buckets), MinBucketWidth)}
	}
	return w
}

// String describes the window as it was made, such as "LastCalls(100)" or
// "LastDuration(10s, 10)".
func (w Window) String() string {
	switch {
	case w.calls != 0:
		return fmt.Sprintf("LastCalls(%d)", w.calls)
	case w.d != 0 || w.buckets != 0:
		return fmt.Sprintf("LastDuration(%s, %d)", w.d, w.buckets)
	}
	return "Window{}"
}

// same reports whether w and o describe the same window.
func (w Window) same(o Window) bool {
	return w.calls == o.calls && w.d == o.d && w.buckets == o.buckets
}

func checkWindow(option string, w Window) *events.OptionError {
	if w.err != nil {
		return w.err
	}
	if w.calls == 0 && w.d == 0 {
		return &events.OptionError{Option: option, Value: "w=Window{}", Reason: "make windows with LastCalls or LastDuration"}
	}
	return nil
}

func checkRate(option string, percent float64, minCalls int, w Window) *events.OptionError {
	if !(percent > 0 && percent <= 100) { // NaN fails too
		return &events.OptionError{Option: option, Value: fmt.Sprintf("percent=%v", percent), Reason: "must be above 0 and at most 100"}
	}
	if err := checkWindow(option, w); err != nil {
		return err
	}
	if minCalls < 1 {
		return &events.OptionError{Option: option, Value: fmt.Sprintf("minCalls=%d", minCalls), Reason: "must be at least 1"}
	}
	if w.calls != 0 && minCalls > w.calls {
		return &events.OptionError{Option: option, Value: fmt.Sprintf("minCalls=%d", minCalls), Reason: fmt.Sprintf("must be at most the %d calls of %s, or the policy never fires", w.calls, w)}
	}
	return nil
}

func reservedPolicy(name string) bool {
	switch name {
	case events.PolicyConsecutiveFailures, events.PolicyFailureRate, events.PolicySlowCallRate,
		events.PolicyProbeFailure, events.PolicyProbeSuccesses, events.PolicyHalfOpenTimeout,
		events.PolicyOpenTimeout, events.PolicyManual:
		return true
	}
	return false
}

// PolicyError reports a [CustomPolicy] function that panicked. The breaker
// takes the panic as "does not trip" and reports the first one of each
// breaker to its error handler.
type PolicyError struct {
	Policy string
	Panic  any
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("circuitry: custom trip policy %q panicked: %v; taken as not tripping", e.Policy, e.Panic)
}

// reason is the reason of a trip by window policy p on counts c.
func (p *policySpec) reason(c WindowCounts, lastError string) events.Reason {
	r := p.rule.figures(c)
	r.Policy, r.LastError = p.name, lastError
	return r
}

// rate returns n per 100 of calls.
func rate(n, calls uint64) float64 {
	if calls == 0 {
		return 0
	}
	return math.Min(100, float64(n)*100/float64(calls))
}

// policySet is a breaker's window policies and the windows they share,
// fixed by New. Policies over equal windows share one: a [SlowCallRate]
// policy shares only with policies of the same slowerThan, and a
// [FailureRate] or [CustomPolicy] policy joins the first window made for
// an equal Window, slow or not.
type policySet struct {
	policies []*policySpec // the window policies, in the order given
	win      []int         // the index in windows of each policy's window
	windows  []windowSpec
	start    bool // some window counts slow calls: calls are timed from their admission
	end      bool // some window needs the time a call finished
	_        [2*cacheLine - 74]byte
}

type windowSpec struct {
	w          Window
	slowerThan time.Duration // 0: this window does not count slow calls
}

// newPolicySet returns the window policies of ps, or nil when there are
// none, and the consecutive-failures threshold (0 for none).
func newPolicySet(ps []TripPolicy) (set *policySet, consecutive int) {
	s := &policySet{}
	find := func(w Window, slow time.Duration, anySlow bool) int {
		for i, ws := range s.windows {
			if ws.w.same(w) && (anySlow || ws.slowerThan == slow) {
				return i
			}
		}
		s.windows = append(s.windows, windowSpec{w, slow})
		return len(s.windows) - 1
	}
	// Slow-call windows first, so that other policies can join them.
	for _, tp := range ps {
		if p := tp.p; p.rule != nil && p.rule.slowerThan() > 0 {
			find(p.win, p.rule.slowerThan(), false)
		}
	}
	for _, tp := range ps {
		p := tp.p
		switch {
		case p.rule == nil: // ConsecutiveFailures
			if consecutive == 0 || p.n < consecutive {
				consecutive = p.n
			}
			continue
		case p.rule.slowerThan() > 0:
			s.win = append(s.win, find(p.win, p.rule.slowerThan(), false))
		default:
			s.win = append(s.win, find(p.win, 0, true))
		}
		s.policies = append(s.policies, p)
	}
	if len(s.policies) == 0 {
		return nil, consecutive
	}
	for _, ws := range s.windows {
		if ws.slowerThan > 0 {
			s.start = true
		}
		if ws.slowerThan > 0 || ws.w.d > 0 {
			s.end = true
		}
	}
	return s, consecutive
}
