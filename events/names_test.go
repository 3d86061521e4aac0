package events_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/circuitry-go/circuitry/events"
)

func TestStatesListsEveryStateInOrder(t *testing.T) {
	want := []events.State{events.Closed, events.Open, events.HalfOpen}
	if got := events.States(); !slices.Equal(got, want) {
		t.Fatalf("States() = %v, want %v", got, want)
	}
	var zero events.State
	if zero != events.Closed {
		t.Fatalf("zero State is %v, want closed", zero)
	}
}

func TestStateNamesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		state events.State
		name  string
	}{
		{events.Closed, "closed"},
		{events.Open, "open"},
		{events.HalfOpen, "half_open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.state.Valid() {
				t.Fatalf("%d.Valid() = false", tc.state)
			}
			if got := tc.state.String(); got != tc.name {
				t.Fatalf("String() = %q, want %q", got, tc.name)
			}
			text, err := tc.state.MarshalText()
			if err != nil || string(text) != tc.name {
				t.Fatalf("MarshalText() = %q, %v; want %q, nil", text, err, tc.name)
			}
			parsed, err := events.ParseState(tc.name)
			if err != nil || parsed != tc.state {
				t.Fatalf("ParseState(%q) = %v, %v; want %v, nil", tc.name, parsed, err, tc.state)
			}
			// Start from a different state so that a no-op would be caught.
			got := events.State(99)
			if err := got.UnmarshalText(text); err != nil || got != tc.state {
				t.Fatalf("UnmarshalText(%q) gave %v, %v; want %v, nil", text, got, err, tc.state)
			}
		})
	}
}

func TestStateInvalidValues(t *testing.T) {
	for _, v := range []events.State{3, 4, 255} {
		t.Run(v.String(), func(t *testing.T) {
			if v.Valid() {
				t.Fatalf("State(%d).Valid() = true", uint8(v))
			}
			wantName := "State(" + strconv.Itoa(int(v)) + ")"
			if got := v.String(); got != wantName {
				t.Fatalf("String() = %q, want %q", got, wantName)
			}
			text, err := v.MarshalText()
			if err == nil {
				t.Fatalf("MarshalText() = %q, nil; want an error", text)
			}
			if want := "circuitry: invalid state " + strconv.Itoa(int(v)); err.Error() != want {
				t.Fatalf("MarshalText error %q, want %q", err, want)
			}
		})
	}
}

func TestStateUnknownNames(t *testing.T) {
	for _, name := range []string{"", "Closed", "OPEN", "half-open", "halfopen", " open", "open ", "State(0)", "0"} {
		t.Run(name, func(t *testing.T) {
			s, err := events.ParseState(name)
			if err == nil {
				t.Fatalf("ParseState(%q) = %v, nil; want an error", name, s)
			}
			want := `circuitry: unknown state "` + name + `" (want closed, open or half_open)`
			if err.Error() != want {
				t.Fatalf("ParseState(%q) error %q, want %q", name, err, want)
			}
			got := events.HalfOpen
			if err := got.UnmarshalText([]byte(name)); err == nil || err.Error() != want {
				t.Fatalf("UnmarshalText(%q) error %v, want %q", name, err, want)
			}
			if got != events.HalfOpen {
				t.Fatalf("UnmarshalText(%q) changed the state to %v on error", name, got)
			}
		})
	}
}

func TestAllEventsListsEveryEventInOrder(t *testing.T) {
	want := []events.Event{events.Trip, events.Probe, events.Recover, events.Retrip,
		events.ForceOpen, events.ForceClose, events.ForceHalfOpen}
	if got := events.AllEvents(); !slices.Equal(got, want) {
		t.Fatalf("AllEvents() = %v, want %v", got, want)
	}
	var zero events.Event
	if zero.Valid() {
		t.Fatalf("zero Event is valid")
	}
}

func TestEventNamesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		event  events.Event
		name   string
		manual bool
	}{
		{events.Trip, "trip", false},
		{events.Probe, "probe", false},
		{events.Recover, "recover", false},
		{events.Retrip, "retrip", false},
		{events.ForceOpen, "force_open", true},
		{events.ForceClose, "force_close", true},
		{events.ForceHalfOpen, "force_half_open", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.event.Valid() {
				t.Fatalf("%d.Valid() = false", tc.event)
			}
			if got := tc.event.Manual(); got != tc.manual {
				t.Fatalf("Manual() = %v, want %v", got, tc.manual)
			}
			if got := tc.event.String(); got != tc.name {
				t.Fatalf("String() = %q, want %q", got, tc.name)
			}
			text, err := tc.event.MarshalText()
			if err != nil || string(text) != tc.name {
				t.Fatalf("MarshalText() = %q, %v; want %q, nil", text, err, tc.name)
			}
			parsed, err := events.ParseEvent(tc.name)
			if err != nil || parsed != tc.event {
				t.Fatalf("ParseEvent(%q) = %v, %v; want %v, nil", tc.name, parsed, err, tc.event)
			}
			got := events.Event(99)
			if err := got.UnmarshalText(text); err != nil || got != tc.event {
				t.Fatalf("UnmarshalText(%q) gave %v, %v; want %v, nil", text, got, err, tc.event)
			}
		})
	}
}

