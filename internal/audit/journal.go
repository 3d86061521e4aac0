package audit

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// Entry is a transition record as the commands show it: with when its
// breaker entered the state the record leaves.
type Entry struct {
	events.Transition
	// Since is the time of the breaker's previous transition (or of the
	// fold its record follows); zero when the journal does not tell.
	Since time.Time
}

// Filter selects records: of the breakers Breakers keeps (nil: all), at or
// after Since and before Until (a zero bound is open).
type Filter struct {
	Breakers     func(name string) bool
	Since, Until time.Time
}

func (f Filter) keep(t events.Transition) bool {
	return (f.Breakers == nil || f.Breakers(t.Breaker)) &&
		(f.Since.IsZero() || !t.Time.Before(f.Since)) && (f.Until.IsZero() || t.Time.Before(f.Until))
}

// Streamer is implemented by journals whose whole history the commands read
// record by record, in constant memory, rather than through Read: history,
// export, and state at a past time.
type Streamer interface {
	// Records yields the transition records f keeps, in the order the
	// journal stored them, and ends at the first error.
	Records(f Filter) iter.Seq2[Entry, error]
	// StateAt returns the fold of the records before at of each breaker
	// that breakers accepts (nil: every breaker); breakers without one,
	// and those it does not accept, are absent. Records no longer held of
	// a breaker it does not accept are no error.
	StateAt(at time.Time, breakers func(name string) bool) (map[string]events.Snapshot, error)
}

// Pruner is implemented by journals whose Snapshot is a checkpoint of
// records they still hold (in older segments, say): Pruned returns the fold
// of each breaker's records they no longer hold (absent: none).
type Pruner interface {
	Pruned() (map[string]events.Snapshot, error)
}

// pruned returns the fold of each breaker's records that j no longer holds.
func pruned(j Journal) (map[string]events.Snapshot, error) {
	if p, ok := j.(Pruner); ok {
		return p.Pruned()
	}
	out := map[string]events.Snapshot{}
	for _, name := range j.Breakers() {
		s, err := j.Snapshot(context.Background(), name)
		if err != nil {
			return nil, err
		}
		if s.Seq > 0 {
			out[name] = s
		}
	}
	return out, nil
}

// records yields the transition records of j that f keeps: streamed when
// j is a [Streamer]; otherwise read into memory, each breaker from its
// snapshot, and sorted by time, breaker and sequence number.
func records(j Journal, f Filter) iter.Seq2[Entry, error] {
	if s, ok := j.(Streamer); ok {
		return s.Records(f)
	}
	return func(yield func(Entry, error) bool) {
		var out []Entry
		for _, name := range j.Breakers() {
			if f.Breakers != nil && !f.Breakers(name) {
				continue
			}
			base, err := j.Snapshot(context.Background(), name)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			recs, err := j.Read(context.Background(), name, base.Seq)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			since := base.Since
			for _, r := range recs {
				if f.keep(r) {
					out = append(out, Entry{Transition: r, Since: since})
				}
				since = r.Time
			}
		}
		slices.SortStableFunc(out, func(a, b Entry) int {
			if c := a.Time.Compare(b.Time); c != 0 {
				return c
			}
			if c := strings.Compare(a.Breaker, b.Breaker); c != 0 {
				return c
			}
			return cmp.Compare(a.Seq, b.Seq)
		})
		for _, e := range out {
			if !yield(e, nil) {
				return
			}
		}
	}
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
