package filejournal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// snapshotKind is the value of the "kind" field of a snapshot record.
// Transition records have no "kind" field.
const snapshotKind = "snapshot"

// wireSnapshot is the JSON form of a snapshot record, version 2 (as version
// 1):
//
//	{"v":2,"kind":"snapshot","breaker":"payments","seq":120,"state":"open","event":"trip",
//	 "since":"2026-11-27T10:00:00.123456789Z","open_for":"30s","opens":2}
type wireSnapshot struct {
	V       *int       `json:"v"`
	Kind    *string    `json:"kind"`
	Breaker *string    `json:"breaker"`
	Seq     *uint64    `json:"seq"`
	State   *string    `json:"state"`
	Event   *string    `json:"event"`
	Since   *time.Time `json:"since"`
	OpenFor string     `json:"open_for,omitempty"`
	Opens   uint32     `json:"opens,omitempty"`
	Head    string     `json:"head,omitempty"`
}

// marshalSnapshot encodes s as a snapshot record whose chain head (the link
// hash of the last record folded) is head. s must be the fold of at least
// one record.
func marshalSnapshot(s events.Snapshot, head string) ([]byte, error) {
	if err := checkSnapshot(s); err != nil {
		return nil, err
	}
	v, kind := events.FormatVersion, snapshotKind
	state, event := s.State.String(), s.Event.String()
	since := s.Since.UTC()
	w := wireSnapshot{V: &v, Kind: &kind, Breaker: &s.Breaker, Seq: &s.Seq, State: &state, Event: &event, Since: &since, Opens: s.Opens, Head: head}
	if s.OpenFor != 0 {
		w.OpenFor = s.OpenFor.String()
	}
	return json.Marshal(w)
}

// checkSnapshot says whether s could be the fold of a legal history of at
// least one record: the same rules a snapshot record is read with.
func checkSnapshot(s events.Snapshot) error {
	switch {
	case s.Breaker == "":
		return fmt.Errorf("%w: snapshot without a breaker name", events.ErrInvalidRecord)
	case s.Seq == 0:
		return fmt.Errorf("%w: snapshot of breaker %q at seq 0", events.ErrInvalidRecord, s.Breaker)
	case !s.State.Valid() || !s.Event.Valid():
		return fmt.Errorf("%w: snapshot state %s, event %s", events.ErrInvalidRecord, s.State, s.Event)
	case !leadsTo(s.Event, s.State):
		return fmt.Errorf("%w: snapshot state %s cannot follow event %s", events.ErrInvalidRecord, s.State, s.Event)
	case (s.State == events.Open) != (s.OpenFor > 0):
		return fmt.Errorf("%w: snapshot open_for %s with state %s (positive exactly when open)", events.ErrInvalidRecord, s.OpenFor, s.State)
	case (s.State == events.Closed) != (s.Opens == 0):
		return fmt.Errorf("%w: snapshot opens %d with state %s (0 exactly when closed)", events.ErrInvalidRecord, s.Opens, s.State)
	}
	if y := s.Since.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("%w: snapshot since %s is outside years 0 to 9999 in UTC", events.ErrInvalidRecord, s.Since.Format(time.RFC3339Nano))
	}
	return nil
}

// leadsTo reports whether some edge of the table fires e into to.
func leadsTo(e events.Event, to events.State) bool {
	for _, edge := range events.Table() {
		if edge.Event == e && edge.To == to {
			return true
		}
	}
	return false
}

// headSnapshot is a decoded snapshot record with its chain head.
type headSnapshot struct {
	events.Snapshot
	head string
}

// decodeSnapshot decodes a snapshot record and its chain head, ignoring
// fields a later minor format added, and refusing missing fields and values
// a legal history cannot fold to.
func decodeSnapshot(data []byte) (headSnapshot, error) {
	var w wireSnapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		return headSnapshot{}, fmt.Errorf("%w: %v", events.ErrDecode, err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return headSnapshot{}, fmt.Errorf("%w: trailing data after the record", events.ErrDecode)
	}
	switch {
	case w.V == nil:
		return headSnapshot{}, fmt.Errorf("%w: missing field v", events.ErrDecode)
	case *w.V < 1 || *w.V > events.FormatVersion:
		return headSnapshot{}, fmt.Errorf("%w: format version %d, this build reads 1 to %d", events.ErrDecode, *w.V, events.FormatVersion)
	case w.Kind == nil || *w.Kind != snapshotKind:
		return headSnapshot{}, fmt.Errorf("%w: field kind is not %q", events.ErrDecode, snapshotKind)
	case w.Breaker == nil || *w.Breaker == "":
		return headSnapshot{}, fmt.Errorf("%w: missing field breaker", events.ErrDecode)
	case w.Seq == nil:
		return headSnapshot{}, fmt.Errorf("%w: missing field seq", events.ErrDecode)
	case w.State == nil:
		return headSnapshot{}, fmt.Errorf("%w: missing field state", events.ErrDecode)
	case w.Event == nil:
		return headSnapshot{}, fmt.Errorf("%w: missing field event", events.ErrDecode)
	case w.Since == nil:
		return headSnapshot{}, fmt.Errorf("%w: missing field since", events.ErrDecode)
	}
	state, err := events.ParseState(*w.State)
	if err != nil {
		return headSnapshot{}, fmt.Errorf("%w: field state: %v", events.ErrDecode, err)
	}
	event, err := events.ParseEvent(*w.Event)
	if err != nil {
		return headSnapshot{}, fmt.Errorf("%w: field event: %v", events.ErrDecode, err)
	}
	var openFor time.Duration
	if w.OpenFor != "" {
		d, err := time.ParseDuration(w.OpenFor)
		if err != nil || d <= 0 {
			return headSnapshot{}, fmt.Errorf("%w: field open_for %q is not a positive duration", events.ErrDecode, w.OpenFor)
		}
		openFor = d
	}
	s := events.Snapshot{Breaker: *w.Breaker, Seq: *w.Seq, State: state, Event: event, Since: w.Since.UTC(), OpenFor: openFor, Opens: w.Opens}
	if err := checkSnapshot(s); err != nil {
		return headSnapshot{}, fmt.Errorf("%w: %w", events.ErrDecode, err)
	}
	if w.Head != "" && !isLinkHash(w.Head) {
		return headSnapshot{}, fmt.Errorf("%w: field head %q is not a link hash", events.ErrDecode, w.Head)
	}
	return headSnapshot{Snapshot: s, head: w.Head}, nil
}

