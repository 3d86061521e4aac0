package events

import (
	"maps"
	"slices"
)

// held is one breaker's history as a journal keeps it in memory: the records
// after a base snapshot (the fold of what was compacted away) and the fold of
// everything.
type held struct {
	base Snapshot     // the fold of the records no longer held
	head Snapshot     // the fold of everything appended
	recs []Transition // the records after base.Seq, in order
}

// after returns a copy of the records with sequence numbers above seq, or a
// [*CompactedError] when some of them are no longer held.
func (h *held) after(seq uint64) ([]Transition, error) {
	if seq < h.base.Seq {
		return nil, &CompactedError{Breaker: h.base.Breaker, After: seq, Base: h.base.Seq}
	}
	i := int(min(seq-h.base.Seq, uint64(len(h.recs))))
	return slices.Clone(h.recs[i:]), nil
}

// sortedNames returns the keys of a journal's per-breaker map, sorted.
func sortedNames[L any](logs map[string]L) []string {
	return slices.Sorted(maps.Keys(logs))
}
