package events

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// typicalLine is a trip by a count policy as a breaker of version 2 writes it.
const typicalLine = `{"v":2,"breaker":"payments-api-eu","seq":123456,"event":"trip","from":"closed","to":"open","time":"2026-12-02T01:50:00.123456789Z","open_for":"30s","writer":"api-7f9c:4242","id":"9f86d081884c7d65","prev_hash":"sha256:9f86d081884c7d659f86d081884c7d65","reason":{"policy":"consecutive_failures","failures":5,"threshold":5,"last_error":"EOF"}}`

// fataler is the part of testing.TB the helpers need; *rapid.T has it too.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// slowDecode decodes data with the general decoder of UnmarshalJSON alone.
// It relies on decodeFast declining a record that starts with white space,
// which the general decoder skips: the space changes the path taken, not
// the result.
func slowDecode(t fataler, data []byte) (Transition, error) {
	t.Helper()
	spaced := append([]byte{' '}, data...)
	if _, ok := decodeFast(spaced); ok {
		t.Fatalf("decodeFast took a record that starts with a space: %q", spaced)
	}
	var rec Transition
	err := rec.UnmarshalJSON(spaced)
	return rec, err
}

// sameTransition reports whether a and b are the same record, their times
// the same instant and both in UTC, as UnmarshalJSON promises.
func sameTransition(a, b Transition) bool {
	if !a.Time.Equal(b.Time) || a.Time.Location() != time.UTC || b.Time.Location() != time.UTC {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// requireAgrees checks the one rule of decodeFast: where it decodes a
// record, the general decoder decodes the same record without error. It
// returns whether decodeFast decoded it.
func requireAgrees(t fataler, data []byte) bool {
	t.Helper()
	fast, ok := decodeFast(data)
	if !ok {
		return false
	}
	slow, err := slowDecode(t, data)
	if err != nil {
		t.Fatalf("decodeFast decoded %q, which the general decoder refuses: %v\nfast: %+v", data, err, fast)
	}
	if !sameTransition(fast, slow) {
		t.Fatalf("decodeFast and the general decoder differ on %q:\nfast: %+v\nslow: %+v", data, fast, slow)
	}
	return true
}

// mustMarshal encodes r, failing the test on an error.
func mustMarshal(t fataler, r Transition) string {
	t.Helper()
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON(%+v): %v", r, err)
	}
	return string(b)
}

// The outcomes of a record in TestDecodeFast.
const (
	fastPath = "fast path"       // decodeFast decodes it
	fallback = "fallback"        // decodeFast declines, the general decoder decodes it
	refused  = "refused by both" // decodeFast declines, the general decoder refuses it
)

// fastDecodeCases are records of every kind, with the path each must take.
// They seed FuzzFastDecode too.
func fastDecodeCases(t fataler) []struct{ name, data, want string } {
	base := Transition{Breaker: "payments", Seq: 7, Event: Trip, From: Closed, To: Open,
		Time: time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC), OpenFor: 30 * time.Second,
		Writer: "api-7f9c:4242", ID: "9f86d081884c7d65",
		Reason: Reason{Policy: PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: "EOF"}}
	line := mustMarshal(t, base)
	// with returns line with old replaced by new, which must be in it.
	with := func(old, new string) string {
		if !strings.Contains(line, old) {
			t.Fatalf("%s is not in %s", old, line)
		}
		return strings.Replace(line, old, new, 1)
	}
	// withReason returns line with reason in place of its reason, and
	// without a reason if reason is empty.
	withReason := func(reason string) string {
		i := strings.Index(line, `,"reason":`)
		if reason == "" {
			return line[:i] + "}"
		}
		return line[:i] + `,"reason":` + reason + "}"
	}
	full := base
	full.Reason = Reason{Policy: PolicySlowCallRate, Failures: 1, Successes: 2, Threshold: 3, Calls: 40, Slow: 12,
		Rate: 30, RateThreshold: 25.5, MinCalls: 20, SlowerThan: 250 * time.Millisecond, RetryAfter: 90 * time.Second,
		LastError: "context deadline exceeded", Operator: "ops@example.com", Note: "maintenance window"}
	full.ObserveOnly = true
	full.PrevHash = "sha256:9f86d081884c7d65"
	unicode := base
	unicode.Breaker = "paiements-été"
	unicode.Reason.LastError = "délai dépassé — 超时 🚀"
	unicode.Reason.Operator = "Zoë"

	cases := []struct{ name, data, want string }{
		{"typical", typicalLine, fastPath},
		{"written by MarshalJSON", line, fastPath},
		{"every reason field, observe only, prev_hash", mustMarshal(t, full), fastPath},
		{"unicode text", mustMarshal(t, unicode), fastPath},
		{"no reason", mustMarshal(t, Transition{Breaker: "b", Seq: 1, Event: Probe, From: Open, To: HalfOpen, Time: base.Time}), fastPath},
		{"reason absent", withReason(``), fastPath},
		{"reason empty", withReason(`{}`), fastPath},
		{"keys in another order", `{"reason":{"last_error":"EOF","failures":5,"policy":"x"},"time":"2026-11-27T10:00:00Z","to":"open","from":"closed","event":"trip","seq":1,"breaker":"b","open_for":"1m0s","v":2}`, fastPath},
		{"version 1 without writer and id", `{"v":1,"breaker":"payments","seq":3,"event":"trip","from":"closed","to":"open","time":"2026-11-27T10:00:00.5Z","open_for":"30s","reason":{"policy":"consecutive_failures","failures":5}}`, fastPath},
		{"observe_only false", with(`"open_for"`, `"observe_only":false,"open_for"`), fastPath},
		{"empty optional strings", with(`"writer":"api-7f9c:4242","id":"9f86d081884c7d65"`, `"writer":"","id":"","prev_hash":""`), fastPath},
		{"open_for empty", with(`"open_for":"30s"`, `"open_for":""`), fastPath},
		{"open_for with sign and fraction", with(`"open_for":"30s"`, `"open_for":"+1.5h"`), fastPath},
		{"time with a comma before the fraction", with(`"2026-11-27T10:00:00.123456789Z"`, `"2026-11-27T10:00:00,5Z"`), fastPath},
		{"time with an offset", with(`"2026-11-27T10:00:00.123456789Z"`, `"2026-11-27T11:00:00+01:00"`), fastPath},
		{"time at the first instant", with(`"2026-11-27T10:00:00.123456789Z"`, `"0000-01-01T00:00:00Z"`), fastPath},
		{"time at the last instant", with(`"2026-11-27T10:00:00.123456789Z"`, `"9999-12-31T23:59:59.999999999Z"`), fastPath},
		{"seq the largest", with(`"seq":7`, `"seq":18446744073709551615`), fastPath},
		{"seq zero", with(`"seq":7`, `"seq":0`), fastPath},
		{"rates", withReason(`{"rate":66.66666666666667,"rate_threshold":1e+21}`), fastPath},
		{"rates in other forms", withReason(`{"rate":-0,"rate_threshold":1E-7}`), fastPath},
		{"rate with signed exponent", withReason(`{"rate":0.5e+02,"rate_threshold":5e-324}`), fastPath},
		{"reason durations empty", withReason(`{"slower_than":"","retry_after":""}`), fastPath},
		{"reason text empty", withReason(`{"policy":"","note":""}`), fastPath},

		{"escape in last_error", withReason(`{"last_error":"a \"b\""}`), fallback},
		{"escaped unicode in breaker", with(`"breaker":"payments"`, `"breaker":"paiements-\u00e9t\u00e9"`), fallback},
		{"escaped html", mustMarshal(t, func() Transition { r := base; r.Reason.LastError = "<b> & </b>"; return r }()), fallback},
		{"escaped newline", mustMarshal(t, func() Transition { r := base; r.Reason.Note = "two\nlines"; return r }()), fallback},
		{"escape in a key", with(`"breaker"`, `"br\u0065aker"`), fallback},
		{"invalid UTF-8", withReason("{\"last_error\":\"\xff\xfe\"}"), fallback},
		{"a surrogate in UTF-8", withReason("{\"last_error\":\"\xed\xa0\x80\"}"), fallback},
		{"unknown field", with(`"writer"`, `"region":"eu-1","writer"`), fallback},
		{"unknown object field", with(`"writer"`, `"lease":{"until":3},"writer"`), fallback},
		{"unknown reason field", withReason(`{"policy":"p","p99":"120ms"}`), fallback},
		{"key in capitals", with(`"breaker"`, `"Breaker"`), fallback},
		{"key with a folded letter", with(`"seq"`, "\"\u017feq\""), fallback},
		{"duplicate key", with(`"seq":7`, `"seq":7,"seq":8`), fallback},
		{"duplicate reason key", withReason(`{"failures":1,"failures":2}`), fallback},
		{"null reason", withReason(`null`), fallback},
		{"null optional", with(`"writer":"api-7f9c:4242"`, `"writer":null`), fallback},
		{"null count", withReason(`{"failures":null}`), fallback},
		{"leading space", " " + line, fallback},
		{"trailing newline", line + "\n", fallback},
		{"space after a colon", with(`"seq":7`, `"seq": 7`), fallback},
		{"space after a comma", with(`,"seq"`, `, "seq"`), fallback},
		{"tab in the reason", withReason("{\t}"), fallback},

		{"version 3", with(`"v":2`, `"v":3`), refused},
		{"version 0", with(`"v":2`, `"v":0`), refused},
		{"version with a leading zero", with(`"v":2`, `"v":02`), refused},
		{"version as a float", with(`"v":2`, `"v":2.0`), refused},
		{"version as a string", with(`"v":2`, `"v":"2"`), refused},
		{"missing v", with(`"v":2,`, ``), refused},
		{"missing time", with(`"time":"2026-11-27T10:00:00.123456789Z",`, ``), refused},
		{"empty breaker", with(`"breaker":"payments"`, `"breaker":""`), refused},
		{"unknown event", with(`"event":"trip"`, `"event":"explode"`), refused},
		{"unknown state", with(`"to":"open"`, `"to":"ajar"`), refused},
		{"seq overflow", with(`"seq":7`, `"seq":18446744073709551616`), refused},
		{"seq negative", with(`"seq":7`, `"seq":-7`), refused},
		{"seq with an exponent", with(`"seq":7`, `"seq":7e0`), refused},
		{"count with a fraction", withReason(`{"failures":5.0}`), refused},
		{"count with a leading zero", withReason(`{"failures":05}`), refused},
		{"rate out of range", withReason(`{"rate":1e400}`), refused},
		{"rate without digits after the point", withReason(`{"rate":1.}`), refused},
		{"rate with a plus", withReason(`{"rate":+1}`), refused},
		{"observe_only a string", with(`"open_for"`, `"observe_only":"true","open_for"`), refused},
		{"open_for zero", with(`"open_for":"30s"`, `"open_for":"0s"`), refused},
		{"open_for negative", with(`"open_for":"30s"`, `"open_for":"-30s"`), refused},
		{"open_for not a duration", with(`"open_for":"30s"`, `"open_for":"soon"`), refused},
		{"slower_than zero", withReason(`{"slower_than":"0s"}`), refused},
		{"time not RFC 3339", with(`"2026-11-27T10:00:00.123456789Z"`, `"27/11/2026"`), refused},
		{"time after year 9999 in UTC", with(`"2026-11-27T10:00:00.123456789Z"`, `"9999-12-31T23:30:00-01:00"`), refused},
		{"time before year 0 in UTC", with(`"2026-11-27T10:00:00.123456789Z"`, `"0000-01-01T00:30:00+01:00"`), refused},
		{"control character", with(`"breaker":"payments"`, "\"breaker\":\"pay\x01ments\""), refused},
		{"trailing comma", line[:len(line)-1] + ",}", refused},
		{"trailing brace", line + "}", refused},
		{"second record", line + line, refused},
		{"truncated", line[:len(line)-1], refused},
		{"unterminated string", `{"v":2,"breaker":"pay`, refused},
		{"empty object", `{}`, refused},
		{"empty", ``, refused},
		{"null", `null`, refused},
		{"array", `[1,2]`, refused},
	}
	for _, e := range AllEvents() {
		r := base
		r.Event = e
		cases = append(cases, struct{ name, data, want string }{"event " + e.String(), mustMarshal(t, r), fastPath})
	}
	for _, s := range States() {
		r := base
		r.From, r.To = s, s
		cases = append(cases, struct{ name, data, want string }{"state " + s.String(), mustMarshal(t, r), fastPath})
	}
	return cases
}

