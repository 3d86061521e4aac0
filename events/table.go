package events

import "slices"

// Edge is one legal transition: Event moves a breaker from From to To.
type Edge struct {
	Event    Event
	From, To State
}

// table is every legal transition of a breaker, declared once.
var table = []Edge{
	{Trip, Closed, Open},
	{Probe, Open, HalfOpen},
	{Recover, HalfOpen, Closed},
	{Retrip, HalfOpen, Open},
	{ForceOpen, Closed, Open},
	{ForceOpen, HalfOpen, Open},
	{ForceClose, Open, Closed},
	{ForceClose, HalfOpen, Closed},
	{ForceHalfOpen, Open, HalfOpen},
}

// Table returns every legal transition of a breaker, declared once: the
// breaker's finite-state machine is built from it and [Snapshot.Apply]
// validates history against it. It returns a copy, so that no caller can
// change what is legal for everyone.
func Table() []Edge { return slices.Clone(table) }

// Target returns the state that e leads to from the state from, and whether
// the table allows e there at all.
func Target(from State, e Event) (State, bool) {
	for _, edge := range table {
		if edge.From == from && edge.Event == e {
			return edge.To, true
		}
	}
	return 0, false
}
