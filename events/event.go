package events

import "fmt"

// Event is the typed name of a transition. The zero value is not an event.
type Event uint8

// The transition events. [Trip], [Probe], [Recover] and [Retrip] are fired by
// the breaker itself; the Force events are fired only by an operator, and
// their record carries who asked and why.
const (
	// Trip opens a closed breaker because its trip policy fired.
	Trip Event = iota + 1
	// Probe moves an open breaker to half-open once its open period has
	// passed and a call arrives, or, for a breaker that probes on a timer,
	// when the open period ends.
	Probe
	// Recover closes a half-open breaker after enough probe successes.
	Recover
	// Retrip opens a half-open breaker again after a probe failed, or when
	// the breaker has stayed in half-open for its longest allowed time.
	Retrip
	// ForceOpen opens a closed or half-open breaker by hand.
	ForceOpen
	// ForceClose closes an open or half-open breaker by hand.
	ForceClose
	// ForceHalfOpen moves an open breaker to half-open by hand, so that
	// probes start without waiting for the open period to pass.
	ForceHalfOpen
)

// eventDecl declares every event once: its stable name, and whether only an
// operator fires it. AllEvents, Valid, Manual, String and ParseEvent derive
// from it.
var eventDecl = [...]struct {
	name   string
	manual bool
}{
	Trip:          {name: "trip"},
	Probe:         {name: "probe"},
	Recover:       {name: "recover"},
	Retrip:        {name: "retrip"},
	ForceOpen:     {name: "force_open", manual: true},
	ForceClose:    {name: "force_close", manual: true},
	ForceHalfOpen: {name: "force_half_open", manual: true},
}

// AllEvents lists every event, in declaration order.
func AllEvents() []Event {
	out := make([]Event, 0, len(eventDecl)-1)
	for e := Event(1); int(e) < len(eventDecl); e++ {
		out = append(out, e)
	}
	return out
}

// String returns the event's stable name, such as "trip" or "force_open".
func (e Event) String() string {
	if e.Valid() {
		return eventDecl[e].name
	}
	return fmt.Sprintf("Event(%d)", uint8(e))
}

// Valid reports whether e is one of the declared events.
func (e Event) Valid() bool { return e != 0 && int(e) < len(eventDecl) }

// Manual reports whether e is fired only by an operator.
func (e Event) Manual() bool { return e.Valid() && eventDecl[e].manual }

// MarshalText encodes the event as its name. It fails for an undeclared event.
func (e Event) MarshalText() ([]byte, error) {
	if !e.Valid() {
		return nil, fmt.Errorf("circuitry: invalid event %d", uint8(e))
	}
	return []byte(eventDecl[e].name), nil
}

// UnmarshalText decodes an event name as written by [Event.MarshalText].
func (e *Event) UnmarshalText(text []byte) error {
	v, err := ParseEvent(string(text))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// ParseEvent returns the event with the given name.
func ParseEvent(name string) (Event, error) {
	for i, d := range eventDecl {
		if i != 0 && d.name == name {
			return Event(i), nil
		}
	}
	return 0, fmt.Errorf("circuitry: unknown event %q", name)
}
