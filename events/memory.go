package events

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// DefaultMemoryCapacity is the number of records per breaker that the
// journal a breaker creates by default keeps readable.
const DefaultMemoryCapacity = 1024

// Memory is a bounded in-memory [Journal] for any number of breakers. For
// each breaker it keeps at least the newest capacity records readable (and
// fewer than twice as many); older ones are folded into a per-breaker snapshot,
// which it returns as a [Snapshotter], so [Load] still rebuilds the state.
//
// Append validates each record against the breaker's current fold, so a
// Memory journal always holds a legal history. It is safe for concurrent use.
type Memory struct {
	capacity int

	mu   sync.RWMutex
	logs map[string]*held // nil until the first append
	w    *watched         // nil until the first append or Watch
}

// watched is what Watch tells: the records stored lately, across breakers,
// with their positions: a ring of at most watchWindow, oldest at first; the
// last position; and, while a watcher waits, a channel the next append
// closes. A Memory makes it, and its map, when first used, so that a new one
// (every breaker not given a journal makes one) is a small object.
type watched struct {
	recent  []Stored
	first   int
	pos     uint64
	changed chan struct{}
}

// watchWindow bounds how many records, across breakers, a Memory journal
// keeps for Watch; a watcher further behind reads each breaker's history.
const watchWindow = 1024

// NewMemory returns an empty journal that keeps at least capacity records
// per breaker. capacity must be positive.
func NewMemory(capacity int) (*Memory, error) {
	if capacity <= 0 {
		return nil, &OptionError{Option: "NewMemory", Value: fmt.Sprint(capacity), Reason: "capacity must be positive"}
	}
	return &Memory{capacity: capacity}, nil
}

// Append stores t if it directly follows the last record of t.Breaker;
// otherwise it returns a [*ConflictError], or, when t is not a legal next
// record or its breaker name fails [CheckName], a [*RefusedError] wrapping
// the reason.
func (m *Memory) Append(_ context.Context, t Transition) error {
	if err := CheckName(t.Breaker); err != nil {
		return &RefusedError{Breaker: t.Breaker, Seq: t.Seq, Err: fmt.Errorf("circuitry: Memory.Append: %w: %w", ErrInvalidRecord, err)}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.logs[t.Breaker]
	if l == nil {
		l = &held{base: Initial(t.Breaker), head: Initial(t.Breaker)}
	}
	if t.Seq != l.head.Seq+1 {
		return &ConflictError{Breaker: t.Breaker, Seq: t.Seq, Last: l.head.Seq}
	}
	head, err := l.head.Apply(t)
	if err != nil {
		return &RefusedError{Breaker: t.Breaker, Seq: t.Seq, Err: fmt.Errorf("circuitry: Memory.Append %v: %w", t, err)}
	}
	if m.logs == nil {
		m.logs = make(map[string]*held)
	}
	m.logs[t.Breaker] = l
	l.head = head
	l.recs = append(l.recs, t)
	w := m.watchedLocked()
	w.pos++
	if st := (Stored{Pos: w.pos, Transition: t}); len(w.recent) < watchWindow {
		w.recent = append(w.recent, st)
	} else {
		w.recent[w.first] = st
		w.first = (w.first + 1) % watchWindow
	}
	if w.changed != nil { // a watcher waits
		close(w.changed)
		w.changed = nil
	}
	if len(l.recs) >= 2*m.capacity {
		drop := len(l.recs) - m.capacity
		// The dropped records were validated on the way in.
		l.base, _ = ReplayFrom(l.base, l.recs[:drop])
		l.recs = slices.Clone(l.recs[drop:])
	}
	return nil
}

// Read returns a copy of breaker's records with sequence numbers above
// after. Asking for records already folded away returns a [*CompactedError].
func (m *Memory) Read(_ context.Context, breaker string, after uint64) ([]Transition, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if l := m.logs[breaker]; l != nil {
		return l.after(after)
	}
	return nil, nil
}

// Snapshot returns the fold of breaker's records that Read no longer
// returns, [Initial] when there are none.
func (m *Memory) Snapshot(_ context.Context, breaker string) (Snapshot, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if l := m.logs[breaker]; l != nil {
		return l.base, nil
	}
	return Initial(breaker), nil
}

// Breakers returns the names of the breakers with records, sorted.
func (m *Memory) Breakers() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return sortedNames(m.logs)
}

// Watch returns the records stored after position after, across breakers,
// waiting until there is one or ctx is done (see [Watcher]). Memory keeps
// the last 1024 of them for watchers.
func (m *Memory) Watch(ctx context.Context, after uint64) ([]Stored, error) {
	for {
		m.mu.Lock()
		w := m.watchedLocked()
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		pos, changed := w.pos, w.changed
		var out []Stored
		if after < pos {
			oldest := pos - uint64(len(w.recent)) // the position before the first kept
			if after < oldest {
				m.mu.Unlock()
				return nil, &CompactedError{Breaker: "", After: after, Base: oldest}
			}
			for i := int(after - oldest); i < len(w.recent); i++ {
				out = append(out, w.recent[(w.first+i)%len(w.recent)])
			}
		}
		m.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Head returns the position of the last record stored.
func (m *Memory) Head(context.Context) (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.w == nil {
		return 0, nil
	}
	return m.w.pos, nil
}

// watchedLocked returns what Watch tells, making it on first use. It runs
// with m.mu locked for writing.
func (m *Memory) watchedLocked() *watched {
	if m.w == nil {
		m.w = new(watched)
	}
	return m.w
}

// Immediate marks Memory as a journal that does no I/O (see [Immediate]).
func (m *Memory) Immediate() {}
