package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// stateJSON is one line of "state -json".
type stateJSON struct {
	Breaker   string     `json:"breaker"`
	Seq       uint64     `json:"seq"`
	State     string     `json:"state"`
	Event     string     `json:"event,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
	OpenFor   string     `json:"open_for,omitempty"`
	OpenUntil *time.Time `json:"open_until,omitempty"`
	Remaining string     `json:"remaining,omitempty"`
	Opens     uint32     `json:"opens,omitempty"`
}

func (c *Command) state(args []string, stdout, stderr io.Writer, now time.Time) error {
	fs := c.newFlags("state", stderr)
	breakers := nameSet{}
	at := &timeFlag{now: now, t: now}
	fs.Var(breakers, "breaker", "only these breakers (comma-separated)")
	fs.Var(at, "at", "the `time` to give the state at: the fold of the records up to it (default now: every record)")
	asJSON := fs.Bool("json", false, "print one JSON object per breaker per line instead of a table")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	f, err := c.open(pos[0], stderr)
	if err != nil {
		return err
	}
	if err := breakers.check(f); err != nil {
		return err
	}
	var folds map[string]events.Snapshot
	if st, ok := f.(Streamer); ok && at.set {
		if folds, err = st.StateAt(at.t.Add(1), breakers.keep); err != nil { // records up to at, inclusive
			var ce *events.CompactedError
			if errors.As(err, &ce) {
				return fmt.Errorf("%s: breaker %q: its records up to seq %d are kept only as a snapshot: the journal cannot give its state at %s", pos[0], ce.Breaker, ce.Base, tableTime(at.t))
			}
			return err
		}
	}
	var snaps []events.Snapshot
	for _, name := range f.Breakers() {
		if !breakers.keep(name) {
			continue
		}
		var s events.Snapshot
		switch {
		case folds != nil:
			var ok bool
			if s, ok = folds[name]; !ok {
				s = events.Initial(name)
			}
		case at.set:
			s, err = stateAt(f, name, at.t)
		default:
			s, err = events.Load(context.Background(), f, name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		snaps = append(snaps, s)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, s := range snaps {
			j := stateJSON{Breaker: s.Breaker, Seq: s.Seq, State: s.State.String(), Opens: s.Opens}
			if s.Seq > 0 {
				since := s.Since.UTC()
				j.Event, j.Since = s.Event.String(), &since
			}
			if until, open := s.OpenUntil(); open {
				until = until.UTC()
				j.OpenFor, j.OpenUntil, j.Remaining = s.OpenFor.String(), &until, max(until.Sub(at.t), 0).String()
			}
			if err := enc.Encode(j); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BREAKER\tSTATE\tSEQ\tSINCE (UTC)\tLAST EVENT\tOPEN UNTIL (UTC)\tREMAINING")
	for _, s := range snaps {
		until, remaining := "-", "-"
		if u, open := s.OpenUntil(); open {
			until = tableTime(u)
			if d := u.Sub(at.t); d > 0 {
				remaining = duration(d)
			} else {
				remaining = "0s (over: the next call probes)"
			}
		}
		since, event := "-", "-"
		if s.Seq > 0 {
			since, event = tableTime(s.Since), s.Event.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Breaker, s.State, s.Seq, since, event, until, remaining)
	}
	return tw.Flush()
}

// stateAt returns the state of breaker name at t: the fold of its
// snapshot and of its records up to t, inclusive. A breaker with no
// record by then is closed, at seq 0. When the records up to t were
// compacted away, so that the journal only knows a later state, it is an
// error.
func stateAt(f Journal, name string, t time.Time) (events.Snapshot, error) {
	ctx := context.Background()
	base, err := f.Snapshot(ctx, name)
	if err != nil {
		return events.Snapshot{}, err
	}
	if base.Seq > 0 && base.Since.After(t) {
		return events.Snapshot{}, fmt.Errorf("breaker %q: its records up to seq %d, of %s, are kept only as a snapshot: the journal cannot give its state at %s",
			name, base.Seq, tableTime(base.Since), tableTime(t))
	}
	recs, err := f.Read(ctx, name, base.Seq)
	if err != nil {
		return events.Snapshot{}, err
	}
	n := 0
	for n < len(recs) && !recs[n].Time.After(t) {
		n++
	}
	return events.ReplayFrom(base, recs[:n])
}
