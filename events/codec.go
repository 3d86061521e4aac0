package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// FormatVersion is the major version of the JSON encoding written by
// [Transition.MarshalJSON], its field "v". Readers refuse a record of a
// higher major version, never guessing at it, and read every field they
// know of a record of their own major version or an older one, ignoring
// fields they do not know: fields added later without raising the major
// version (a later minor format) do not stop older readers, so replicas of
// two releases can share one journal during a rolling deploy.
//
// Version 2 added writer, id and prev_hash, and is the first whose readers
// ignore unknown fields: readers of version 1 refuse every version 2
// record, as a newer format. Upgrade every reader of a journal before its
// first writer of version 2.
const FormatVersion = 2

// MaxRecordSize bounds the size of one encoded record read by [DecodeLines].
const MaxRecordSize = 1 << 20

// ErrDecode is wrapped by every error of decoding a record.
var ErrDecode = errors.New("undecodable record")

// wireTransition is the JSON form, version 2. Field names and meanings are
// stable: a change that is not a pure addition raises FormatVersion.
//
//	{"v":2,"breaker":"payments","seq":3,"event":"trip","from":"closed","to":"open",
//	 "time":"2026-11-27T10:00:00.123456789Z","open_for":"30s",
//	 "writer":"api-7f9c:4242","id":"9f86d081884c7d65",
//	 "reason":{"policy":"consecutive_failures","failures":5,"threshold":5,"last_error":"EOF"}}
//
// A trip by a rate policy of a breaker that only observes:
//
//	{"v":2,"breaker":"payments","seq":7,"event":"trip","from":"closed","to":"open",
//	 "time":"2026-11-27T10:00:00Z","open_for":"1m0s","observe_only":true,
//	 "writer":"api-7f9c:4242","id":"2c26b46b68ffc68f",
//	 "reason":{"policy":"failure_rate","failures":12,"calls":20,"rate":60,
//	 "rate_threshold":50,"min_calls":20,"last_error":"EOF"}}
//
// Optional fields are omitted when empty. Records of version 1 (without
// writer, id and prev_hash) are read as before.
type wireTransition struct {
	V           *int            `json:"v"`
	Breaker     *string         `json:"breaker"`
	Seq         *uint64         `json:"seq"`
	Event       *string         `json:"event"`
	From        *string         `json:"from"`
	To          *string         `json:"to"`
	Time        *time.Time      `json:"time"`
	OpenFor     string          `json:"open_for,omitempty"`
	ObserveOnly bool            `json:"observe_only,omitempty"`
	Writer      string          `json:"writer,omitempty"`
	ID          string          `json:"id,omitempty"`
	PrevHash    string          `json:"prev_hash,omitempty"`
	Reason      json.RawMessage `json:"reason"` // see reasonSchema
}

