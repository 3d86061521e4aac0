package events

// Edge is one legal transition: Event moves a breaker from From to To.
type Edge struct {
	Event    Event
	From, To State
}

// Table is every legal transition of a breaker, declared once. The breaker's
// finite-state machine is built from it and [Snapshot.Apply] validates
// history against it. Callers must not modify it.
var Table = []Edge{
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

// Target returns the state that e leads to from the state from, and whether
// the table allows e there at all.
func Target(from State, e Event) (State, bool) {
	for _, edge := range Table {
		if edge.From == from && edge.Event == e {
			return edge.To, true
		}
	}
	return 0, false
}
