package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// day is when the fixture's transitions happen.
var day = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// fixture is the history the tests query: payments trips, probes, re-trips
// and is closed by an operator; quotes trips and stays open.
func fixture() []events.Transition {
	at := func(s int) time.Time { return day.Add(time.Duration(s) * time.Second) }
	return []events.Transition{
		{Breaker: "payments", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open, Time: at(1), OpenFor: 30 * time.Second, Writer: "api-1",
			Reason: events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: "EOF"}},
		{Breaker: "quotes", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open, Time: at(5), OpenFor: time.Minute, Writer: "api-2",
			Reason: events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: "timeout"}},
		{Breaker: "payments", Seq: 2, Event: events.Probe, From: events.Open, To: events.HalfOpen, Time: at(31),
			Reason: events.Reason{Policy: events.PolicyOpenTimeout}},
		{Breaker: "payments", Seq: 3, Event: events.Retrip, From: events.HalfOpen, To: events.Open, Time: at(32), OpenFor: 30 * time.Second,
			Reason: events.Reason{Policy: events.PolicyProbeFailure, Failures: 1, LastError: "EOF"}},
		{Breaker: "payments", Seq: 4, Event: events.ForceClose, From: events.Open, To: events.Closed, Time: at(40), Writer: "api-2",
			Reason: events.Reason{Policy: events.PolicyManual, Operator: "ops", Note: "maintenance over"}},
	}
}

// journal writes the fixture to a journal file through events.Open and
// returns its path.
func journal(t *testing.T, opts ...filejournal.Option) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "breakers.jsonl")
	f, err := filejournal.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fixture() {
		if err := f.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// cli runs the command line at now and returns its exit status and output.
func cli(t *testing.T, now time.Time, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr, now)
	return code, stdout.String(), stderr.String()
}

// want checks an exit status and exact outputs.
func want(t *testing.T, code int, stdout, stderr string, wantCode int, wantStdout, wantStderr string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit status %d, want %d", code, wantCode)
	}
	if stdout != wantStdout {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, wantStdout)
	}
	if stderr != wantStderr {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantStderr)
	}
}

// cells rewrites each line of an aligned table as its cells joined by "|",
// so that a filtered table compares with rows of the full one whatever the
// column widths.
func cells(table string) string {
	return wideSpace.ReplaceAllString(table, "|")
}

var wideSpace = regexp.MustCompile(` {2,}`)

const historyHeader = "TIME (UTC)               BREAKER   SEQ  EVENT        FROM       TO         AFTER  OPEN FOR  WRITER  REASON\n"

var historyRows = []string{
	`2026-11-24 10:00:01.000  payments  1    trip         closed     open       -      30s       api-1   consecutive_failures failures=5 threshold=5 last_error="EOF"`,
	`2026-11-24 10:00:05.000  quotes    1    trip         closed     open       -      1m0s      api-2   consecutive_failures failures=5 threshold=5 last_error="timeout"`,
	`2026-11-24 10:00:31.000  payments  2    probe        open       half_open  30s    -         -       open_timeout`,
	`2026-11-24 10:00:32.000  payments  3    retrip       half_open  open       1s     30s       -       probe_failure failures=1 last_error="EOF"`,
	`2026-11-24 10:00:40.000  payments  4    force_close  open       closed     8s     -         api-2   manual operator="ops" note="maintenance over"`,
}

func rows(idx ...int) string {
	var b strings.Builder
	for _, i := range idx {
		b.WriteString(historyRows[i] + "\n")
	}
	return b.String()
}

func TestHistoryTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []filejournal.Option
	}{
		{"one segment", nil},
		{"a segment per record", []filejournal.Option{filejournal.WithSegmentSize(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := journal(t, tc.opts...)
			code, out, errOut := cli(t, day.Add(time.Hour), "history", path)
			want(t, code, out, errOut, 0, historyHeader+rows(0, 1, 2, 3, 4), "")
		})
	}
}

