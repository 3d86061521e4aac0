package events_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// fuzzSeeds are journals, valid and broken, in the JSON-lines encoding.
func fuzzSeeds(t testing.TB) []string {
	enc := func(recs []events.Transition) string {
		var buf bytes.Buffer
		if err := events.EncodeLines(&buf, recs); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	one := enc(history("payments", 1))
	interleaved := history("a", 6)
	for i, r := range history("b", 4) {
		interleaved = append(interleaved[:2*i+1], append([]events.Transition{r}, interleaved[2*i+1:]...)...)
	}
	gap := history("payments", 4)
	gap = append(gap[:2], gap[3:]...)
	illegal := history("payments", 3)
	illegal[2].From = events.Closed
	missingOpenFor := history("payments", 1)
	missingOpenFor[0].OpenFor = 0
	full := history("payments", 2)
	full[0].Time = time.Date(2026, 3, 4, 5, 6, 7, 89, time.FixedZone("", 5*3600))
	full[0].Reason = events.Reason{Policy: "consecutive_failures", Failures: 5, Successes: 1, Threshold: 5,
		LastError: "EOF \"x\" \\ \u00e9", Operator: "ops", Note: "n"}
	return []string{
		"",
		"\n\n",
		one,
		enc(history("payments", 12)),
		enc(full),
		enc(interleaved),
		"\n" + strings.ReplaceAll(enc(history("x", 3)), "\n", "\r\n\n"),
		enc(gap),
		enc(illegal),
		enc(missingOpenFor),
		one + one,
		one + "{}\n" + one,
		one + "not json\n",
		strings.Replace(one, `"v":2`, `"v":3`, 1),
		strings.Replace(one, `"open_for":"10s"`, `"open_for":"-10s"`, 1),
		strings.Replace(one, `"event":"trip"`, `"event":"trips"`, 1),
		strings.Replace(one, `"time":"2026-11-27T10:00:01Z"`, `"time":"9999-12-31T23:59:59-01:00"`, 1),
		strings.Replace(one, "}\n", "} {}\n", 1),
		strings.Replace(one, `"reason":{`, `"extra":1,"reason":{`, 1),
		strings.TrimSuffix(one, "\n") + strings.TrimSuffix(one, "\n"),
	}
}

func FuzzDecodeReplay(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, decodeErr := events.DecodeLines(bytes.NewReader(data))
		if decodeErr != nil {
			var re *events.RecordError
			if !errors.As(decodeErr, &re) {
				t.Fatalf("DecodeLines error %v (%T) is not a *RecordError", decodeErr, decodeErr)
			}
			if re.Position < 1 {
				t.Fatalf("DecodeLines error names position %d: %v", re.Position, decodeErr)
			}
			if !errors.Is(decodeErr, events.ErrDecode) {
				t.Fatalf("DecodeLines error %v does not match ErrDecode", decodeErr)
			}
			// The records returned come from the lines before the bad one.
			if len(recs) > re.Position-1 {
				t.Fatalf("DecodeLines returned %d records before the error on line %d", len(recs), re.Position)
			}
		}

		// Split by breaker, keeping each breaker's order, and fold each.
		var names []string
		byBreaker := map[string][]events.Transition{}
		for _, r := range recs {
			if _, ok := byBreaker[r.Breaker]; !ok {
				names = append(names, r.Breaker)
			}
			byBreaker[r.Breaker] = append(byBreaker[r.Breaker], r)
		}
		snaps := map[string]events.Snapshot{}
		replayOK := true
		for _, name := range names {
			h := byBreaker[name]
			s, err := events.Replay(name, h)
			if err != nil {
				replayOK = false
				var re *events.RecordError
				if !errors.As(err, &re) {
					t.Fatalf("Replay error %v (%T) is not a *RecordError", err, err)
				}
				if re.Position < 1 || re.Position > len(h) {
					t.Fatalf("Replay error names position %d of %d records: %v", re.Position, len(h), err)
				}
				if bad := h[re.Position-1]; re.Breaker != bad.Breaker || re.Seq != bad.Seq {
					t.Fatalf("Replay error names breaker %q seq %d, record %d is %v", re.Breaker, re.Seq, re.Position, bad)
				}
				continue
			}
			snaps[name] = s
		}
		if decodeErr != nil || !replayOK {
			return
		}

		// A journal that decodes and replays re-encodes to the same records.
		var buf bytes.Buffer
		if err := events.EncodeLines(&buf, recs); err != nil {
			t.Fatalf("EncodeLines of records that decoded and replayed: %v", err)
		}
		again, err := events.DecodeLines(&buf)
		if err != nil {
			t.Fatalf("DecodeLines of re-encoded records: %v", err)
		}
		requireSameRecords(t, again, recs)
		for _, name := range names {
			var h []events.Transition
			for _, r := range again {
				if r.Breaker == name {
					h = append(h, r)
				}
			}
			s, err := events.Replay(name, h)
			if err != nil {
				t.Fatalf("Replay of re-decoded records: %v", err)
			}
			requireSameSnapshot(t, s, snaps[name])
		}
	})
}