// lineKind is what a journal line holds.
type lineKind uint8

const (
	lineTransition lineKind = iota
	lineSnapshot
	lineHeader
	lineRetention
	lineSeal
)

var lineKinds = map[string]lineKind{snapshotKind: lineSnapshot, headerKind: lineHeader, retentionKind: lineRetention, sealKind: lineSeal}

// probeLine reads the version and kind of a journal line before it is
// decoded in full, so that a record of a newer version is refused as such
// (its fields may be unknown to this build) rather than as undecodable.
// Transition and snapshot records are of format version 1 or 2 (up to
// [events.FormatVersion]); the lines segments add, of version 3.
func probeLine(line []byte) (lineKind, error) {
	// The transition records this package writes start so; their version
	// is known and they have no kind.
	if bytes.HasPrefix(line, []byte(`{"v":2,"breaker":`)) || bytes.HasPrefix(line, []byte(`{"v":1,"breaker":`)) {
		return lineTransition, nil
	}
	var p struct {
		V    json.RawMessage `json:"v"`
		Kind *string         `json:"kind"`
	}
	if err := json.Unmarshal(line, &p); err != nil {
		return 0, fmt.Errorf("%w: %v", events.ErrDecode, err)
	}
	var v uint64
	if raw := bytes.TrimSpace(p.V); len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9' {
		n, err := strconv.ParseUint(string(raw), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			n = math.MaxUint64
		}
		v = n
	}
	kind := lineTransition
	if p.Kind != nil {
		k, ok := lineKinds[*p.Kind]
		if !ok {
			if v > events.FormatVersion {
				return 0, fmt.Errorf("%w: a record of kind %q and format version %d, this build reads 1 to %d: the file was written by a newer circuitry", ErrNewerFormat, *p.Kind, v, segmentFormat)
			}
			return 0, fmt.Errorf("%w: unknown record kind %q", events.ErrDecode, *p.Kind)
		}
		kind = k
	}
	newest := uint64(events.FormatVersion)
	if kind >= lineHeader {
		newest = segmentFormat
	}
	if v > newest {
		return 0, fmt.Errorf("%w: format version %s of a %s record, this build reads 1 to %d: the file was written by a newer circuitry", ErrNewerFormat, bytes.TrimSpace(p.V), kindName(kind), newest)
	}
	if kind >= lineHeader && v != segmentFormat {
		return 0, fmt.Errorf("%w: a %s record of format version %d (it is of version %d)", events.ErrDecode, kindName(kind), v, segmentFormat)
	}
	return kind, nil
}

// kindName names a line's kind in messages.
func kindName(k lineKind) string {
	for name, kk := range lineKinds {
		if kk == k {
			return name
		}
	}
	return "transition"
}

// newerTail returns an error matching ErrNewerFormat when the bytes after the
// last newline are the start of a record of a format version above
// FormatVersion: a newer circuitry may be appending it, and a file written
// by a newer version is refused, never cut. The version is known when its
// digits are followed by another byte, or when the digits read so far
// already exceed FormatVersion (more digits can only make it larger). A
// tail that stops inside a version not above FormatVersion ("{\"v\":1") is
// taken as this version's torn record.
func newerTail(tail []byte) error {
	rest, ok := bytes.CutPrefix(tail, []byte(tornStart))
	if !ok {
		return nil
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return nil
	}
	v, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err == nil && v <= segmentFormat {
		return nil
	}
	return fmt.Errorf("%w: the last line, not yet complete, starts a record of format version %s, this build reads 1 to %d: the file is being written by a newer circuitry", ErrNewerFormat, rest[:n], segmentFormat)
}

// tornStart is how every record this package writes begins.
const tornStart = `{"v":`

// tornTail reports whether the bytes after the last newline of a file are
// an append that did not finish: NUL bytes (a file system that extended the
// file but never wrote the data), or the beginning of a record, possibly
// followed by NUL bytes. Anything else is not cut: it is reported as
// corrupt, so that a file that is not a journal is never shortened.
func tornTail(tail []byte) bool {
	t := bytes.TrimRight(tail, "\x00")
	if len(t) < len(tornStart) {
		return bytes.HasPrefix([]byte(tornStart), t)
	}
	return bytes.HasPrefix(t, []byte(tornStart))
}
