package audit

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// export writes the transitions the filters keep, for auditors and
// spreadsheets: CSV with a column per field (every reason field its own
// column), or JSON Lines in the journal's encoding.
func (c *Command) export(args []string, stdout, stderr io.Writer, now time.Time) error {
	fs := c.newFlags("export", stderr)
	sel := newSelection(fs, now)
	format := fs.String("format", "csv", "csv, or jsonl: the records in the journal's encoding")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *format != "csv" && *format != "jsonl" {
		return fmt.Errorf("%w: -format %q: want csv or jsonl", errUsage, *format)
	}
	f, rerr, err := c.openSelected(pos[0], sel, stderr)
	if err != nil {
		return err
	}
	gone, err := pruned(f)
	if err != nil {
		return err
	}
	for _, name := range f.Breakers() {
		if s, ok := gone[name]; ok && sel.breakers.keep(name) {
			fmt.Fprintf(stderr, "%s export: %s: seq 1 to %d are kept only as a snapshot, and not exported\n", c.Name, name, s.Seq)
		}
	}
	if *format == "jsonl" {
		return firstErr(sel.each(f, func(e Entry) error {
			b, err := e.Transition.MarshalJSON()
			if err == nil {
				_, err = fmt.Fprintf(stdout, "%s\n", b)
			}
			return err
		}), rerr)
	}
	w := csv.NewWriter(stdout)
	reasons := events.ReasonFieldNames()
	header := []string{"time", "breaker", "seq", "event", "from", "to", "open_for", "observe_only", "writer", "id"}
	for _, n := range reasons {
		header = append(header, "reason."+n)
	}
	if err := w.Write(header); err != nil {
		return err
	}
	row := make([]string, len(header))
	err = sel.each(f, func(e Entry) error {
		t := e.Transition
		openFor := ""
		if t.To == events.Open {
			openFor = t.OpenFor.String()
		}
		copy(row, []string{t.Time.UTC().Format(time.RFC3339Nano), cell(t.Breaker), strconv.FormatUint(t.Seq, 10),
			t.Event.String(), t.From.String(), t.To.String(), openFor, strconv.FormatBool(t.ObserveOnly), cell(t.Writer), cell(t.ID)})
		fields := map[string]events.Field{}
		for fd := range t.Reason.Fields() {
			fields[fd.Name] = fd
		}
		for i, n := range reasons {
			row[10+i] = fieldCell(fields[n])
		}
		return w.Write(row)
	})
	w.Flush()
	return firstErr(err, w.Error(), rerr)
}

// fieldCell is a reason field's value in a CSV cell: empty when unset.
func fieldCell(f events.Field) string {
	switch f.Kind {
	case events.KindCount:
		return strconv.FormatUint(f.Count, 10)
	case events.KindPercent:
		return strconv.FormatFloat(f.Percent, 'g', -1, 64)
	case events.KindDuration:
		return f.Duration.String()
	}
	return cell(f.Text)
}

// cell guards a text cell against a spreadsheet taking it for a formula
// (a cell that begins with =, +, -, @, a tab or a carriage return): it is
// written with a leading apostrophe, which spreadsheets show as text. The
// JSON Lines export is the exact record.
func cell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
