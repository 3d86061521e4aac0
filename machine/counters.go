package machine

import (
	"runtime"
	"sync/atomic"
	_ "unsafe" // for go:linkname
)

// Cumulative call counts are kept per P (the runtime's processors, as many as
// GOMAXPROCS), one cache line each, as sync.Pool keeps its per-P caches: a
// call pins its goroutine to its P, adds one to that P's cell with a plain,
// unlocked add, and unpins. While pinned, no other goroutine runs on the P,
// so each cell has one writer at a time and no count is lost, and a call
// pays no locked instruction: on the virtual machines we measure on, a
// locked add costs 7.5 ns, more than a whole rejection is allowed, while
// pin, add and unpin cost 2.5 ns. Readers sum the cells with atomic loads
// (an aligned 64-bit word is read whole), so a sum may be a moment old,
// never torn.
//
// Where a plain add of a 64-bit word is not one instruction (32-bit
// systems), and under the race detector (which would report the plain
// writes), every add is an atomic one. A P whose id is past the cells made
// at New (GOMAXPROCS raised since) adds atomically to a shared cell.

const (
	cacheLine = 64

	kindSuccess     = int(Success)
	kindFailure     = int(Failure)
	kindIgnored     = int(Ignored)
	kindRejected    = 3
	kindWouldReject = 4 // admitted only because the breaker observes
	kinds           = 5
)

// plainAdds says whether a cell may be added to with a plain add.
const plainAdds = !raceEnabled && ^uintptr(0)>>63 == 1

type cell struct {
	n [kinds]uint64
	_ [cacheLine - kinds*8]byte
}

type counters struct {
	perP []cell
	over *cell // for Ps past perP; atomic adds only
}

func newCounters() counters {
	return counters{perP: make([]cell, runtime.GOMAXPROCS(0)), over: new(cell)}
}

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

func (c *counters) add(kind int) {
	if !plainAdds {
		atomic.AddUint64(&c.over.n[kind], 1)
		return
	}
	if p := procPin(); p < len(c.perP) {
		c.perP[p].n[kind]++
	} else {
		atomic.AddUint64(&c.over.n[kind], 1)
	}
	procUnpin()
}

func (c *counters) sum(kind int) uint64 {
	s := atomic.LoadUint64(&c.over.n[kind])
	for i := range c.perP {
		s += atomic.LoadUint64(&c.perP[i].n[kind])
	}
	return s
}
