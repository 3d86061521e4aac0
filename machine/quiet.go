package machine

import "github.com/circuitry-go/circuitry/events"

// Quiet reports whether the breaker is closed and quiet: in the closed
// state (and not shut down by [Breaker.Close]), with no failure counted in
// its current closed period (no consecutive failures, and no failure or
// slow call in the window of any rate or custom policy), and with every
// transition it made stored in its journal. A quiet breaker can be dropped
// and made again over its journal without losing anything that protects
// its dependency: that is what a registry of breakers per key asks before
// it evicts one that has been idle. Evicting an open breaker would skip its
// open period, and evicting a failing closed one would let the next calls
// start counting afresh.
//
// The figures are read one by one, without the transition lock: a call
// that fails at the same moment may not be seen. Quiet reads the clock for
// a time window, and allocates nothing.
func (b *Breaker) Quiet() bool {
	s := b.snap.Load()
	if s.state != events.Closed || b.run.count(s.gen) != 0 {
		return false
	}
	if s.win != nil {
		at := b.since()
		for i := range s.win.ws {
			if c := s.win.ws[i].counts(at); c.Failures != 0 || c.Slow != 0 {
				return false
			}
		}
	}
	return b.backlog.empty()
}

// empty reports whether the journal stored every record handed to it.
func (q *backlog) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.refused && len(q.recs) == 0
}
