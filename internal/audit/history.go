package audit

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

func (c *Command) history(args []string, stdout, stderr io.Writer, now time.Time) error {
	fs := c.newFlags("history", stderr)
	breakers, evs := nameSet{}, eventSet{}
	since, until := &timeFlag{now: now}, &timeFlag{now: now}
	fs.Var(breakers, "breaker", "only these breakers (comma-separated)")
	fs.Var(evs, "event", "only these events (comma-separated: trip, probe, recover, retrip, force_open, force_close, force_half_open)")
	fs.Var(since, "since", "only transitions at or after this `time`")
	fs.Var(until, "until", "only transitions before this `time`")
	asJSON := fs.Bool("json", false, "print JSON Lines in the journal's encoding instead of a table")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	f, rerr := c.open(pos[0], stderr)
	if f == nil {
		return rerr
	}
	if rerr == nil {
		if err := breakers.check(f); err != nil {
			return err
		}
	}
	all, err := entries(f)
	if err != nil {
		return err
	}
	var kept []entry
	for _, e := range all {
		if breakers.keep(e.Breaker) && (len(evs) == 0 || evs[e.Event]) &&
			(!since.set || !e.Time.Before(since.t)) && (!until.set || e.Time.Before(until.t)) {
			kept = append(kept, e)
		}
	}
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
