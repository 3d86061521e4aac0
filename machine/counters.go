package machine

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
)

// Cumulative call counts are striped over cache-line-sized cells so that
// parallel calls rarely write the same line; a call picks a cell with the
// runtime's per-thread random source, which costs a few nanoseconds and
// never contends. Readers sum the cells.

const (
	cacheLine  = 64
	maxStripes = 16

	kindSuccess  = int(Success)
	kindFailure  = int(Failure)
	kindIgnored  = int(Ignored)
	kindRejected = 3
	kinds        = 4
)

type stripe struct {
	n [kinds]atomic.Uint64
	_ [cacheLine - kinds*8]byte
}

type counters struct {
	stripes []stripe
	mask    uint32
}

func newCounters() counters {
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) && n < maxStripes {
		n *= 2
	}
	return counters{stripes: make([]stripe, n), mask: uint32(n - 1)}
}

func (c *counters) add(kind int) {
	c.stripes[rand.Uint32()&c.mask].n[kind].Add(1)
}

func (c *counters) sum(kind int) uint64 {
	var s uint64
	for i := range c.stripes {
		s += c.stripes[i].n[kind].Load()
	}
	return s
}
