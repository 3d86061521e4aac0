package main

import (
	"context"
	"encoding/csv"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

const exportHeader = "time,breaker,seq,event,from,to,open_for,observe_only,writer,id," +
	"reason.policy,reason.failures,reason.successes,reason.threshold,reason.calls,reason.slow,reason.rate," +
	"reason.rate_threshold,reason.min_calls,reason.slower_than,reason.retry_after,reason.last_error,reason.operator,reason.note\n"

func TestExportCSV(t *testing.T) {
	path := journal(t)
	code, out, errOut := cli(t, day.Add(time.Hour), "export", "-breaker", "payments", path)
	want(t, code, out, errOut, 0, exportHeader+
		"2026-11-24T10:00:01Z,payments,1,trip,closed,open,30s,false,api-1,,consecutive_failures,5,,5,,,,,,,,EOF,,\n"+
		"2026-11-24T10:00:31Z,payments,2,probe,open,half_open,,false,,,open_timeout,,,,,,,,,,,,,\n"+
		"2026-11-24T10:00:32Z,payments,3,retrip,half_open,open,30s,false,,,probe_failure,1,,,,,,,,,,EOF,,\n"+
		"2026-11-24T10:00:40Z,payments,4,force_close,open,closed,,false,api-2,,manual,,,,,,,,,,,,ops,maintenance over\n", "")
}

func TestExportJSONLinesIsTheJournalEncoding(t *testing.T) {
	path := journal(t)
	code, out, errOut := cli(t, day, "export", "-format", "jsonl", "-event", "trip", path)
	var wantOut strings.Builder
	for _, i := range []int{0, 1} {
		line, err := fixture()[i].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		wantOut.Write(line)
		wantOut.WriteByte('\n')
	}
	want(t, code, out, errOut, 0, wantOut.String(), "")
}

// Free text that a spreadsheet would take for a formula is exported as
// text; a comma, a quote or a newline is quoted as CSV quotes them, and
// the cell reads back whole.
func TestExportCSVGuardsFormulasAndQuotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "breakers.jsonl")
	f, err := filejournal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	notes := []string{`=HYPERLINK("http://evil")`, "a, \"quoted\"\nnote", "-1+2", "@SUM(A1)"}
	from := events.Closed
	for i, note := range notes {
		ev, to := events.ForceOpen, events.Open
		if from == events.Open {
			ev, to = events.ForceClose, events.Closed
		}
		r := events.Transition{Breaker: "payments", Seq: uint64(i + 1), Event: ev, From: from, To: to, Time: day.Add(time.Duration(i) * time.Second),
			Reason: events.Reason{Policy: events.PolicyManual, Operator: "ops", Note: note}}
		if to == events.Open {
			r.OpenFor = time.Minute
		}
		if err := f.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		from = to
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, day, "export", path)
	if code != 0 || errOut != "" {
		t.Fatalf("export: %d, %q", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != len(notes)+1 {
		t.Fatalf("the export reads back as %d rows, %v", len(rows), err)
	}
	wantNotes := []string{`'=HYPERLINK("http://evil")`, "a, \"quoted\"\nnote", "'-1+2", "'@SUM(A1)"}
	for i, w := range wantNotes {
		if got := rows[i+1][len(rows[i+1])-1]; got != w {
			t.Errorf("row %d note %q, want %q", i+1, got, w)
		}
	}
}

func TestExportNotesCompactedRecords(t *testing.T) {
	path := legacyCompacted(t)
	code, out, errOut := cli(t, day, "export", "-breaker", "payments", path)
	if code != 0 || errOut != "circuitry export: payments: seq 1 to 2 are kept only as a snapshot, and not exported\n" {
		t.Fatalf("export: %d, stderr %q", code, errOut)
	}
	if n := strings.Count(out, "\n"); n != 3 { // the header, seq 3 and 4
		t.Fatalf("%d lines, want the header and two records:\n%s", n, out)
	}
}

func TestExportUsageErrors(t *testing.T) {
	path := journal(t)
	for _, args := range [][]string{
		{"export", "-format", "xlsx", path},
		{"export"},
		{"export", path, path},
	} {
		if code, _, errOut := cli(t, day, args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want a usage error", args, code, errOut)
		}
	}
	if code, _, errOut := cli(t, day, "export", "-breaker", "nobody", path); code != 1 || !strings.Contains(errOut, "nobody") {
		t.Errorf("an unknown breaker: exit %d, %q", code, errOut)
	}
}