// legacyCompacted writes the fixture as a version before segments left it
// after compacting payments' first two records into a snapshot record, and
// returns its path.
func legacyCompacted(t *testing.T) string {
	t.Helper()
	lines := []string{`{"v":2,"kind":"snapshot","breaker":"payments","seq":2,"state":"half_open","event":"probe","since":"2026-11-24T10:00:31Z","opens":1}`}
	for _, i := range []int{1, 3, 4} {
		b, err := fixture()[i].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	path := filepath.Join(t.TempDir(), "breakers.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHistoryFilters(t *testing.T) {
	path := journal(t)
	now := day.Add(time.Hour)
	for _, tc := range []struct {
		name string
		args []string
		rows []int
	}{
		{"-breaker", []string{"-breaker", "payments"}, []int{0, 2, 3, 4}},
		{"-breaker list", []string{"-breaker", "quotes,payments"}, []int{0, 1, 2, 3, 4}},
		{"-event", []string{"-event", "trip"}, []int{0, 1}},
		{"-event list", []string{"-event", "retrip,force_close"}, []int{3, 4}},
		{"-since RFC 3339 is inclusive", []string{"-since", "2026-11-24T10:00:31Z"}, []int{2, 3, 4}},
		{"-until RFC 3339 is exclusive", []string{"-until", "2026-11-24T10:00:31Z"}, []int{0, 1}},
		{"-since a date", []string{"-since", "2026-11-24"}, []int{0, 1, 2, 3, 4}},
		{"-until a date", []string{"-until", "2026-11-24"}, nil},
		{"-since a duration ago", []string{"-since", "59m29s"}, []int{2, 3, 4}},
		{"every filter at once", []string{"-breaker", "payments", "-event", "trip,retrip", "-since", "2026-11-24T10:00:02Z", "-until", "2026-11-24T10:01:00Z"}, []int{3}},
		{"flags after the file", []string{"-event", "trip", "FILE", "-breaker", "quotes"}, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"history"}
			if !strings.Contains(strings.Join(tc.args, " "), "FILE") {
				args = append(args, path)
			}
			for _, a := range tc.args {
				if a == "FILE" {
					a = path
				}
				args = append(args, a)
			}
			code, out, errOut := cli(t, now, args...)
			want(t, code, cells(out), errOut, 0, cells(historyHeader+rows(tc.rows...)), "")
		})
	}
}

func TestHistoryJSONIsTheJournalEncoding(t *testing.T) {
	path := journal(t)
	code, out, errOut := cli(t, day, "history", "--json", "-breaker", "quotes", path)
	line, err := fixture()[1].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want(t, code, out, errOut, 0, string(line)+"\n", "")
	recs, err := events.DecodeLines(strings.NewReader(out))
	if err != nil || len(recs) != 1 {
		t.Fatalf("DecodeLines of the output: %v, %v", recs, err)
	}
}

func TestHistoryNotesCompactedRecords(t *testing.T) {
	path := legacyCompacted(t)
	code, out, errOut := cli(t, day, "history", path)
	want(t, code, cells(out), errOut, 0,
		"# payments: seq 1 to 2 kept only as a snapshot (compacted, or removed by the journal's limits): half_open since 2026-11-24 10:00:31.000 (probe)\n"+
			cells(historyHeader+rows(1, 3, 4)), "")
}

