package machine

import (
	"context"
	"math/bits"
	"time"
	"unsafe"

	"github.com/circuitry-go/circuitry/events"
)

// Fire fires ev on b from whatever state it is in, as the breaker itself
// would, with an empty reason: the transition table test uses it to reach
// every (state, event) pair, including those only the breaker fires.
func Fire(ctx context.Context, b *Breaker, ev events.Event) error {
	m := move{ev: ev, reason: events.Reason{Policy: "test"}}
	return b.transition(ctx, func(*snapshot) (move, bool) { return m, true })
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

// CallPathSizes are the sizes of the objects a call reads or writes, each of
// which must fill whole cache lines.
var CallPathSizes = map[string]uintptr{
	"snapshot":    unsafe.Sizeof(snapshot{}),
	"windowSet":   unsafe.Sizeof(windowSet{}),
	"window":      unsafe.Sizeof(window{}),
	"countWindow": unsafe.Sizeof(countWindow{}),
	"timeWindow":  unsafe.Sizeof(timeWindow{}),
	"policySet":   unsafe.Sizeof(policySet{}),
	"failureRun":  unsafe.Sizeof(failureRun{}),
}

// AlignedWords exposes alignedWords to the test of its alignment.
func AlignedWords(n int) uintptr {
	w := alignedWords(n)
	if len(w) != n {
		return 1
	}
	return uintptr(unsafe.Pointer(&w[0]))
}

// TimeWindowStripes records, in a time window of n buckets, one call in
// every stripe of every bucket, and returns the number of stripes and the
// window's counts once the last bucket is full.
func TimeWindowStripes(n int) (stripes int, c WindowCounts) {
	w := newTimeWindow(time.Second, n, 0)
	for i := range n {
		at := time.Duration(i) * time.Second
		for s := range uint64(w.mask) + 1 {
			w.addTo(s, bitFailed, at)
		}
	}
	return int(w.mask) + 1, w.counts(time.Duration(n-1) * time.Second)
}

// StripeOf exposes the choice of a time window's stripe for an address on
// a goroutine's stack, among stripes (a power of two).
func StripeOf(addr uintptr, stripes int) int {
	return int(stripeOf(addr, uint32(32-bits.TrailingZeros(uint(stripes)))))
}

// Settle waits until the breaker's journal writer, if it runs, has done
// what it could with the backlog, without starting it: tests that read the
// journal after a transition call it, as the writer appends on a goroutine
// of its own.
func Settle(b *Breaker) {
	b.mu.Lock()
	drained := b.drained
	b.mu.Unlock()
	if drained != nil {
		<-drained
	}
	if b.lease != nil {
		b.lease.wg.Wait() // the answer of the probe lease, when one was asked
	}
}
