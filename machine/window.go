package machine

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// The windows of the rate and custom policies (see [LastCalls] and
// [LastDuration] for what each records and at what cost).
//
// A new set of windows is allocated on every transition into closed and
// published in the snapshot that calls read, next to the generation: a
// window belongs to one closed period, so "the counts reset on every
// transition" holds by construction, and an outcome is recorded only when
// the snapshot still carries the generation its call was admitted in (a late
// outcome is counted in Counts and nowhere else). Transitions may allocate;
// calls never do.
//
// Why a ring of packed bits and bucket words with epochs, rather than a
// mutex (gobreaker) or counters striped per CPU: a mutex costs two lock
// round trips per call and serialises parallel callers; striped counters
// make every read sum all stripes and cannot expire old calls without a
// lock. The ring keeps exactly the last n outcomes with one atomic add per
// call; the buckets expire by themselves, since a bucket word whose epoch is
// stale reads as zero.
//
// Everything a call touches fills whole cache lines (the structs are padded
// to multiples of 64 bytes, which the allocator places 64-aligned; the word
// arrays are aligned by hand): a small object that shared a line with an
// unrelated one written by another goroutine would make every call miss,
// which measured as twice the cost of a call in parallel.

// alignedWords returns n zero words that start on a cache line, in an
// allocation of whole lines that holds nothing else.
func alignedWords(n int) []atomic.Uint64 {
	const perLine = cacheLine / 8
	buf := make([]atomic.Uint64, (n+perLine-1)/perLine*perLine+perLine)
	skip := (perLine - int(uintptr(unsafe.Pointer(&buf[0]))%cacheLine/8)) % perLine
	return buf[skip : skip+n : skip+n]
}

const (
	bitFailed = 1 << iota // the call failed
	bitSlow               // the call was slower than the window's threshold
)

// windowSet is the windows of one closed period, one per windowSpec of the
// breaker's policySet, in the same order.
type windowSet struct {
	ws []window
	_  [cacheLine - 24]byte
}

// window is one window of a closed period: count- or time-based.
type window struct {
	slowerThan time.Duration // 0: slow calls are not counted
	count      *countWindow
	time       *timeWindow
	_          [cacheLine - 24]byte
}

// newWindowSet makes the windows of a closed period that began at start
// (on the breaker's clock, since its epoch).
func (s *policySet) newWindowSet(start time.Duration) *windowSet {
	set := &windowSet{ws: make([]window, len(s.windows))}
	for i, spec := range s.windows {
		w := window{slowerThan: spec.slowerThan}
		if spec.w.calls > 0 {
			w.count = newCountWindow(spec.w.calls)
		} else {
			w.time = newTimeWindow(spec.w.d/time.Duration(spec.w.buckets), spec.w.buckets, start)
		}
		set.ws[i] = w
	}
	return set
}

func (w *window) add(b uint64, at time.Duration) {
	if w.count != nil {
		w.count.add(b)
		return
	}
	w.time.add(b, at)
}

func (w *window) counts(at time.Duration) WindowCounts {
	if w.count != nil {
		return w.count.counts()
	}
	return w.time.counts(at)
}

// fastmod computes a mod n for a 32-bit a with two multiplications
// (Lemire, Kaser and Kurz, "Faster remainder by direct computation"), where
// m = ^uint64(0)/n + 1: a division costs several times as much on the call
// path.
func fastmod(a uint32, m, n uint64) uint64 {
	hi, _ := bits.Mul64(m*uint64(a), n)
	return hi
}

// countWindow is the last n outcomes, two bits each, 32 to a word. Its
// head, its running counts and its constant fields are on three lines.
type countWindow struct {
	head atomic.Uint64 // calls recorded so far in this window
	_    [cacheLine - 8]byte
	// The running counts equal the bits set in ring once every recording
	// has finished; a reader may see them a moment apart, and even one
	// below zero, so counts clamps them.
	failed, slow atomic.Int64
	_            [cacheLine - 16]byte
	n, m         uint64
	ring         []atomic.Uint64
	_            [cacheLine - 40]byte
}

func newCountWindow(n int) *countWindow {
	return &countWindow{n: uint64(n), m: ^uint64(0)/uint64(n) + 1, ring: alignedWords((n + 31) / 32)}
}

func (w *countWindow) add(b uint64) {
	// The slot index wraps at 2^32 calls: once in four billion calls one
	// slot is reused early, which moves no count.
	i := w.head.Add(1) - 1
	slot := fastmod(uint32(i), w.m, w.n)
	word := &w.ring[slot>>5]
	shift := (slot & 31) * 2
	for {
		old := word.Load()
		was := old >> shift & 3
		if was == b {
			return // a success over a success: nothing to write
		}
		if word.CompareAndSwap(old, old&^(3<<shift)|b<<shift) {
			if d := int64(b&bitFailed) - int64(was&bitFailed); d != 0 {
				w.failed.Add(d)
			}
			if d := int64(b>>1) - int64(was>>1); d != 0 {
				w.slow.Add(d)
			}
			return
		}
	}
}

func (w *countWindow) counts() WindowCounts {
	calls := min(w.head.Load(), w.n)
	clamp := func(v int64) uint64 { return min(uint64(max(v, 0)), calls) }
	return WindowCounts{Calls: calls, Failures: clamp(w.failed.Load()), Slow: clamp(w.slow.Load())}
}

