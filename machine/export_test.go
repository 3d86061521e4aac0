package machine

import (
	"context"

	"github.com/circuitry-go/circuitry/events"
)

// Fire fires ev on b from whatever state it is in, as the breaker itself
// would, with an empty reason: the transition table test uses it to reach
// every (state, event) pair, including those only the breaker fires.
func Fire(ctx context.Context, b *Breaker, ev events.Event) error {
	b.mu.Lock()
	t, err := b.transitionLocked(ctx, ev, events.Reason{Policy: "test"}, 0)
	b.unlock()
	b.dispatch.Deliver(ctx, t)
	return err
}

// FSMState returns the looplab/fsm machine's current state, which must
// always agree with State.
func FSMState(b *Breaker) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fsmLocked().Current()
}

// PermitInfo returns the generation a permit was admitted in and whether it
// is a half-open probe: the concurrency test counts probes in flight per
// half-open period with it.
func PermitInfo(p Permit) (gen uint64, probe bool) { return p.gen(), p.probe() }