func TestDecodeFast(t *testing.T) {
	for _, c := range fastDecodeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(c.data)
			fast, ok := decodeFast(data)
			slow, slowErr := slowDecode(t, data)
			got := refused
			switch {
			case ok:
				got = fastPath
			case slowErr == nil:
				got = fallback
			}
			if got != c.want {
				t.Fatalf("%s, want %s (general decoder: %v)\n%s", got, c.want, slowErr, data)
			}
			if ok && !sameTransition(fast, slow) {
				t.Fatalf("decodeFast = %+v\nthe general decoder %+v", fast, slow)
			}
			// UnmarshalJSON gives what the general decoder gives, whichever
			// path it takes.
			var rec Transition
			err := rec.UnmarshalJSON(data)
			if (err == nil) != (slowErr == nil) || err == nil && !sameTransition(rec, slow) {
				t.Fatalf("UnmarshalJSON = %+v, %v; the general decoder %+v, %v", rec, err, slow, slowErr)
			}
		})
	}
}

func TestDecodeFastTypicalRecord(t *testing.T) {
	got, ok := decodeFast([]byte(typicalLine))
	if !ok {
		t.Fatal("decodeFast declined the typical record")
	}
	want := Transition{Breaker: "payments-api-eu", Seq: 123456, Event: Trip, From: Closed, To: Open,
		Time: time.Date(2026, 12, 2, 1, 50, 0, 123456789, time.UTC), OpenFor: 30 * time.Second,
		Writer: "api-7f9c:4242", ID: "9f86d081884c7d65", PrevHash: "sha256:9f86d081884c7d659f86d081884c7d65",
		Reason: Reason{Policy: PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: "EOF"}}
	if !sameTransition(got, want) {
		t.Fatalf("decodeFast = %+v\nwant %+v", got, want)
	}
}

