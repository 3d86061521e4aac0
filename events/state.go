package events

import (
	"fmt"
	"strings"
)

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

// NumStates is the number of states: arrays indexed by State are sized by
// it, so that a state added to the declaration above sizes them too.
const NumStates = len(stateNames)

// States lists every state, in declaration order, derived from the one
// declaration of the states' names.
func States() []State {
	s := make([]State, NumStates)
	for i := range s {
		s[i] = State(i)
	}
	return s
}

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
		return nil, fmt.Errorf("circuitry: invalid state %d", uint8(s))
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
	last := len(stateNames) - 1
	return 0, fmt.Errorf("circuitry: unknown state %q (want %s or %s)", name, strings.Join(stateNames[:last], ", "), stateNames[last])
}
