package machine

import (
	"context"
	"fmt"
)

// Mode says whether a breaker enforces its state or only observes it.
type Mode uint8

const (
	// Enforcing breakers reject calls when open, and in half-open when
	// every probe slot is taken. The default.
	Enforcing Mode = iota
	// ObserveOnly breakers run their policies and fire, journal and
	// deliver their transitions, but never reject a call: see
	// [WithObserveOnly].
	ObserveOnly
)

// String returns "enforcing" or "observe_only".
func (m Mode) String() string {
	switch m {
	case Enforcing:
		return "enforcing"
	case ObserveOnly:
		return "observe_only"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Mode returns the breaker's mode, fixed by [New].
func (b *Breaker) Mode() Mode {
	if b.observe {
		return ObserveOnly
	}
	return Enforcing
}

// wouldReject admits as p, in a breaker that only observes, a call that an
// enforcing breaker would reject in the state of snapshot s. The call is not
// a probe: its outcome is counted and moves nothing.
func (b *Breaker) wouldReject(p *Permit, ctx context.Context, s *snapshot) {
	b.calls.add(kindWouldReject)
	*p = Permit{b: b, ctx: ctx, tag: s.gen}
	if b.clocked {
		p.start = b.since()
	}
}

// observed returns the permit of a call admitted by wouldReject.
func (b *Breaker) observed(ctx context.Context, s *snapshot) (Permit, error) {
	var p Permit
	b.wouldReject(&p, ctx, s)
	return p, nil
}