// Packing of a bucket word: the epoch modulo 2^24 above a 40-bit count.
const (
	epochShift = 40
	countMask  = 1<<epochShift - 1
	epochMask  = 1<<(64-epochShift) - 1
)

// timeWindow is n buckets of width each; bucket e mod n holds the calls of
// epoch e, the e-th bucket width since start. The calls of a bucket are
// counted in one word per stripe, each stripe's n words on lines of their
// own, and a call adds to its goroutine's stripe (picked like the stripes of
// the cumulative counters): one word written by every call would be passed
// from core to core, which measured at two to four times the cost of a call
// with two goroutines. Failures and slow calls, rare while closed, have one
// word each per bucket, so that reading the window costs n×(stripes+2)
// loads, on each failure.
type timeWindow struct {
	width  time.Duration
	start  time.Duration
	n      uint64
	mask   uint32          // stripes - 1
	shift  uint32          // 32 - log2(stripes): the stripe is the top bits of a hash
	stride uint64          // words from one stripe's block to the next: n, rounded up to a line
	calls  []atomic.Uint64 // bucket i of stripe s: calls[s*stride+i]
	bad    []atomic.Uint64 // bucket i: failed calls at 2i, slow calls at 2i+1
	_      [2*cacheLine - 88]byte
}

// Bounds of the stripes of a time window: at most maxWindowStripes, at most
// four per processor, and at most maxStripedWords call words in all (a
// window of 1024 buckets has 4).
const (
	maxWindowStripes = 16
	maxStripedWords  = 4096
)

func newTimeWindow(width time.Duration, n int, start time.Duration) *timeWindow {
	const perLine = cacheLine / 8
	stride := (n + perLine - 1) / perLine * perLine
	stripes := maxWindowStripes // halved down to 4, never below: see stripeOf
	for stripes > 4 && (stripes*stride > maxStripedWords || stripes > 4*runtime.GOMAXPROCS(0)) {
		stripes /= 2
	}
	return &timeWindow{
		width: width, start: start, n: uint64(n),
		mask: uint32(stripes - 1), shift: uint32(32 - bits.TrailingZeros(uint(stripes))), stride: uint64(stride),
		calls: alignedWords(stripes * stride),
		bad:   alignedWords(2 * n),
	}
}

// epoch returns the bucket width in which at falls.
func (w *timeWindow) epoch(at time.Duration) uint64 {
	if at <= w.start {
		return 0
	}
	return uint64((at - w.start) / w.width)
}

func (w *timeWindow) add(b uint64, at time.Duration) {
	var anchor byte
	// A hash of an address on the goroutine's stack, as counters.add, but
	// taking the top bits (Fibonacci hashing): goroutine stacks are often
	// 2 KiB apart, and for consecutive multiples of 2 KiB the bits counters
	// takes repeat every other goroutine under a mask of 8 stripes, which
	// measured as one run in two with every call contending.
	w.addTo(stripeOf(uintptr(unsafe.Pointer(&anchor)), w.shift), b, at)
}

// stripeOf is the stripe of the goroutine whose stack holds addr, among
// 2^(32-shift) stripes. With 4 stripes or more, stacks 2 KiB apart never
// share one (the golden ratio's multiples spread them at least a stripe
// apart); with 2 they could, which is why a window has at least 4.
func stripeOf(addr uintptr, shift uint32) uint64 {
	return uint64(uint32(addr>>11) * 0x9e3779b1 >> shift)
}

// addTo records a call in stripe s.
func (w *timeWindow) addTo(s, b uint64, at time.Duration) {
	e := w.epoch(at)
	i := e % w.n
	tag := e & epochMask
	bump(&w.calls[s*w.stride+i], tag)
	if b&bitFailed != 0 {
		bump(&w.bad[2*i], tag)
	}
	if b&bitSlow != 0 {
		bump(&w.bad[2*i+1], tag)
	}
}

// bump adds one to the count of word for the epoch tag, starting it at one
// when the word holds another epoch.
func bump(word *atomic.Uint64, tag uint64) {
	for {
		old := word.Load()
		if old>>epochShift == tag {
			word.Add(1)
			return
		}
		if word.CompareAndSwap(old, tag<<epochShift|1) {
			return
		}
	}
}

// counts sums the buckets of the epochs in the window that ends with the
// epoch of at.
func (w *timeWindow) counts(at time.Duration) WindowCounts {
	cur := w.epoch(at)
	slot := cur % w.n
	var c WindowCounts
	for k := uint64(0); k < w.n && k <= cur; k++ {
		tag := (cur - k) & epochMask
		for s := uint64(0); s <= uint64(w.mask); s++ {
			c.Calls += read(&w.calls[s*w.stride+slot], tag)
		}
		c.Failures += read(&w.bad[2*slot], tag)
		c.Slow += read(&w.bad[2*slot+1], tag)
		if slot == 0 {
			slot = w.n
		}
		slot--
	}
	// A reader between two bumps of one call may see its failure and not
	// its call.
	c.Failures, c.Slow = min(c.Failures, c.Calls), min(c.Slow, c.Calls)
	return c
}

func read(word *atomic.Uint64, tag uint64) uint64 {
	if v := word.Load(); v>>epochShift == tag {
		return v & countMask
	}
	return 0
}
