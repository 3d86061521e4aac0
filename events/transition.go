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
}

// Reason says why a transition fired: the policy that decided, the figures it
// decided on, the text of the last error where there was one, and for manual
// events the operator and their note. Its values are for people and audit
// tools; none of them is needed to rebuild the state.
type Reason struct {
	// Policy names the rule that fired, such as "consecutive_failures",
	// "probe_failure", "probe_successes", "open_timeout" or "manual".
	Policy string
	// Failures and Successes are the counts in the state being left that
	// the policy looked at.
	Failures, Successes uint64
	// Threshold is the count the policy compared against, or 0.
	Threshold uint64
	// LastError is the text of the error of the call that caused the
	// transition, if any. It is free text: never use it as a metric label.
	LastError string
	// Operator is who fired a manual event; Note is why they did.
	Operator, Note string
}

// The Reason.Policy names used by the breaker.
const (
	PolicyConsecutiveFailures = "consecutive_failures"
	PolicyProbeFailure        = "probe_failure"
	PolicyProbeSuccesses      = "probe_successes"
	PolicyOpenTimeout         = "open_timeout"
	PolicyManual              = "manual"
)

// String formats the record on one line for logs and error messages.
func (t Transition) String() string {
	return fmt.Sprintf("%s #%d %s: %s -> %s", t.Breaker, t.Seq, t.Event, t.From, t.To)
}
