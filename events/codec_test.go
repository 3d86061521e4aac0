package events_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// The golden tests pin the version 1 wire format byte for byte: field
// names, field order, omission of empty fields, the time and duration
// formats. A change that makes them fail is a format change; a change that
// is not a pure addition must raise events.FormatVersion.
func TestMarshalJSONGolden(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name string
		rec  events.Transition
		want string
	}{
		{
			name: "trip with every reason field",
			rec: events.Transition{
				Breaker: "payments", Seq: 3, Event: events.Trip, From: events.Closed, To: events.Open,
				// 11:00:00.123456789 CET is 10:00:00.123456789 UTC.
				Time:    time.Date(2026, 11, 27, 11, 0, 0, 123456789, cet),
				OpenFor: 30 * time.Second,
				Reason: events.Reason{
					Policy: events.PolicyConsecutiveFailures, Failures: 5, Successes: 2, Threshold: 5,
					LastError: `dial tcp 10.0.0.7:5432: "connection refused"`, Operator: "alice", Note: "INC-42",
				},
			},
			want: `{"v":2,"breaker":"payments","seq":3,"event":"trip","from":"closed","to":"open",` +
				`"time":"2026-11-27T10:00:00.123456789Z","open_for":"30s",` +
				`"reason":{"policy":"consecutive_failures","failures":5,"successes":2,"threshold":5,` +
				`"last_error":"dial tcp 10.0.0.7:5432: \"connection refused\"","operator":"alice","note":"INC-42"}}`,
		},
		{
			name: "recover with empty reason",
			rec: events.Transition{
				Breaker: "payments", Seq: 5, Event: events.Recover, From: events.HalfOpen, To: events.Closed,
				Time: time.Date(2026, 11, 27, 10, 1, 0, 0, time.UTC),
			},
			want: `{"v":2,"breaker":"payments","seq":5,"event":"recover","from":"half_open","to":"closed",` +
				`"time":"2026-11-27T10:01:00Z","reason":{}}`,
		},
		{
			name: "force_half_open with operator and sub-second open_for elsewhere",
			rec: events.Transition{
				Breaker: "a/b c", Seq: 18446744073709551615, Event: events.ForceOpen, From: events.HalfOpen, To: events.Open,
				Time:    time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC),
				OpenFor: 1500 * time.Millisecond,
				Reason:  events.Reason{Policy: events.PolicyManual, Operator: "bob"},
			},
			want: `{"v":2,"breaker":"a/b c","seq":18446744073709551615,"event":"force_open","from":"half_open","to":"open",` +
				`"time":"2026-01-02T03:04:05.6Z","open_for":"1.5s","reason":{"policy":"manual","operator":"bob"}}`,
		},
		{
			name: "observe-only trip by a failure rate, with every window figure",
			rec: events.Transition{
				Breaker: "payments", Seq: 7, Event: events.Trip, From: events.Closed, To: events.Open,
				Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), OpenFor: time.Minute, ObserveOnly: true,
				Reason: events.Reason{
					Policy: events.PolicyFailureRate, Failures: 12, Calls: 20, Slow: 3,
					Rate: 60, RateThreshold: 50, MinCalls: 20, SlowerThan: 1500 * time.Millisecond, LastError: "EOF",
				},
			},
			want: `{"v":2,"breaker":"payments","seq":7,"event":"trip","from":"closed","to":"open",` +
				`"time":"2026-11-27T10:00:00Z","open_for":"1m0s","observe_only":true,` +
				`"reason":{"policy":"failure_rate","failures":12,"calls":20,"slow":3,"rate":60,"rate_threshold":50,` +
				`"min_calls":20,"slower_than":"1.5s","last_error":"EOF"}}`,
		},
		{
			name: "slow-call rate with a fractional rate",
			rec: events.Transition{
				Breaker: "search", Seq: 2, Event: events.Trip, From: events.Closed, To: events.Open,
				Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), OpenFor: 30 * time.Second,
				Reason: events.Reason{
					Policy: events.PolicySlowCallRate, Calls: 3, Slow: 2,
					Rate: 200.0 / 3, RateThreshold: 33.3, MinCalls: 3, SlowerThan: 2 * time.Second,
				},
			},
			want: `{"v":2,"breaker":"search","seq":2,"event":"trip","from":"closed","to":"open",` +
				`"time":"2026-11-27T10:00:00Z","open_for":"30s",` +
				`"reason":{"policy":"slow_call_rate","calls":3,"slow":2,"rate":66.66666666666667,"rate_threshold":33.3,` +
				`"min_calls":3,"slower_than":"2s"}}`,
		},
		{
			name: "half-open timeout",
			rec: events.Transition{
				Breaker: "payments", Seq: 9, Event: events.Retrip, From: events.HalfOpen, To: events.Open,
				Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), OpenFor: 4 * time.Minute,
				Reason: events.Reason{Policy: events.PolicyHalfOpenTimeout, Successes: 1, Threshold: 2},
			},
			want: `{"v":2,"breaker":"payments","seq":9,"event":"retrip","from":"half_open","to":"open",` +
				`"time":"2026-11-27T10:00:00Z","open_for":"4m0s",` +
				`"reason":{"policy":"half_open_timeout","successes":1,"threshold":2}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rec.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("MarshalJSON\n got  %s\n want %s", got, tc.want)
			}
			var back events.Transition
			if err := back.UnmarshalJSON(got); err != nil {
				t.Fatalf("UnmarshalJSON of the golden bytes: %v", err)
			}
			requireSameRecords(t, []events.Transition{back}, []events.Transition{tc.rec})
			if back.Time.Location() != time.UTC {
				t.Fatalf("decoded time is in %v, want UTC", back.Time.Location())
			}
		})
	}
}

func TestMarshalJSONRefusesInvalidRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  events.Transition
		want string
	}{
		{"zero event", rec("b", 1, 0, events.Closed, events.Open, t0, time.Second), "invalid event 0"},
		{"invalid from", rec("b", 1, events.Trip, 5, events.Open, t0, time.Second), "invalid state 5"},
		{"invalid to", rec("b", 1, events.Trip, events.Closed, 6, t0, time.Second), "invalid state 6"},
		{"year out of range", rec("b", 1, events.Trip, events.Closed, events.Open, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Second), "year"},
		{"NaN rate", func() events.Transition {
			r := rec("b", 1, events.Trip, events.Closed, events.Open, t0, time.Second)
			r.Reason.Rate = math.NaN()
			return r
		}(), "NaN"},
		{"infinite rate threshold", func() events.Transition {
			r := rec("b", 1, events.Trip, events.Closed, events.Open, t0, time.Second)
			r.Reason.RateThreshold = math.Inf(1)
			return r
		}(), "+Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.rec.MarshalJSON()
			if err == nil {
				t.Fatalf("MarshalJSON = %s, nil; want an error", b)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestEncodeDecodeLinesRoundTrip(t *testing.T) {
	in := append(history("payments", 13), history("search", 5)...)
	// Times in another zone, with a monotonic reading, and with every
	// reason field, must come back Equal.
	in[0].Time = time.Now()
	in[1].Time = time.Date(2026, 6, 1, 12, 0, 0, 1, time.FixedZone("X", -7*3600-30*60))
	in[2].Reason = events.Reason{Policy: "p", Failures: 1, Successes: 2, Threshold: 3,
		LastError: "line1\nline2\t\"\u2028<&>\x00", Operator: "o", Note: "日本語"}
	in[3].Breaker = "payments"
	// The window figures and the observe-only flag come back too.
	in[4].ObserveOnly = true
	in[4].Reason = events.Reason{Policy: events.PolicySlowCallRate, Failures: 1, Calls: 7, Slow: 5,
		Rate: 500.0 / 7, RateThreshold: 0.1, MinCalls: 7, SlowerThan: time.Nanosecond, LastError: "slow"}
	in[5].Reason = events.Reason{Policy: "my_policy", Failures: 1 << 63, Calls: 1<<64 - 1, Rate: 1e-300, RateThreshold: 100}
	var buf bytes.Buffer
	if err := events.EncodeLines(&buf, in); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != len(in) {
		t.Fatalf("EncodeLines wrote %d lines for %d records:\n%s", n, len(in), buf.Bytes())
	}
	out, err := events.DecodeLines(&buf)
	if err != nil {
		t.Fatal(err)
	}
	requireSameRecords(t, out, in)
	for i, r := range out {
		if r.Time.Location() != time.UTC {
			t.Fatalf("record %d: time in %v, want UTC", i+1, r.Time.Location())
		}
	}
}

func TestEncodeLinesEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := events.EncodeLines(&buf, nil); err != nil || buf.Len() != 0 {
		t.Fatalf("EncodeLines(nil) wrote %q, %v", buf.Bytes(), err)
	}
	out, err := events.DecodeLines(&buf)
	if err != nil || len(out) != 0 {
		t.Fatalf("DecodeLines(empty) = %v, %v", out, err)
	}
}

func TestEncodeLinesInvalidRecordNamesIt(t *testing.T) {
	h := history("b", 3)
	h[1].Event = 0
	var buf bytes.Buffer
	err := events.EncodeLines(&buf, h)
	if err == nil {
		t.Fatal("EncodeLines accepted a record with event 0")
	}
	if want := `circuitry: encoding b #2 Event(0): open -> half_open: `; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q does not start with %q", err, want)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestEncodeLinesWriteError(t *testing.T) {
	boom := errors.New("disk full")
	if err := events.EncodeLines(failingWriter{boom}, history("b", 2)); !errors.Is(err, boom) {
		t.Fatalf("EncodeLines error %v, want %v", err, boom)
	}
}