// Every key of the wire form is one decodeFast knows, with a bit of its
// own, so that a field added to wireTransition cannot be left to the
// general decoder unnoticed.
func TestWireKeysCoverTheWireForm(t *testing.T) {
	wt := reflect.TypeFor[wireTransition]()
	var all uint16
	for f := range wt.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		key := wireKey([]byte(name))
		if key == 0 || all&key != 0 {
			t.Errorf("wireKey(%q) = %#x, with %#x taken", name, key, all)
		}
		all |= key
	}
	if all&keysRequired != keysRequired {
		t.Errorf("keysRequired %#x names keys the wire form lacks (%#x)", keysRequired, all)
	}
}

func FuzzFastDecode(f *testing.F) {
	for _, c := range fastDecodeCases(f) {
		f.Add([]byte(c.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		requireAgrees(t, data)
	})
}

// needsEscape reports whether MarshalJSON writes r escaped in a string.
func needsEscape(r rune) bool {
	return r < ' ' || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029'
}

// genRecord draws a record MarshalJSON can write, its strings drawn from
// text.
func genRecord(t *rapid.T, text *rapid.Generator[string]) Transition {
	r := Transition{
		Breaker:     text.Filter(func(s string) bool { return s != "" }).Draw(t, "breaker"),
		Seq:         rapid.Uint64().Draw(t, "seq"),
		Event:       rapid.SampledFrom(AllEvents()).Draw(t, "event"),
		From:        rapid.SampledFrom(States()).Draw(t, "from"),
		To:          rapid.SampledFrom(States()).Draw(t, "to"),
		ObserveOnly: rapid.Bool().Draw(t, "observe_only"),
		Writer:      text.Draw(t, "writer"),
		ID:          text.Draw(t, "id"),
		PrevHash:    text.Draw(t, "prev_hash"),
	}
	// Any instant of the years 0 to 9999, in UTC or a zone MarshalJSON
	// converts from.
	first := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	last := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	r.Time = time.Unix(rapid.Int64Range(first, last).Draw(t, "time"), rapid.Int64Range(0, 999_999_999).Draw(t, "nanos"))
	r.Time = r.Time.In(time.FixedZone("", rapid.IntRange(-12, 14).Draw(t, "zone")*3600))
	if rapid.Bool().Draw(t, "open") {
		r.OpenFor = time.Duration(rapid.Int64Range(1, math.MaxInt64).Draw(t, "open_for"))
	}
	// Any set of the reason's fields, drawn through the schema so that a
	// field added to it is drawn too.
	for _, sf := range reasonSchema {
		if !rapid.Bool().Draw(t, sf.name+" set") {
			continue
		}
		switch sf.kind {
		case KindCount:
			*sf.count(&r.Reason) = rapid.Uint64().Draw(t, sf.name)
		case KindPercent:
			*sf.percent(&r.Reason) = rapid.Float64().Draw(t, sf.name)
		case KindDuration:
			*sf.duration(&r.Reason) = time.Duration(rapid.Int64Range(0, math.MaxInt64).Draw(t, sf.name))
		default:
			*sf.text(&r.Reason) = text.Draw(t, sf.name)
		}
	}
	return r
}

// requireRoundTrip checks that UnmarshalJSON gives r back from its
// encoding, and returns the encoding.
func requireRoundTrip(t *rapid.T, r Transition) []byte {
	data := []byte(mustMarshal(t, r))
	var got Transition
	if err := got.UnmarshalJSON(data); err != nil {
		t.Fatalf("UnmarshalJSON(%s): %v", data, err)
	}
	want := r
	want.Time = r.Time.UTC()
	if !sameTransition(got, want) {
		t.Fatalf("UnmarshalJSON(%s) = %+v\nwant %+v", data, got, want)
	}
	return data
}

// Every record MarshalJSON writes without an escape takes the fast path,
// and comes back as it was.
func TestPropertyMarshalJSONTakesTheFastPath(t *testing.T) {
	plainText := rapid.StringOf(rapid.Rune().Filter(func(r rune) bool { return !needsEscape(r) }))
	rapid.Check(t, func(t *rapid.T) {
		r := genRecord(t, plainText)
		data := requireRoundTrip(t, r)
		if !requireAgrees(t, data) {
			t.Fatalf("decodeFast declined %s", data)
		}
	})
}

// Records with any text round-trip, whichever path they take; those
// MarshalJSON writes without an escape take the fast path.
func TestPropertyAnyTextRoundTrips(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := genRecord(t, rapid.String())
		data := requireRoundTrip(t, r)
		if took := requireAgrees(t, data); !took && !bytes.Contains(data, []byte{'\\'}) {
			t.Fatalf("decodeFast declined %s, which has no escape", data)
		}
	})
}

func BenchmarkUnmarshalJSON(b *testing.B) {
	data := []byte(typicalLine)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var t Transition
		if err := t.UnmarshalJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}
