package events

import "fmt"

// State is the state of a circuit breaker. The zero value is [Closed].
type State uint8

// The three states of a breaker.
const (
	// Closed lets every call through and watches their outcomes.
	Closed State = iota
	// Open rejects every call until its open period has passed.
	Open
	// HalfOpen admits a bounded number of probe calls to test the dependency.
	HalfOpen
)

var stateNames = [...]string{Closed: "closed", Open: "open", HalfOpen: "half_open"}

// States lists every state, in declaration order.
func States() []State { return []State{Closed, Open, HalfOpen} }

// String returns the state's stable name: "closed", "open" or "half_open".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Valid reports whether s is one of the three declared states.
func (s State) Valid() bool { return int(s) < len(stateNames) }

// MarshalText encodes the state as its name. It fails for an undeclared state.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("events: invalid state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state name as written by [State.MarshalText].
func (s *State) UnmarshalText(text []byte) error {
	v, err := ParseState(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseState returns the state with the given name.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("events: unknown state %q (want closed, open or half_open)", name)
}
