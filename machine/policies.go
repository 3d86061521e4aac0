package machine

import "github.com/circuitry-go/circuitry/events"

// Policies returns what each trip policy of the breaker sees now, as the
// reason of its trip would give it: how close the breaker is to tripping.
// The [ConsecutiveFailures] policy comes first when the breaker has it
// (the default), with Policy "consecutive_failures", no window counts, and
// Figures holding the Failures in a row in the current closed period and
// the Threshold that trips; then each rate or custom policy as
// [Breaker.Windows] gives it. In open and half-open the counts are 0. Like
// Windows it reads the clock for time windows and takes no lock.
func (b *Breaker) Policies() []PolicyCounts {
	w := b.Windows()
	if b.failThresh == 0 {
		return w
	}
	c := PolicyCounts{
		Policy:  events.PolicyConsecutiveFailures,
		Figures: events.Reason{Threshold: uint64(b.failThresh)},
	}
	if s := b.snap.Load(); s.state == events.Closed {
		c.Figures.Failures = uint64(b.run.count(s.gen))
	}
	return append([]PolicyCounts{c}, w...)
}
