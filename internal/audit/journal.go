package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// entry is a transition with how long its breaker then stayed in the new
// state.
type entry struct {
	events.Transition
	lasted  time.Duration
	current bool // the breaker's last transition: it is still in To
}

// entries returns every transition of the journal, by time, breaker and
// sequence number.
func entries(f Journal) ([]entry, error) {
	var out []entry
	for _, name := range f.Breakers() {
		base, err := f.Snapshot(context.Background(), name)
		if err != nil {
			return nil, err
		}
		recs, err := f.Read(context.Background(), name, base.Seq)
		if err != nil {
			return nil, err
		}
		for i, r := range recs {
			e := entry{Transition: r, current: i == len(recs)-1}
			if !e.current {
				e.lasted = recs[i+1].Time.Sub(r.Time)
			}
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b entry) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Breaker, b.Breaker); c != 0 {
			return c
		}
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out, nil
}

// nameSet is a comma-separated list flag.
type nameSet map[string]bool

func (s nameSet) String() string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func (s nameSet) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n == "" {
			return fmt.Errorf("empty name in %q", v)
		}
		s[n] = true
	}
	return nil
}

// keep reports whether name passes the filter (an empty one keeps all).
func (s nameSet) keep(name string) bool { return len(s) == 0 || s[name] }

// check returns an error naming the breakers asked for that the journal
// does not hold: an unknown breaker is an error, not an empty answer.
func (s nameSet) check(f Journal) error {
	var missing []string
	for _, n := range strings.Split(s.String(), ",") {
		if n != "" {
			missing = append(missing, n)
		}
	}
	return unknownBreakers(f, missing...)
}

// unknownBreakers returns an error naming those of names that the journal
// does not hold, or nil.
func unknownBreakers(f Journal, names ...string) error {
	have := f.Breakers()
	var missing []string
	for _, n := range names {
		if !slices.Contains(have, n) {
			missing = append(missing, fmt.Sprintf("%q", n))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	holds := "no breaker"
	if len(have) > 0 {
		holds = strings.Join(have, ", ")
	}
	noun := "breaker"
	if len(missing) > 1 {
		noun = "breakers"
	}
	return fmt.Errorf("no %s %s in the journal (it holds: %s)", noun, strings.Join(missing, ", "), holds)
}

// eventSet is a comma-separated list of event names.
type eventSet map[events.Event]bool

func (s eventSet) String() string {
	var names []string
	for _, e := range events.AllEvents() {
		if s[e] {
			names = append(names, e.String())
		}
	}
	return strings.Join(names, ",")
}

func (s eventSet) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		e, err := events.ParseEvent(strings.TrimSpace(n))
		if err != nil {
			var all []string
			for _, e := range events.AllEvents() {
				all = append(all, e.String())
			}
			return fmt.Errorf("unknown event %q (want %s)", n, strings.Join(all, ", "))
		}
		s[e] = true
	}
	return nil
}

// timeFlag is a point in time given as an RFC 3339 time, a date or a
// duration before now.
type timeFlag struct {
	now time.Time
	t   time.Time
	set bool
}

func (f *timeFlag) String() string {
	if !f.set {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f *timeFlag) Set(v string) error {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		f.t, f.set = t, true
		return nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		f.t, f.set = t, true
		return nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		f.t, f.set = f.now.Add(-d), true
		return nil
	}
	return fmt.Errorf("%q is not an RFC 3339 time (2026-11-24T15:04:05Z), a date (2026-11-24) or a duration ago (36h)", v)
}

// tableTime formats a record's time for a table.
func tableTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// reasonText formats a record's reason: the policy, then its other fields
// as name=value, as [events.Field.String] writes them.
func reasonText(r events.Reason) string {
	var parts []string
	if r.Policy != "" { // a manual control has none
		parts = append(parts, r.Policy)
	}
	for f := range r.Fields() {
		if f.Name != "policy" {
			parts = append(parts, f.String())
		}
	}
	return strings.Join(parts, " ")
}

// duration formats d to the millisecond.
func duration(d time.Duration) string { return d.Round(time.Millisecond).String() }
