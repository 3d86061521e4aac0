package events

import (
	"fmt"
	"time"
)

// Transition is the record of one change of state of one breaker: the unit
// of the journal, of replay and of subscriber delivery. Records are values;
// a subscriber may keep one.
type Transition struct {
	// Breaker is the name of the breaker that changed state.
	Breaker string
	// Seq is the record's sequence number, contiguous per breaker from 1.
	Seq uint64
	// Event is what moved the breaker.
	Event Event
	// From and To are the states before and after the transition.
	From, To State
	// Time is the wall-clock time of the transition, in UTC without a
	// monotonic reading, for people and for resuming after a restart.
	Time time.Time
	// OpenFor is how long the breaker stays open before it admits a probe.
	// It is set (positive) exactly when To is [Open], so that a replay after
	// a restart reproduces the open period that was chosen.
	OpenFor time.Duration
	// Reason holds the figures that made the transition fire.
	Reason Reason
	// ObserveOnly says that the breaker that wrote the record only
	// observes: its policies run and its transitions are recorded, but it
	// rejects no call. The record says what an enforcing breaker would have
	// done ("would trip"). It describes the writer, not the state: the
	// fold ignores it, and a breaker resumed from the journal observes or
	// enforces as it is configured to.
	ObserveOnly bool
	// Writer says which instance wrote the record (by default host:pid, see
	// machine.WithWriter), so that the audit trail of a fleet answers
	// "which replica, when, why". Empty in records written before format
	// version 2. The fold ignores it.
	Writer string
	// ID identifies the record uniquely (16 hex digits, drawn at random by
	// the writer): a breaker whose append failed after storing recognises
	// its own record by it. Empty in records written before format version
	// 2. The fold ignores it.
	ID string
	// PrevHash links the record to the one before it in its breaker's
	// history: the [LinkHash] of that record as the journal stored it (see
	// [ChainCheck]). A journal that chains its records sets it on Append,
	// over what the caller gave; it is empty for the first record of a
	// breaker and in records written before their journal chained them.
	// The fold ignores it.
	PrevHash string
	// Adopted is set on delivery to subscribers, never stored: the breaker
	// did not make this transition but folded it from its journal, where
	// another writer (Writer) appended it. A subscriber that saw a record
	// of the same Seq before learns that this one replaced it.
	Adopted bool
}

// Reason says why a transition fired: the policy that decided, the figures it
// decided on, the text of the last error where there was one, and for manual
// events the operator and their note. Its values are for people and audit
// tools; none of them is needed to rebuild the state.
type Reason struct {
	// Policy names the rule that fired: one of the Policy constants, such
	// as "consecutive_failures", "failure_rate", "probe_failure" or
	// "manual", or the name of a user's custom trip policy.
	Policy string
	// Failures and Successes are the counts in the state being left that
	// the policy looked at: for a window policy, the failures in its window.
	Failures, Successes uint64
	// Threshold is the count the policy compared against, or 0.
	Threshold uint64
	// Calls is the number of calls in the window of a rate or custom
	// policy when it fired, and Slow the slow calls among them (calls
	// slower than SlowerThan); 0 for other policies.
	Calls, Slow uint64
	// Rate is the rate a rate policy computed, in percent (failures or
	// slow calls per 100 calls in its window), and RateThreshold the rate
	// at or above which it trips; 0 for other policies.
	Rate, RateThreshold float64
	// MinCalls is the fewest calls in its window for which a rate policy
	// computes a rate at all; 0 for other policies.
	MinCalls uint64
	// SlowerThan is the duration above which a call counts as slow, for a
	// slow-call rate policy; 0 for other policies.
	SlowerThan time.Duration
	// RetryAfter is the open period the dependency asked for (an HTTP
	// Retry-After, say), as it asked, for a [PolicyRetryAfter] transition;
	// the record's OpenFor is what the breaker granted (capped). 0 for
	// other policies.
	RetryAfter time.Duration
	// LastError is the text of the error of the call that caused the
	// transition, if any. It is free text: never use it as a metric label.
	LastError string
	// Operator is who fired a manual event; Note is why they did.
	Operator, Note string
}

// The Reason.Policy names used by the breaker.
const (
	// PolicyConsecutiveFailures: Failures consecutive failures reached
	// Threshold, in closed.
	PolicyConsecutiveFailures = "consecutive_failures"
	// PolicyFailureRate: the failure rate over a window (Failures of
	// Calls, Rate) reached RateThreshold with at least MinCalls calls.
	PolicyFailureRate = "failure_rate"
	// PolicySlowCallRate: the rate of calls slower than SlowerThan over a
	// window (Slow of Calls, Rate) reached RateThreshold with at least
	// MinCalls calls.
	PolicySlowCallRate = "slow_call_rate"
	// PolicyProbeFailure: a probe failed, in half-open.
	PolicyProbeFailure = "probe_failure"
	// PolicyProbeSuccesses: Successes probes succeeded, reaching Threshold.
	PolicyProbeSuccesses = "probe_successes"
	// PolicyHalfOpenTimeout: the breaker stayed in half-open for its
	// maximum time without closing (Successes of Threshold so far).
	PolicyHalfOpenTimeout = "half_open_timeout"
	// PolicyOpenTimeout: the open period ended.
	PolicyOpenTimeout = "open_timeout"
	// PolicyManual: an operator fired the event.
	PolicyManual = "manual"
	// PolicyRetryAfter: a failed call carried the time the dependency
	// asked not to be called for (RetryAfter): the breaker opened, from
	// closed or half-open, for that long, capped.
	PolicyRetryAfter = "retry_after"
)

// String formats the record on one line for logs and error messages.
func (t Transition) String() string {
	return fmt.Sprintf("%s #%d %s: %s -> %s", t.Breaker, t.Seq, t.Event, t.From, t.To)
}
