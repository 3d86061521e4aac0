package audit

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

func (c *Command) history(args []string, stdout, stderr io.Writer, now time.Time) error {
	fs := c.newFlags("history", stderr)
	sel := newSelection(fs, now)
	asJSON := fs.Bool("json", false, "print JSON Lines in the journal's encoding instead of a table")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	f, kept, rerr, err := c.selected(pos[0], sel, stderr)
	if err != nil {
		return err
	}
	breakers := sel.breakers
	if *asJSON {
		for _, e := range kept {
			b, err := e.Transition.MarshalJSON()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\n", b)
		}
		return rerr
	}
	for _, name := range f.Breakers() {
		if !breakers.keep(name) {
			continue
		}
		if s, _ := f.Snapshot(context.Background(), name); s.Seq > 0 {
			fmt.Fprintf(stdout, "# %s: seq 1 to %d kept only as a snapshot (compacted, or removed by the journal's limits): %s since %s (%s)\n", name, s.Seq, s.State, tableTime(s.Since), s.Event)
		}
	}
	printTable(stdout, kept)
	return rerr
}

// selection is the filters history and export share.
type selection struct {
	breakers     nameSet
	evs          eventSet
	since, until *timeFlag
}

func newSelection(fs *flag.FlagSet, now time.Time) *selection {
	s := &selection{breakers: nameSet{}, evs: eventSet{}, since: &timeFlag{now: now}, until: &timeFlag{now: now}}
	fs.Var(s.breakers, "breaker", "only these breakers (comma-separated)")
	fs.Var(s.evs, "event", "only these events (comma-separated: trip, probe, recover, retrip, force_open, force_close, force_half_open)")
	fs.Var(s.since, "since", "only transitions at or after this `time`")
	fs.Var(s.until, "until", "only transitions before this `time`")
	return s
}

func (s *selection) keep(e entry) bool {
	return s.breakers.keep(e.Breaker) && (len(s.evs) == 0 || s.evs[e.Event]) &&
		(!s.since.set || !e.Time.Before(s.since.t)) && (!s.until.set || e.Time.Before(s.until.t))
}

// selected opens the journal at addr and returns the transitions sel
// keeps. rerr is the journal's error after what it could read (a bad
// record); err, one that leaves nothing to show.
func (c *Command) selected(addr string, sel *selection, stderr io.Writer) (f Journal, kept []entry, rerr, err error) {
	f, rerr = c.open(addr, stderr)
	if f == nil {
		return nil, nil, nil, rerr
	}
	if rerr == nil {
		if err := sel.breakers.check(f); err != nil {
			return nil, nil, nil, err
		}
	}
	all, err := entries(f)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, e := range all {
		if sel.keep(e) {
			kept = append(kept, e)
		}
	}
	return f, kept, rerr, nil
}

func printTable(w io.Writer, es []entry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tBREAKER\tSEQ\tEVENT\tFROM\tTO\tLASTED\tOPEN FOR\tWRITER\tREASON")
	for _, e := range es {
		lasted := duration(e.lasted)
		if e.current {
			lasted = "current"
		}
		openFor := "-"
		if e.To == events.Open {
			openFor = duration(e.OpenFor)
		}
		event := e.Event.String()
		if e.ObserveOnly {
			event += " (observe-only)" // it would have happened in an enforcing breaker
		}
		writer := e.Writer
		if writer == "" {
			writer = "-" // a record of format version 1
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			tableTime(e.Time), e.Breaker, e.Seq, event, e.From, e.To, lasted, openFor, writer, reasonText(e.Reason))
	}
	tw.Flush()
}
