package machine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
)

func TestDiagram(t *testing.T) {
	f := newFixture(t)
	d := f.b.Diagram()
	if !strings.HasPrefix(d, "stateDiagram-v2\n") {
		t.Fatalf("diagram does not start with stateDiagram-v2:\n%s", d)
	}
	lines := strings.Split(strings.TrimSpace(d), "\n")
	count := map[string]int{}
	for _, l := range lines {
		count[strings.TrimSpace(l)]++
	}
	edges := 0
	for from, m := range legal {
		for ev, to := range m {
			edge := fmt.Sprintf("%s --> %s: %s", from, to, ev)
			if n := count[edge]; n != 1 {
				t.Errorf("edge %q appears %d times, want once, in:\n%s", edge, n, d)
			}
			edges++
		}
	}
	// Nothing else but the header and the initial state.
	for l := range count {
		if l == "stateDiagram-v2" || strings.HasPrefix(l, "[*] -->") {
			continue
		}
		var from, to, ev string
		if _, err := fmt.Sscanf(strings.ReplaceAll(l, ":", ""), "%s --> %s %s", &from, &to, &ev); err != nil {
			t.Errorf("unexpected line %q", l)
			continue
		}
		fs, err1 := events.ParseState(from)
		ts, err2 := events.ParseState(to)
		e, err3 := events.ParseEvent(ev)
		want, ok := legal[fs][e]
		if err1 != nil || err2 != nil || err3 != nil || !ok || want != ts {
			t.Errorf("diagram has an edge the table does not: %q", l)
		}
	}
	if len(lines) != edges+2 {
		t.Errorf("diagram has %d lines, want %d edges, a header and the initial state:\n%s", len(lines), edges, d)
	}
	if !strings.Contains(d, "[*] --> closed") {
		t.Errorf("diagram does not start from closed:\n%s", d)
	}

	f.failN(5)
	if d := f.b.Diagram(); !strings.Contains(d, "[*] --> open") {
		t.Errorf("diagram of an open breaker does not start from open:\n%s", d)
	}
}