// field is one "key":value member of a hand-built JSON record.
type field struct{ key, value string }

var validFields = []field{
	{"v", `1`},
	{"breaker", `"payments"`},
	{"seq", `3`},
	{"event", `"trip"`},
	{"from", `"closed"`},
	{"to", `"open"`},
	{"time", `"2026-11-27T10:00:00.5Z"`},
	{"open_for", `"30s"`},
	{"reason", `{"policy":"consecutive_failures","failures":5}`},
}

// object builds a JSON record from validFields, leaving out the key omit and
// replacing the values in set (adding keys that are not in validFields).
func object(omit string, set map[string]string) string {
	var parts []string
	done := map[string]bool{}
	for _, f := range validFields {
		if f.key == omit {
			continue
		}
		v := f.value
		if s, ok := set[f.key]; ok {
			v = s
			done[f.key] = true
		}
		parts = append(parts, `"`+f.key+`":`+v)
	}
	for k, v := range set {
		if !done[k] {
			parts = append(parts, `"`+k+`":`+v)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestUnmarshalJSONValidObject(t *testing.T) {
	var got events.Transition
	if err := got.UnmarshalJSON([]byte(object("", nil))); err != nil {
		t.Fatal(err)
	}
	want := events.Transition{Breaker: "payments", Seq: 3, Event: events.Trip, From: events.Closed, To: events.Open,
		Time: t0.Add(500 * time.Millisecond), OpenFor: 30 * time.Second,
		Reason: events.Reason{Policy: "consecutive_failures", Failures: 5}}
	requireSameRecords(t, []events.Transition{got}, []events.Transition{want})

	// Optional parts may be absent; surrounding white space is fine; a
	// non-UTC time is normalised to UTC.
	var min events.Transition
	data := "\n\t " + object("reason", map[string]string{"time": `"2026-11-27T11:00:00.5+01:00"`}) + " \r\n"
	if err := min.UnmarshalJSON([]byte(data)); err != nil {
		t.Fatal(err)
	}
	want.Reason = events.Reason{}
	requireSameRecords(t, []events.Transition{min}, []events.Transition{want})
	if min.Time.Location() != time.UTC {
		t.Fatalf("time in %v, want UTC", min.Time.Location())
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	valid := object("", nil)
	type tc struct {
		name, data string
		want       []string // substrings the message must contain
	}
	cases := []tc{
		{"empty breaker", object("", map[string]string{"breaker": `""`}), []string{"missing field breaker"}},
		{"version 3", object("", map[string]string{"v": `3`}), []string{"format version 3"}},
		{"version 0", object("", map[string]string{"v": `0`}), []string{"format version 0"}},
		{"version negative", object("", map[string]string{"v": `-1`}), []string{"format version -1"}},
		{"version not a number", object("", map[string]string{"v": `"1"`}), []string{".v "}},
		{"open_for not a duration", object("", map[string]string{"open_for": `"soon"`}), []string{"field open_for", `"soon"`}},
		{"open_for without unit", object("", map[string]string{"open_for": `"30"`}), []string{"field open_for", `"30"`}},
		{"open_for zero", object("", map[string]string{"open_for": `"0s"`}), []string{"field open_for", `"0s"`}},
		{"open_for negative", object("", map[string]string{"open_for": `"-5s"`}), []string{"field open_for", `"-5s"`}},
		{"open_for a number", object("", map[string]string{"open_for": `30`}), []string{".open_for "}},
		{"slower_than not a duration", object("", map[string]string{"reason": `{"slower_than":"slow"}`}), []string{"field reason.slower_than", `"slow"`}},
		{"slower_than zero", object("", map[string]string{"reason": `{"slower_than":"0s"}`}), []string{"field reason.slower_than", `"0s"`}},
		{"slower_than negative", object("", map[string]string{"reason": `{"slower_than":"-1s"}`}), []string{"field reason.slower_than", `"-1s"`}},
		{"rate a string", object("", map[string]string{"reason": `{"rate":"50"}`}), []string{".rate "}},
		{"observe_only a string", object("", map[string]string{"observe_only": `"yes"`}), []string{".observe_only "}},
		{"unknown event", object("", map[string]string{"event": `"explode"`}), []string{"field event", `"explode"`}},
		{"event in capitals", object("", map[string]string{"event": `"Trip"`}), []string{"field event", `"Trip"`}},
		{"event as a number", object("", map[string]string{"event": `1`}), []string{".event "}},
		{"unknown from", object("", map[string]string{"from": `"ajar"`}), []string{"field from", `"ajar"`}},
		{"unknown to", object("", map[string]string{"to": `"half-open"`}), []string{"field to", `"half-open"`}},
		{"seq negative", object("", map[string]string{"seq": `-1`}), []string{".seq "}},
		{"seq a string", object("", map[string]string{"seq": `"3"`}), []string{".seq "}},
		{"time not RFC 3339", object("", map[string]string{"time": `"27/11/2026"`}), []string{"parsing time", "27/11/2026"}},
		{"time after year 9999 in UTC", object("", map[string]string{"time": `"9999-12-31T23:30:00-01:00"`}), []string{"field time 9999-12-31T23:30:00-01:00"}},
		{"time before year 0 in UTC", object("", map[string]string{"time": `"0000-01-01T00:30:00+01:00"`}), []string{"field time 0000-01-01T00:30:00+01:00"}},
		{"trailing object", valid + `{}`, []string{"trailing data"}},
		{"trailing word", valid + ` x`, []string{"trailing data"}},
		{"trailing brace", valid + `}`, []string{"trailing data"}},
		{"trailing bracket", valid + `]`, []string{"trailing data"}},
		{"second record", valid + "\n" + valid, []string{"trailing data"}},
		{"empty", ``, nil},
		{"not an object", `[1,2]`, nil},
		{"truncated", valid[:len(valid)-1], nil},
		{"null", `null`, []string{"missing field v"}},
	}
	for _, key := range []string{"v", "breaker", "seq", "event", "from", "to", "time"} {
		cases = append(cases,
			tc{"missing " + key, object(key, nil), []string{"missing field " + key}},
			tc{"null " + key, object("", map[string]string{key: "null"}), []string{"missing field " + key}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := events.Transition{Breaker: "untouched"}
			err := got.UnmarshalJSON([]byte(c.data))
			if err == nil {
				t.Fatalf("UnmarshalJSON(%s) = %v, nil; want an error", c.data, got)
			}
			if !errors.Is(err, events.ErrDecode) {
				t.Fatalf("error %q does not match ErrDecode", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got != (events.Transition{Breaker: "untouched"}) {
				t.Errorf("UnmarshalJSON modified its receiver on error: %v", got)
			}
		})
	}
}

func TestDecodeLinesSkipsBlankLines(t *testing.T) {
	h := history("b", 3)
	var buf bytes.Buffer
	if err := events.EncodeLines(&buf, h); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	input := "\n \t\n" + lines[0] + "\r\n\n" + "  " + lines[1] + "  \n\r\n" + lines[2] // no final newline
	got, err := events.DecodeLines(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	requireSameRecords(t, got, h)
}

func TestDecodeLinesBadLine(t *testing.T) {
	h := history("b", 3)
	var buf bytes.Buffer
	if err := events.EncodeLines(&buf, h); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	// line 1: record 1; line 2: blank; line 3: record 2; line 4: bad;
	// line 5: record 3 (never reached).
	input := strings.Join([]string{lines[0], "", lines[1], `{"v":1,"seq":3}`, lines[2]}, "\n")
	got, err := events.DecodeLines(strings.NewReader(input))
	re := requireRecordError(t, err, 4, "", 0)
	if !errors.Is(err, events.ErrDecode) {
		t.Fatalf("error %v does not match ErrDecode", err)
	}
	if want := "circuitry: record 4: undecodable record: missing field breaker"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if re.Err == nil {
		t.Fatal("RecordError without a cause")
	}
	requireSameRecords(t, got, h[:2])
}

func TestDecodeLinesBadFirstLine(t *testing.T) {
	got, err := events.DecodeLines(strings.NewReader("not json\n"))
	requireRecordError(t, err, 1, "", 0)
	if !errors.Is(err, events.ErrDecode) || len(got) != 0 {
		t.Fatalf("DecodeLines = %v, %v", got, err)
	}
}

// padded returns r's JSON encoding padded with trailing spaces to n bytes.
func padded(t *testing.T, r events.Transition, n int) string {
	t.Helper()
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > n {
		t.Fatalf("record is %d bytes, longer than %d", len(b), n)
	}
	return string(b) + strings.Repeat(" ", n-len(b))
}

func TestDecodeLinesLongLines(t *testing.T) {
	h := history("b", 2)
	first, err := h[0].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a line of MaxRecordSize bytes is read", func(t *testing.T) {
		for _, nl := range []string{"\n", ""} {
			input := string(first) + "\n" + padded(t, h[1], events.MaxRecordSize) + nl
			got, err := events.DecodeLines(strings.NewReader(input))
			if err != nil {
				t.Fatalf("final newline %q: %v", nl, err)
			}
			requireSameRecords(t, got, h)
		}
	})

	t.Run("a longer line is refused naming its line", func(t *testing.T) {
		for _, nl := range []string{"\n", ""} {
			input := string(first) + "\n\n" + padded(t, h[1], events.MaxRecordSize+1) + nl + string(first) + "\n"
			got, err := events.DecodeLines(strings.NewReader(input))
			requireRecordError(t, err, 3, "", 0)
			if !errors.Is(err, events.ErrDecode) {
				t.Fatalf("error %v does not match ErrDecode", err)
			}
			if want := "circuitry: record 3: undecodable record: longer than 1048576 bytes"; err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
			requireSameRecords(t, got, h[:1])
		}
	})
}

// errAfterReader returns its data, then err.
type errAfterReader struct {
	data []byte
	err  error
}

func (r *errAfterReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDecodeLinesReadError(t *testing.T) {
	var buf bytes.Buffer
	if err := events.EncodeLines(&buf, history("b", 2)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection reset")
	got, err := events.DecodeLines(&errAfterReader{data: buf.Bytes(), err: boom})
	requireRecordError(t, err, 3, "", 0)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v does not wrap the read error", err)
	}
	requireSameRecords(t, got, history("b", 2))

	if _, err := events.DecodeLines(&errAfterReader{err: io.ErrUnexpectedEOF}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v does not wrap the read error", err)
	}
}
