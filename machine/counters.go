package machine

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Cumulative call counts are striped over cache-line-sized cells so that
// parallel calls rarely write the same line. A call picks its cell by a hash
// of an address on its goroutine's stack (see stripeOf, whose top bits keep
// goroutines with neighbouring stacks apart): it costs one multiplication, is
// stable for a goroutine (so one goroutine keeps to one line), and differs
// between goroutines, whose stacks are apart. A random cell per call spreads
// as well but costs three times as much (the runtime's random source is
// refilled every few calls). Readers sum the cells.

const (
	cacheLine  = 64
	minStripes = 8
	maxStripes = 64

	kindSuccess     = int(Success)
	kindFailure     = int(Failure)
	kindIgnored     = int(Ignored)
	kindRejected    = 3
	kindWouldReject = 4 // admitted only because the breaker observes
	kinds           = 5
)

type stripe struct {
	n [kinds]atomic.Uint64
	_ [cacheLine - kinds*8]byte
}

type counters struct {
	stripes []stripe
	shift   uint32 // stripeOf's shift for len(stripes)
}

func newCounters() counters {
	n := minStripes
	for n < 4*runtime.GOMAXPROCS(0) && n < maxStripes {
		n *= 2
	}
	return counters{stripes: make([]stripe, n), shift: uint32(32 - bits.TrailingZeros(uint(n)))}
}

func (c *counters) add(kind int) {
	var anchor byte
	c.stripes[stripeOf(uintptr(unsafe.Pointer(&anchor)), c.shift)].n[kind].Add(1)
}

func (c *counters) sum(kind int) uint64 {
	var s uint64
	for i := range c.stripes {
		s += c.stripes[i].n[kind].Load()
	}
	return s
}