func TestUnknownBreakerIsAnError(t *testing.T) {
	path := journal(t)
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"history", []string{"history", "-breaker", "ledger", path}, `no breaker "ledger" in the journal (it holds: payments, quotes)`},
		{"history, one of two unknown", []string{"history", "-breaker", "payments,ledger", path}, `no breaker "ledger" in the journal (it holds: payments, quotes)`},
		{"history, two unknown", []string{"history", "-breaker", "ledger,billing", path}, `no breakers "billing", "ledger" in the journal (it holds: payments, quotes)`},
		{"history -json", []string{"history", "-json", "-breaker", "ledger", path}, `no breaker "ledger" in the journal`},
		{"state", []string{"state", "-breaker", "ledger", path}, `no breaker "ledger" in the journal (it holds: payments, quotes)`},
		{"state -at", []string{"state", "-breaker", "ledger", "-at", "2026-11-24T10:00:20Z", path}, `no breaker "ledger" in the journal`},
		{"state -json", []string{"state", "-json", "-breaker", "ledger", path}, `no breaker "ledger" in the journal`},
		{"diagram", []string{"diagram", "-breaker", "no-such-breaker", path}, `no breaker "no-such-breaker" in the journal (it holds: payments, quotes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, day, tc.args...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, "circuitry "+tc.args[0]+": "+tc.says) {
				t.Fatalf("status %d, stdout %q, stderr %q; want 1, nothing, and %q", code, out, errOut, tc.says)
			}
		})
	}
	t.Run("an empty journal", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty.jsonl")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := cli(t, day, "diagram", "-breaker", "payments", empty)
		want(t, code, out, errOut, 1, "", `circuitry diagram: no breaker "payments" in the journal (it holds: no breaker)`+"\n")
	})
}

func TestHistoryOfATornJournal(t *testing.T) {
	path := journal(t)
	appendTo(t, path, `{"v":1,"breaker":"quotes","se`)
	code, out, errOut := cli(t, day, "history", path)
	want(t, code, out, errOut, 0, historyHeader+rows(0, 1, 2, 3, 4),
		"note: "+path+": ignored 29 bytes after the last complete record (an append in progress, or torn by a crash: the service cuts them when it opens the journal)\n")
}

func TestHistoryOfACorruptJournalPrintsWhatIsReadable(t *testing.T) {
	path := journal(t)
	corrupt(t, path, 4)
	code, out, errOut := cli(t, day, "history", path)
	// What is readable: payments' seq 1 and quotes' seq 1; the bad line is
	// the fourth, after the segment's header.
	want(t, code, cells(out), errOut, 1, cells(historyHeader+rows(0, 1)),
		`circuitry history: circuitry: journal `+path+`: line 4: corrupt record: undecodable record: invalid character 'o' in literal null (expecting 'u')`+"\n")
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// changeLine replaces old with new in line n (1-based) of the file.
func changeLine(t *testing.T, path string, n int, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if !strings.Contains(lines[n-1], old) {
		t.Fatalf("line %d %q does not hold %q", n, lines[n-1], old)
	}
	lines[n-1] = strings.Replace(lines[n-1], old, new, 1)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// corrupt replaces line n (1-based) of the file with "not json".
func corrupt(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines[n-1] = "not json\n"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	t.Run("a good journal", func(t *testing.T) {
		path := journal(t)
		code, out, errOut := cli(t, day, "verify", path)
		want(t, code, out, errOut, 0,
			path+": ok: 2 breakers, 5 transition records, 0 snapshot records; latest transition 2026-11-24 10:00:40.000 payments #4 force_close\n"+
				"segments: 1\n"+
				"chain: 3 records linked (bare SHA-256: it catches accidents and partial edits, not a rewrite by someone who recomputes it), 2 with no predecessor to link to\n"+
				"heads: none given (-head): records dropped from the end of the journal leave a valid chain\n", "")
	})
	t.Run("a compacted journal of a version before segments", func(t *testing.T) {
		path := legacyCompacted(t)
		code, out, errOut := cli(t, day, "verify", path)
		want(t, code, out, errOut, 0,
			path+": ok: 2 breakers, 3 transition records, 1 snapshot record; latest transition 2026-11-24 10:00:40.000 payments #4 force_close\n"+
				"segments: 1\n"+
				"chain: no record is linked to its predecessor (written before records were chained): edits cannot be detected\n", "")
	})
	t.Run("a journal a service has open", func(t *testing.T) {
		path := journal(t)
		f, err := filejournal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if code, _, errOut := cli(t, day, "verify", path); code != 0 {
			t.Fatalf("verify of a locked journal: status %d: %s", code, errOut)
		}
	})
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string) string // returns the path to verify
		says   string
	}{
		{"an undecodable line", func(t *testing.T, p string) string { corrupt(t, p, 4); return p },
			`line 4: corrupt record: undecodable record: invalid character 'o' in literal null (expecting 'u')`},
		{"a gap", func(t *testing.T, p string) string {
			b, _ := os.ReadFile(p)
			lines := strings.SplitAfter(string(b), "\n")
			// The header, payments' seq 1, quotes' seq 1, then seq 3.
			os.WriteFile(p, []byte(lines[0]+lines[1]+lines[2]+lines[4]), 0o600)
			return p
		}, `line 4 (breaker "payments", seq 3): corrupt record: sequence gap: seq 3, want 2`},
		{"a changed record", func(t *testing.T, p string) string {
			// Backdate payments' seq 2: seq 3's link to it breaks.
			changeLine(t, p, 4, `"time":"2026-11-24T10:00:31Z"`, `"time":"2026-11-24T10:00:30Z"`)
			return p
		}, `line 5 (breaker "payments", seq 3): corrupt record: broken hash chain: breaker "payments" seq 3: prev_hash ` /* then the hashes */},
		{"a newer format", func(t *testing.T, p string) string {
			appendTo(t, p, `{"v":3,"breaker":"payments","seq":5}`+"\n")
			return p
		}, `line 7: newer journal format: format version 3 of a transition record, this build reads 1 to 2: the file was written by a newer circuitry`},
		{"a missing file", func(t *testing.T, p string) string { return p + ".missing" }, `.missing: open: no such file or directory`},
		{"a directory", func(t *testing.T, p string) string { return filepath.Dir(p) }, `: open: is a directory, not a journal file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.damage(t, journal(t))
			code, out, errOut := cli(t, day, "verify", path)
			if code != 1 || out != "" {
				t.Fatalf("status %d, stdout %q; want 1 and nothing", code, out)
			}
			if !strings.HasPrefix(errOut, "circuitry verify: circuitry: journal "+path+": ") || !strings.Contains(errOut, tc.says) {
				t.Fatalf("stderr %q, want the path and %q", errOut, tc.says)
			}
		})
	}
}

func TestState(t *testing.T) {
	path := journal(t)
	t.Run("table", func(t *testing.T) {
		code, out, errOut := cli(t, day.Add(25*time.Second), "state", path)
		want(t, code, out, errOut, 0,
			"BREAKER   STATE   SEQ  SINCE (UTC)              LAST EVENT   OPEN UNTIL (UTC)         REMAINING\n"+
				"payments  closed  4    2026-11-24 10:00:40.000  force_close  -                        -\n"+
				"quotes    open    1    2026-11-24 10:00:05.000  trip         2026-11-24 10:01:05.000  40s\n", "")
	})
	t.Run("-at after the open period", func(t *testing.T) {
		code, out, errOut := cli(t, day, "state", "-breaker", "quotes", "-at", "2026-11-24T10:02:00Z", path)
		want(t, code, out, errOut, 0,
			"BREAKER  STATE  SEQ  SINCE (UTC)              LAST EVENT  OPEN UNTIL (UTC)         REMAINING\n"+
				"quotes   open   1    2026-11-24 10:00:05.000  trip        2026-11-24 10:01:05.000  0s (over: the next call probes)\n", "")
	})
	t.Run("json", func(t *testing.T) {
		code, out, errOut := cli(t, day.Add(25*time.Second), "state", "-json", path)
		want(t, code, out, errOut, 0,
			`{"breaker":"payments","seq":4,"state":"closed","event":"force_close","since":"2026-11-24T10:00:40Z"}`+"\n"+
				`{"breaker":"quotes","seq":1,"state":"open","event":"trip","since":"2026-11-24T10:00:05Z","open_for":"1m0s","open_until":"2026-11-24T10:01:05Z","remaining":"40s","opens":1}`+"\n", "")
	})
	t.Run("compacted journal folds the snapshot", func(t *testing.T) {
		compacted := legacyCompacted(t)
		_, full, _ := cli(t, day.Add(25*time.Second), "state", path)
		code, out, errOut := cli(t, day.Add(25*time.Second), "state", compacted)
		want(t, code, out, errOut, 0, full, "")
	})
	t.Run("corrupt journal", func(t *testing.T) {
		bad := journal(t)
		corrupt(t, bad, 2)
		code, out, errOut := cli(t, day, "state", bad)
		if code != 1 || out != "" || !strings.Contains(errOut, bad+": line 2: corrupt record") {
			t.Fatalf("status %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}

func TestStateAt(t *testing.T) {
	path := journal(t)
	const header = "BREAKER|STATE|SEQ|SINCE (UTC)|LAST EVENT|OPEN UNTIL (UTC)|REMAINING\n"
	// now is long after every record: -at alone decides what is folded.
	now := day.Add(24 * time.Hour)
	for _, tc := range []struct {
		name, at string
		rows     []string
	}{
		{"before any record", "2026-11-24T09:00:00Z", []string{
			"payments|closed|0|-|-|-|-",
			"quotes|closed|0|-|-|-|-",
		}},
		{"after both trips", "2026-11-24T10:00:20Z", []string{
			"payments|open|1|2026-11-24 10:00:01.000|trip|2026-11-24 10:00:31.000|11s",
			"quotes|open|1|2026-11-24 10:00:05.000|trip|2026-11-24 10:01:05.000|45s",
		}},
		{"a record at T counts", "2026-11-24T10:00:31Z", []string{
			"payments|half_open|2|2026-11-24 10:00:31.000|probe|-|-",
			"quotes|open|1|2026-11-24 10:00:05.000|trip|2026-11-24 10:01:05.000|34s",
		}},
		{"after the retrip", "2026-11-24T10:00:35Z", []string{
			"payments|open|3|2026-11-24 10:00:32.000|retrip|2026-11-24 10:01:02.000|27s",
			"quotes|open|1|2026-11-24 10:00:05.000|trip|2026-11-24 10:01:05.000|30s",
		}},
		{"after every record", "2026-11-24T10:02:00Z", []string{
			"payments|closed|4|2026-11-24 10:00:40.000|force_close|-|-",
			"quotes|open|1|2026-11-24 10:00:05.000|trip|2026-11-24 10:01:05.000|0s (over: the next call probes)",
		}},
		{"a date", "2026-11-24", []string{
			"payments|closed|0|-|-|-|-",
			"quotes|closed|0|-|-|-|-",
		}},
		{"a duration ago", "23h59m25s", []string{ // now - 23h59m25s = 10:00:35
			"payments|open|3|2026-11-24 10:00:32.000|retrip|2026-11-24 10:01:02.000|27s",
			"quotes|open|1|2026-11-24 10:00:05.000|trip|2026-11-24 10:01:05.000|30s",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, now, "state", "-at", tc.at, path)
			want(t, code, cells(out), errOut, 0, header+strings.Join(tc.rows, "\n")+"\n", "")
		})
	}
	t.Run("json", func(t *testing.T) {
		code, out, errOut := cli(t, now, "state", "-json", "-at", "2026-11-24T10:00:31Z", path)
		want(t, code, out, errOut, 0,
			`{"breaker":"payments","seq":2,"state":"half_open","event":"probe","since":"2026-11-24T10:00:31Z","opens":1}`+"\n"+
				`{"breaker":"quotes","seq":1,"state":"open","event":"trip","since":"2026-11-24T10:00:05Z","open_for":"1m0s","open_until":"2026-11-24T10:01:05Z","remaining":"34s","opens":1}`+"\n", "")
	})
	t.Run("json before any record", func(t *testing.T) {
		code, out, errOut := cli(t, now, "state", "-json", "-breaker", "quotes", "-at", "2026-11-24T10:00:04Z", path)
		want(t, code, out, errOut, 0, `{"breaker":"quotes","seq":0,"state":"closed"}`+"\n", "")
	})
	t.Run("without -at, every record, measured now", func(t *testing.T) {
		_, atNow, _ := cli(t, day.Add(25*time.Second), "state", "-at", "2026-11-24T10:00:25Z", path)
		_, plain, _ := cli(t, day.Add(25*time.Second), "state", path)
		if atNow == plain {
			t.Fatalf("-at 10:00:25 and no -at give the same table:\n%s", plain)
		}
		_, atEnd, _ := cli(t, day.Add(25*time.Second), "state", "-at", "2026-11-24T10:00:40Z", path)
		_, plainEnd, _ := cli(t, day.Add(40*time.Second), "state", path)
		if atEnd != plainEnd {
			t.Fatalf("-at the last record:\n%s\nno -at, then:\n%s", atEnd, plainEnd)
		}
	})
	t.Run("compacted records", func(t *testing.T) {
		// payments' seq 1 and 2 (to 10:00:31) are folded into a snapshot.
		compacted := legacyCompacted(t)
		code, out, errOut := cli(t, now, "state", "-at", "2026-11-24T10:00:35Z", compacted)
		_, full, _ := cli(t, now, "state", "-at", "2026-11-24T10:00:35Z", path)
		want(t, code, out, errOut, 0, full, "")

		code, out, errOut = cli(t, now, "state", "-at", "2026-11-24T10:00:20Z", compacted)
		want(t, code, out, errOut, 1, "",
			`circuitry state: `+compacted+`: breaker "payments": its records up to seq 2 are kept only as a snapshot: the journal cannot give its state at 2026-11-24 10:00:20.000`+"\n")

		// The other breaker's records up to then are held.
		code, out, errOut = cli(t, now, "state", "-breaker", "quotes", "-at", "2026-11-24T10:00:20Z", compacted)
		_, full, _ = cli(t, now, "state", "-breaker", "quotes", "-at", "2026-11-24T10:00:20Z", path)
		want(t, code, out, errOut, 0, full, "")
	})
}

const diagramEdges = `    closed --> open: force_open
    closed --> open: trip
    half_open --> closed: force_close
    half_open --> open: force_open
    half_open --> closed: recover
    half_open --> open: retrip
    open --> closed: force_close
    open --> half_open: force_half_open
    open --> half_open: probe
`

func TestDiagram(t *testing.T) {
	path := journal(t)
	for _, tc := range []struct {
		name  string
		args  []string
		start string
	}{
		{"without a journal", nil, "closed"},
		{"an open breaker", []string{"-breaker", "quotes", path}, "open"},
		{"a closed breaker", []string{path, "-breaker", "payments"}, "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, day, append([]string{"diagram"}, tc.args...)...)
			want(t, code, out, errOut, 0, "stateDiagram-v2\n    [*] --> "+tc.start+"\n"+diagramEdges, "")
		})
	}
	t.Run("a journal of one breaker needs no -breaker", func(t *testing.T) {
		one := filepath.Join(t.TempDir(), "one.jsonl")
		os.WriteFile(one, []byte(mustLine(t, fixture()[1])), 0o600)
		code, out, errOut := cli(t, day, "diagram", one)
		want(t, code, out, errOut, 0, "stateDiagram-v2\n    [*] --> open\n"+diagramEdges, "")
	})
	t.Run("a journal of two breakers needs -breaker", func(t *testing.T) {
		code, _, errOut := cli(t, day, "diagram", path)
		if code != 2 || !strings.Contains(errOut, "the journal holds 2 breakers (payments, quotes): name one with -breaker") {
			t.Fatalf("status %d, stderr %q", code, errOut)
		}
	})
}

func mustLine(t *testing.T, r events.Transition) string {
	t.Helper()
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestUsageErrors(t *testing.T) {
	path := journal(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no command", nil, 2, "usage:"},
		{"unknown command", []string{"replay", path}, 2, `circuitry replay: usage: unknown command "replay"`},
		{"no file", []string{"verify"}, 2, `circuitry verify: usage: want 1 file argument, got 0 []`},
		{"two files", []string{"history", path, path}, 2, `want 1 file argument, got 2`},
		{"unknown event", []string{"history", "-event", "explode", path}, 2, `invalid value "explode" for flag -event: unknown event "explode" (want trip, probe, recover, retrip, force_open, force_close, force_half_open)`},
		{"bad time", []string{"history", "-since", "yesterday", path}, 2, `"yesterday" is not an RFC 3339 time (2026-11-24T15:04:05Z), a date (2026-11-24) or a duration ago (36h)`},
		{"unknown flag", []string{"state", "-verbose", path}, 2, "flag provided but not defined: -verbose"},
		{"-breaker without a file", []string{"diagram", "-breaker", "quotes"}, 2, "-breaker needs a journal FILE"},
		{"help", []string{"help"}, 0, ""},
		{"command help", []string{"history", "-h"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, day, tc.args...)
			if code != tc.code || !strings.Contains(errOut+out, tc.says) {
				t.Fatalf("status %d (want %d), output %q %q; want it to say %q", code, tc.code, out, errOut, tc.says)
			}
		})
	}
}

func TestVerifyKeyAndHeads(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "chain.key")
	key := "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(dir, "other.key")
	if err := os.WriteFile(otherKey, []byte("fedcba9876543210fedcba9876543210"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortKey := filepath.Join(dir, "short.key")
	if err := os.WriteFile(shortKey, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	var heads []string
	keyed := journal(t, filejournal.WithChainKey([]byte(key)), filejournal.WithSegmentSize(1),
		filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { heads = append(heads, c.Head) }))
	bare := journal(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string // in stdout when code is 0, else in stderr
	}{
		{"keyed, with the key", []string{"-key-file", keyFile, keyed}, 0, "chain: 3 records linked (keyed with the key given: no one without the key could have rewritten it), 2 with no predecessor to link to\n"},
		{"keyed, without the key", []string{keyed}, 0, "chain: 0 records linked (keyed, not checked: give -key-file to check it), 3 unchecked"},
		{"keyed, with another key", []string{"-key-file", otherKey, keyed}, 1, "broken hash chain"},
		{"bare, with a key: a chain recomputed without the key", []string{"-key-file", keyFile, bare}, 1, "the segment header has no mac where a keyed chain is required"},
		{"a key too short", []string{"-key-file", shortKey, keyed}, 2, "a chain key needs at least 16 bytes"},
		{"a missing key file", []string{"-key-file", filepath.Join(dir, "none"), keyed}, 1, "no such file"},
		{"witnessed heads found", []string{"-key-file", keyFile, "-head", heads[0], "-head", heads[3], keyed}, 0, "heads: 2 witnessed heads found: nothing up to their checkpoints was changed or dropped\n"},
		{"a head not found", []string{"-head", "sha256:00000000000000000000000000000000", keyed}, 1, "witnessed head not found: sha256:00000000000000000000000000000000 is not the link hash of any sealed segment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, day, append([]string{"verify"}, tc.args...)...)
			got := out
			if tc.code != 0 {
				got = errOut
			}
			if code != tc.code || !strings.Contains(got, tc.says) {
				t.Fatalf("status %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tc.code, tc.says)
			}
		})
	}
}

// verify -segment checks one sealed segment on its own and prints its head,
// the one its checkpoint handed over.
func TestVerifyOneSegment(t *testing.T) {
	var heads []filejournal.Checkpoint
	path := journal(t, filejournal.WithSegmentSize(1), filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { heads = append(heads, c) }))
	seg := heads[2]
	code, out, errOut := cli(t, day, "verify", "-segment", "-head", seg.Head, seg.Path)
	want(t, code, out, errOut, 0,
		seg.Path+": ok: 2 breakers, 1 transition record, 2 snapshot records; latest transition 2026-11-24 10:00:31.000 payments #2 probe\n"+
			"segments: 1\n"+
			"chain: 1 record linked (bare SHA-256: it catches accidents and partial edits, not a rewrite by someone who recomputes it)\n"+
			"heads: 1 witnessed head found: the segment is the one sealed, unchanged (verify the journal to check the segments before it)\n"+
			"head: "+seg.Head+"\n", "")
	code, _, errOut = cli(t, day, "verify", "-segment", "-head", heads[0].Head, seg.Path)
	if code != 1 || !strings.Contains(errOut, "witnessed head not found") {
		t.Fatalf("verify -segment with another segment's head: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = cli(t, day, "verify", "-segment", path)
	if code != 1 || !strings.Contains(errOut, "not a sealed segment") {
		t.Fatalf("verify -segment of the active segment: exit %d, stderr %q", code, errOut)
	}
}

// A witnessed head after a retention pass vouches for what the journal
// still holds, not for the segments retention removed.
func TestVerifyHeadsAfterRetention(t *testing.T) {
	var heads []filejournal.Checkpoint
	path := journal(t, filejournal.WithSegmentSize(1), filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { heads = append(heads, c) }))
	var removed filejournal.Removal
	newest, err := os.Stat(heads[len(heads)-1].Path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := filejournal.Open(path, filejournal.WithMaxBytes(newest.Size()), filejournal.WithRetentionHandler(func(r filejournal.Removal) { removed = r }))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if removed.Through == 0 || removed.Through >= heads[len(heads)-1].Sealed {
		t.Fatalf("retention removed through %d of %d sealed segments", removed.Through, len(heads))
	}
	code, out, errOut := cli(t, day, "verify", "-head", heads[len(heads)-1].Head, path)
	wantLine := fmt.Sprintf("heads: 1 witnessed head found: nothing after segment %d (the last retention removed) up to its checkpoint was changed or dropped\n", removed.Through)
	if code != 0 || errOut != "" || !strings.Contains(out, wantLine) {
		t.Fatalf("verify -head after retention: exit %d, stdout %q, stderr %q; want it to say %q", code, out, errOut, wantLine)
	}
}

// A journal written before records were chained has no chain to speak of,
// but a head witnessed since it was first sealed is still found, and said.
func TestVerifyHeadOfAnUnchainedJournal(t *testing.T) {
	path := legacyCompacted(t)
	var head string
	f, err := filejournal.Open(path, filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { head = c.Head }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, day, "verify", "-head", head, path)
	if code != 0 || !strings.Contains(out, "chain: no record is linked to its predecessor") ||
		!strings.Contains(out, "heads: 1 witnessed head found: nothing up to its checkpoint was changed or dropped\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want the chain's absence and the head found, both said", code, out, errOut)
	}
}

// After a key change, verify checks the links made under the old key with
// -old-key-file, and finds them broken without it.
func TestVerifyAfterAKeyChange(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := "the key of last year", "the key of this year"
	oldFile, newFile := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	for f, k := range map[string]string{oldFile: oldKey, newFile: newKey} {
		if err := os.WriteFile(f, []byte(k+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "breakers.jsonl")
	recs := fixture()
	for i, opt := range []filejournal.Option{filejournal.WithChainKey([]byte(oldKey)), filejournal.WithChainKey([]byte(newKey), []byte(oldKey))} {
		f, err := filejournal.Open(path, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs[i*3 : min(i*3+3, len(recs))] {
			if err := f.Append(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := cli(t, day, "verify", "-key-file", newFile, "-old-key-file", oldFile, path)
	if code != 0 || !strings.Contains(out, "chain: 3 records linked (keyed with the key given") {
		t.Fatalf("with the old key: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = cli(t, day, "verify", "-key-file", newFile, path)
	if code != 1 || !strings.Contains(errOut, "broken hash chain") {
		t.Fatalf("without the old key: exit %d, stderr %q; want a broken chain", code, errOut)
	}
	code, _, errOut = cli(t, day, "verify", "-old-key-file", oldFile, path)
	if code != 2 || !strings.Contains(errOut, "-old-key-file needs -key-file") {
		t.Fatalf("an old key alone: exit %d, stderr %q; want a usage error", code, errOut)
	}
}
