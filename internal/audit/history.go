package audit

import (
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
	f, rerr, err := c.openSelected(pos[0], sel, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		return firstErr(sel.each(f, func(e Entry) error {
			b, err := e.Transition.MarshalJSON()
			if err == nil {
				_, err = fmt.Fprintf(stdout, "%s\n", b)
			}
			return err
		}), rerr)
	}
	gone, err := pruned(f)
	if err != nil {
		return err
	}
	for _, name := range f.Breakers() {
		if s, ok := gone[name]; ok && sel.breakers.keep(name) {
			fmt.Fprintf(stdout, "# %s: seq 1 to %d kept only as a snapshot (compacted, or removed by the journal's limits): %s since %s (%s)\n", name, s.Seq, s.State, tableTime(s.Since), s.Event)
		}
	}
	t := newTable(stdout)
	err = sel.each(f, t.row)
	return firstErr(err, t.flush(), rerr)
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

// filter is what of the selection a journal filters on.
func (s *selection) filter() Filter {
	var f Filter
	if len(s.breakers) > 0 {
		f.Breakers = s.breakers.keep
	}
	if s.since.set {
		f.Since = s.since.t
	}
	if s.until.set {
		f.Until = s.until.t
	}
	return f
}

// each calls fn with each transition of f that the selection keeps, in
// the journal's order, one at a time.
func (s *selection) each(f Journal, fn func(Entry) error) error {
	for e, err := range records(f, s.filter()) {
		if err != nil {
			return err
		}
		if len(s.evs) > 0 && !s.evs[e.Event] {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// openSelected opens the journal at addr and checks the breakers the
// selection names. rerr is the journal's error after what it could read
// (a bad record); err, one that leaves nothing to show.
func (c *Command) openSelected(addr string, sel *selection, stderr io.Writer) (f Journal, rerr, err error) {
	f, rerr = c.open(addr, stderr)
	if f == nil {
		return nil, nil, rerr
	}
	if rerr == nil {
		if err := sel.breakers.check(f); err != nil {
			return nil, nil, err
		}
	}
	return f, rerr, nil
}

// firstErr returns the first of errs that is not nil. A journal that
// reports a bad record both when opened and when read reports it once.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// tableRows is how many rows the history table aligns at a time: the table
// streams, so its columns are aligned within each run of rows.
const tableRows = 4096

// table is the history table, written as the records are read.
type table struct {
	w    io.Writer
	tw   *tabwriter.Writer
	rows int
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.start()
	return t
}

func (t *table) start() {
	t.tw = tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t.tw, "TIME (UTC)\tBREAKER\tSEQ\tEVENT\tFROM\tTO\tAFTER\tOPEN FOR\tWRITER\tREASON")
}

func (t *table) row(e Entry) error {
	after := "-"
	if !e.Since.IsZero() {
		after = duration(e.Time.Sub(e.Since))
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
	fmt.Fprintf(t.tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		tableTime(e.Time), e.Breaker, e.Seq, event, e.From, e.To, after, openFor, writer, reasonText(e.Reason))
	if t.rows++; t.rows%tableRows == 0 {
		return t.tw.Flush()
	}
	return nil
}

func (t *table) flush() error { return t.tw.Flush() }