// MarshalJSON encodes the record in the stable JSON form, version
// [FormatVersion]: an object with the fields v, breaker, seq, event, from, to
// and time (RFC 3339 with nanoseconds, UTC) always present; open_for (a Go
// duration string such as "30s") present exactly for transitions to open;
// observe_only present (true) exactly when the record says so; writer, id
// and prev_hash present when set; and reason,
// whose fields policy, failures, successes, threshold, calls, slow, rate and
// rate_threshold (numbers, in percent), min_calls, slower_than and
// retry_after (duration strings), last_error, operator and note are omitted when empty. A Rate or
// RateThreshold that is NaN or infinite cannot be encoded: MarshalJSON
// returns an error.
func (t Transition) MarshalJSON() ([]byte, error) {
	v := FormatVersion
	tm := t.Time.UTC()
	event, err := t.Event.MarshalText()
	if err != nil {
		return nil, err
	}
	from, err := t.From.MarshalText()
	if err != nil {
		return nil, err
	}
	to, err := t.To.MarshalText()
	if err != nil {
		return nil, err
	}
	reason, err := marshalReason(t.Reason)
	if err != nil {
		return nil, err
	}
	ev, fr, tt := string(event), string(from), string(to)
	w := wireTransition{
		V: &v, Breaker: &t.Breaker, Seq: &t.Seq, Event: &ev, From: &fr, To: &tt, Time: &tm,
		ObserveOnly: t.ObserveOnly, Writer: t.Writer, ID: t.ID, PrevHash: t.PrevHash, Reason: reason,
	}
	if t.OpenFor != 0 {
		w.OpenFor = t.OpenFor.String()
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a record written by [Transition.MarshalJSON], of
// format version 1 or 2. It ignores fields it does not know (added by a later
// minor format), and refuses missing required fields, unknown states or
// events, a major version newer than [FormatVersion] and a malformed
// open_for or a reason duration, with an error wrapping [ErrDecode] that
// names the field.
func (t *Transition) UnmarshalJSON(data []byte) error {
	if fast, ok := decodeFast(data); ok {
		*t = fast
		return nil
	}
	var w wireTransition
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	// dec.More is not enough: it is false before a stray '}' or ']'.
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return fmt.Errorf("%w: trailing data after the record", ErrDecode)
	}
	switch {
	case w.V == nil:
		return fmt.Errorf("%w: missing field v", ErrDecode)
	case *w.V < 1 || *w.V > FormatVersion:
		return fmt.Errorf("%w: format version %d, this build reads 1 to %d", ErrDecode, *w.V, FormatVersion)
	case w.Breaker == nil || *w.Breaker == "":
		return fmt.Errorf("%w: missing field breaker", ErrDecode)
	case w.Seq == nil:
		return fmt.Errorf("%w: missing field seq", ErrDecode)
	case w.Event == nil:
		return fmt.Errorf("%w: missing field event", ErrDecode)
	case w.From == nil:
		return fmt.Errorf("%w: missing field from", ErrDecode)
	case w.To == nil:
		return fmt.Errorf("%w: missing field to", ErrDecode)
	case w.Time == nil:
		return fmt.Errorf("%w: missing field time", ErrDecode)
	}
	event, err := ParseEvent(*w.Event)
	if err != nil {
		return fmt.Errorf("%w: field event: %v", ErrDecode, err)
	}
	from, err := ParseState(*w.From)
	if err != nil {
		return fmt.Errorf("%w: field from: %v", ErrDecode, err)
	}
	to, err := ParseState(*w.To)
	if err != nil {
		return fmt.Errorf("%w: field to: %v", ErrDecode, err)
	}
	// A time whose UTC year is outside 0..9999 (such as 9999-12-31T23:30:00-01:00)
	// parses, but MarshalJSON could not write it back.
	tm := w.Time.UTC()
	if y := tm.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("%w: field time %s is outside years 0 to 9999 in UTC", ErrDecode, w.Time.Format(time.RFC3339Nano))
	}
	var openFor time.Duration
	if w.OpenFor != "" {
		d, err := time.ParseDuration(w.OpenFor)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: field open_for %q is not a positive duration", ErrDecode, w.OpenFor)
		}
		openFor = d
	}
	reason, err := unmarshalReason(w.Reason)
	if err != nil {
		return err
	}
	*t = Transition{
		Breaker: *w.Breaker, Seq: *w.Seq, Event: event, From: from, To: to,
		Time: tm, OpenFor: openFor, Reason: reason, ObserveOnly: w.ObserveOnly,
		Writer: w.Writer, ID: w.ID, PrevHash: w.PrevHash,
	}
	return nil
}

// EncodeLines writes records as JSON lines, one record per line.
func EncodeLines(w io.Writer, records []Transition) error {
	bw := bufio.NewWriter(w)
	for _, t := range records {
		b, err := t.MarshalJSON()
		if err != nil {
			return fmt.Errorf("circuitry: encoding %v: %w", t, err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// DecodeLines reads JSON lines written by [EncodeLines]. Blank lines are
// skipped. The first line that does not decode stops the read with a
// [*RecordError] whose Position is the line number; the records before it
// are returned with the error. DecodeLines does not check that the records
// form a legal history: [Replay] does.
func DecodeLines(r io.Reader) ([]Transition, error) {
	sc := bufio.NewScanner(r)
	// +1 for the newline: a line of exactly MaxRecordSize bytes is allowed.
	sc.Buffer(make([]byte, 0, 4096), MaxRecordSize+1)
	var out []Transition
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var t Transition
		if err := t.UnmarshalJSON(b); err != nil {
			return out, &RecordError{Position: line, Err: err}
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("%w: longer than %d bytes", ErrDecode, MaxRecordSize)
		}
		return out, &RecordError{Position: line + 1, Err: err}
	}
	return out, nil
}