func TestEventInvalidValues(t *testing.T) {
	for _, v := range []events.Event{0, 8, 9, 255} {
		t.Run(v.String(), func(t *testing.T) {
			if v.Valid() {
				t.Fatalf("Event(%d).Valid() = true", uint8(v))
			}
			if v.Manual() {
				t.Fatalf("Event(%d).Manual() = true", uint8(v))
			}
			wantName := "Event(" + strconv.Itoa(int(v)) + ")"
			if got := v.String(); got != wantName {
				t.Fatalf("String() = %q, want %q", got, wantName)
			}
			text, err := v.MarshalText()
			if err == nil {
				t.Fatalf("MarshalText() = %q, nil; want an error", text)
			}
			if want := "circuitry: invalid event " + strconv.Itoa(int(v)); err.Error() != want {
				t.Fatalf("MarshalText error %q, want %q", err, want)
			}
		})
	}
}

func TestEventUnknownNames(t *testing.T) {
	// "" matters: it is the name slot of the zero Event and must not parse.
	for _, name := range []string{"", "Trip", "TRIP", "force-open", "forceopen", "open", "closed", "Event(1)", "1"} {
		t.Run(name, func(t *testing.T) {
			e, err := events.ParseEvent(name)
			if err == nil {
				t.Fatalf("ParseEvent(%q) = %v, nil; want an error", name, e)
			}
			want := `circuitry: unknown event "` + name + `"`
			if err.Error() != want {
				t.Fatalf("ParseEvent(%q) error %q, want %q", name, err, want)
			}
			got := events.Recover
			if err := got.UnmarshalText([]byte(name)); err == nil || err.Error() != want {
				t.Fatalf("UnmarshalText(%q) error %v, want %q", name, err, want)
			}
			if got != events.Recover {
				t.Fatalf("UnmarshalText(%q) changed the event to %v on error", name, got)
			}
		})
	}
}

// legalEdges is the transition table of the design, written out
// independently of events.Table.
var legalEdges = map[events.State]map[events.Event]events.State{
	events.Closed: {
		events.Trip:      events.Open,
		events.ForceOpen: events.Open,
	},
	events.Open: {
		events.Probe:         events.HalfOpen,
		events.ForceClose:    events.Closed,
		events.ForceHalfOpen: events.HalfOpen,
	},
	events.HalfOpen: {
		events.Recover:    events.Closed,
		events.Retrip:     events.Open,
		events.ForceOpen:  events.Open,
		events.ForceClose: events.Closed,
	},
}

func TestTargetCrossProduct(t *testing.T) {
	states := []events.State{events.Closed, events.Open, events.HalfOpen, 3, 255}
	evs := []events.Event{0, events.Trip, events.Probe, events.Recover, events.Retrip,
		events.ForceOpen, events.ForceClose, events.ForceHalfOpen, 8, 255}
	legal := 0
	for _, from := range states {
		for _, e := range evs {
			t.Run(from.String()+"/"+e.String(), func(t *testing.T) {
				wantTo, wantOK := legalEdges[from][e]
				to, ok := events.Target(from, e)
				if ok != wantOK {
					t.Fatalf("Target(%v, %v) ok = %v, want %v", from, e, ok, wantOK)
				}
				if wantOK && to != wantTo {
					t.Fatalf("Target(%v, %v) = %v, want %v", from, e, to, wantTo)
				}
			})
			if _, ok := legalEdges[from][e]; ok {
				legal++
			}
		}
	}
	if legal != 9 {
		t.Fatalf("the expected table has %d edges, want 9", legal)
	}
}

func TestTableIsExactlyTheDesignedEdges(t *testing.T) {
	seen := map[events.Edge]bool{}
	for _, edge := range events.Table() {
		if seen[edge] {
			t.Errorf("edge %v %v->%v listed twice", edge.Event, edge.From, edge.To)
		}
		seen[edge] = true
		if to, ok := legalEdges[edge.From][edge.Event]; !ok || to != edge.To {
			t.Errorf("Table has edge %v %v->%v, which the design does not", edge.Event, edge.From, edge.To)
		}
	}
	for from, m := range legalEdges {
		for e, to := range m {
			if !seen[events.Edge{Event: e, From: from, To: to}] {
				t.Errorf("Table lacks edge %v %v->%v", e, from, to)
			}
		}
	}
}

func TestTransitionString(t *testing.T) {
	r := rec("payments", 7, events.ForceHalfOpen, events.Open, events.HalfOpen, t0, 0)
	if got, want := r.String(), "payments #7 force_half_open: open -> half_open"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	bad := rec("x", 1, 0, 9, events.Open, t0, 0)
	if got, want := bad.String(), "x #1 Event(0): State(9) -> open"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
