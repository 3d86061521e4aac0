package machine

import (
	"runtime"
	"sync/atomic"
	"unsafe"
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
// The cells are made by the breaker's first counted call, not by New: a
// breaker that takes no call (one per key of a registry, most of them idle)
// costs GOMAXPROCS cache lines less, and New is that much cheaper. They are
// one block, published once with an atomic store: first a shared cell,
// which also holds how many Ps have a cell of their own (GOMAXPROCS when
// the block was made) and takes the adds of the Ps past them (GOMAXPROCS
// raised since), then the cells of the Ps. The breaker keeps one pointer.

// Where a plain add of a 64-bit word is not one instruction (32-bit
// systems), and under the race detector (which would report the plain
// writes), every add is an atomic one, to the shared cell.

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
	// procs, in the shared cell: the Ps with a cell of their own. Read
	// by every add, written once, before the block is published.
	procs int
	_     [cacheLine - kinds*8 - 8]byte
}

// counters are a breaker's cumulative call counts. The zero value counts
// nothing yet; its first add makes the cells.
type counters struct {
	// cells points to the shared cell, followed by the cells of the Ps;
	// nil until the first add.
	cells atomic.Pointer[cell]
}

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// at returns cell i of the block that starts at c.
func at(c *cell, i int) *cell {
	return (*cell)(unsafe.Add(unsafe.Pointer(c), uintptr(i)*unsafe.Sizeof(cell{})))
}

func (c *counters) add(kind int) {
	if plainAdds {
		if p, cs := procPin(), c.cells.Load(); cs != nil && p < cs.procs {
			at(cs, p+1).n[kind]++
			procUnpin()
			return
		}
		procUnpin()
	}
	c.addShared(kind)
}

// addShared adds to the shared cell, making the cells first if no call
// has.
func (c *counters) addShared(kind int) {
	cs := c.cells.Load()
	if cs == nil {
		cs = c.makeCells()
	}
	atomic.AddUint64(&cs.n[kind], 1)
}

// makeCells makes the cells, unless another call did first, and returns
// them.
func (c *counters) makeCells() *cell {
	procs := runtime.GOMAXPROCS(0)
	block := make([]cell, 1+procs)
	block[0].procs = procs
	if c.cells.CompareAndSwap(nil, &block[0]) {
		return &block[0]
	}
	return c.cells.Load()
}

func (c *counters) sum(kind int) uint64 {
	cs := c.cells.Load()
	if cs == nil {
		return 0
	}
	var s uint64
	for i := range 1 + cs.procs {
		s += atomic.LoadUint64(&at(cs, i).n[kind])
	}
	return s
}
