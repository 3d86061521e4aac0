package filejournal

import (
	"maps"
	"slices"

	"github.com/circuitry-go/circuitry/events"
)

// held is one breaker's history as the journal keeps it in memory: the
// records after a base snapshot (the checkpoint of the active segment) and
// the fold of everything.
type held struct {
	base events.Snapshot     // the fold of the records no longer held
	head events.Snapshot     // the fold of everything appended
	recs []events.Transition // the records after base.Seq, in order
}

// after returns a copy of the records with sequence numbers above seq, or a
// [*events.CompactedError] when some of them are not held here.
func (h *held) after(seq uint64) ([]events.Transition, error) {
	if seq < h.base.Seq {
		return nil, &events.CompactedError{Breaker: h.base.Breaker, After: seq, Base: h.base.Seq}
	}
	i := int(min(seq-h.base.Seq, uint64(len(h.recs))))
	return slices.Clone(h.recs[i:]), nil
}

// sortedNames returns the keys of the journal's per-breaker map, sorted.
func sortedNames[L any](logs map[string]L) []string {
	return slices.Sorted(maps.Keys(logs))
}
