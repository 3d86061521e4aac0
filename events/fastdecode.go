package events

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file decodes, without reflection, the records [Transition.MarshalJSON]
// writes, which is nearly every line an audit tool reads. It handles only
// the plainest JSON: no white space, no escapes in strings, each key once,
// no null. Anything else, however valid, it leaves to the general decoder
// in [Transition.UnmarshalJSON], so that it needs to agree with
// encoding/json only on this small subset:
//
//   - a string without a backslash, control character or invalid UTF-8
//     decodes to its bytes as they are;
//   - a key matches the field it names exactly, with no case folding;
//   - a number decodes by strconv, as encoding/json decodes it;
//   - a time decodes by [time.Time.UnmarshalJSON], which encoding/json calls.
//
// Every check UnmarshalJSON makes after decoding, decodeFast makes too. It
// does not report why it declined: the general decoder says why a record is
// bad, or decodes it.

// The keys of a record, as wireTransition tags its fields, each a bit of the
// set of keys already seen in a record.
const (
	keyV = 1 << iota
	keyBreaker
	keySeq
	keyEvent
	keyFrom
	keyTo
	keyTime
	keyOpenFor
	keyObserveOnly
	keyWriter
	keyID
	keyPrevHash
	keyReason

	// keysRequired are the keys UnmarshalJSON refuses a record without.
	keysRequired = keyV | keyBreaker | keySeq | keyEvent | keyFrom | keyTo | keyTime
)

// wireKey returns the bit of the key name, or 0 for a key that is not one
// of a record's.
func wireKey(name []byte) uint16 {
	// A switch on string(name) compares without allocating a string.
	switch string(name) {
	case "v":
		return keyV
	case "breaker":
		return keyBreaker
	case "seq":
		return keySeq
	case "event":
		return keyEvent
	case "from":
		return keyFrom
	case "to":
		return keyTo
	case "time":
		return keyTime
	case "open_for":
		return keyOpenFor
	case "observe_only":
		return keyObserveOnly
	case "writer":
		return keyWriter
	case "id":
		return keyID
	case "prev_hash":
		return keyPrevHash
	case "reason":
		return keyReason
	}
	return 0
}

// decodeFast decodes a record as MarshalJSON writes it (of format version 1
// or 2), giving the same Transition as the general decoder of
// UnmarshalJSON. It returns false, and leaves the record to the general
// decoder, for anything it does not handle: white space, escapes in
// strings, invalid UTF-8, null, an unknown or repeated key, a value of
// another type or form than MarshalJSON writes, and every record the
// general decoder refuses.
func decodeFast(data []byte) (Transition, bool) {
	var t Transition
	s := scanner{data: data}
	if !s.next('{') {
		return Transition{}, false
	}
	var seen uint16
	for first := true; !s.next('}'); first = false {
		if !first && !s.next(',') {
			return Transition{}, false
		}
		name, ok := s.str()
		if !ok || !s.next(':') {
			return Transition{}, false
		}
		key := wireKey(name)
		if key == 0 || seen&key != 0 {
			return Transition{}, false
		}
		seen |= key
		if !s.field(&t, key) {
			return Transition{}, false
		}
	}
	// The general decoder accepts white space after the record, but nothing
	// else; decodeFast accepts nothing.
	if s.pos != len(data) || seen&keysRequired != keysRequired || t.Breaker == "" {
		return Transition{}, false
	}
	return t, true
}

// field decodes the value of the record's key into t, with the checks
// UnmarshalJSON makes of it.
func (s *scanner) field(t *Transition, key uint16) bool {
	switch key {
	case keyV:
		v, ok := s.uint()
		return ok && v >= 1 && v <= FormatVersion
	case keySeq:
		var ok bool
		t.Seq, ok = s.uint()
		return ok
	case keyEvent:
		name, ok := s.str()
		if !ok {
			return false
		}
		t.Event, ok = eventNamed(name)
		return ok
	case keyFrom, keyTo:
		name, ok := s.str()
		if !ok {
			return false
		}
		state, ok := stateNamed(name)
		if key == keyFrom {
			t.From = state
		} else {
			t.To = state
		}
		return ok
	case keyTime:
		start := s.pos
		if _, ok := s.str(); !ok {
			return false
		}
		// Time.UnmarshalJSON is what encoding/json calls, with the string
		// as it stands in the record, quotes included.
		var tm time.Time
		if tm.UnmarshalJSON(s.data[start:s.pos]) != nil {
			return false
		}
		t.Time = tm.UTC()
		y := t.Time.Year()
		return y >= 0 && y <= 9999
	case keyOpenFor:
		d, ok := s.duration()
		t.OpenFor = d
		return ok
	case keyObserveOnly:
		var ok bool
		t.ObserveOnly, ok = s.bool()
		return ok
	case keyReason:
		return s.reason(&t.Reason)
	}
	// The text fields: breaker, writer, id and prev_hash.
	text, ok := s.str()
	if !ok {
		return false
	}
	switch key {
	case keyBreaker:
		t.Breaker = string(text)
	case keyWriter:
		t.Writer = string(text)
	case keyID:
		t.ID = string(text)
	case keyPrevHash:
		t.PrevHash = string(text)
	default:
		return false // a key wireKey knows and this switch does not
	}
	return true
}

// reason decodes a reason object into out, with the checks unmarshalReason
// makes. It finds the fields in reasonSchema, as unmarshalReason does, and
// declines keys the schema does not declare, which unmarshalReason ignores.
func (s *scanner) reason(out *Reason) bool {
	if len(reasonSchema) > 64 {
		return false // the set of fields seen below holds 64
	}
	if !s.next('{') {
		return false
	}
	// The schema's accessors are function values, so the Reason they are
	// given escapes to the heap: r, not the whole record.
	r := new(Reason)
	var seen uint64
	for first := true; !s.next('}'); first = false {
		if !first && !s.next(',') {
			return false
		}
		name, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		i := reasonFieldIndex(name)
		if i < 0 || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		sf := &reasonSchema[i]
		switch sf.kind {
		case KindCount:
			*sf.count(r), ok = s.uint()
		case KindPercent:
			*sf.percent(r), ok = s.float()
		case KindDuration:
			*sf.duration(r), ok = s.duration()
		case KindText:
			var text []byte
			text, ok = s.str()
			*sf.text(r) = string(text)
		default:
			ok = false
		}
		if !ok {
			return false
		}
	}
	*out = *r
	return true
}

// reasonFieldIndex returns the index in reasonSchema of the field named
// name, or -1.
func reasonFieldIndex(name []byte) int {
	for i := range reasonSchema {
		if reasonSchema[i].name == string(name) {
			return i
		}
	}
	return -1
}

// eventNamed is [ParseEvent] of a name in bytes, without building the
// error (or the string) ParseEvent would.
func eventNamed(name []byte) (Event, bool) {
	for i, d := range eventDecl {
		if i != 0 && d.name == string(name) {
			return Event(i), true
		}
	}
	return 0, false
}

// stateNamed is [ParseState] of a name in bytes, without building the
// error (or the string) ParseState would.
func stateNamed(name []byte) (State, bool) {
	for i, n := range stateNames {
		if n == string(name) {
			return State(i), true
		}
	}
	return 0, false
}

// scanner reads the values of a record from data, starting at pos. Each of
// its methods reads one token or value and returns false, with pos
// anywhere, when the input there is not of the plain form it reads.
type scanner struct {
	data []byte
	pos  int
}

// next consumes the byte c if it comes next.
func (s *scanner) next(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// plain marks the bytes that stand for themselves in a string and need no
// further look: ASCII, printable, neither a quote nor a backslash.
var plain = func() (set [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		set[c] = c != '"' && c != '\\'
	}
	return set
}()

// str reads a string and returns its contents, which are its value: a
// string with an escape, a control character (which JSON forbids) or
// invalid UTF-8 (which encoding/json replaces) is declined.
func (s *scanner) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	rest := s.data[s.pos:]
	ascii := true
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if plain[c] {
			continue
		}
		switch {
		case c == '"':
			text := rest[:i]
			if !ascii && !utf8.Valid(text) {
				return nil, false
			}
			s.pos += i + 1
			return text, true
		case c >= utf8.RuneSelf:
			ascii = false
		default: // a backslash or a control character
			return nil, false
		}
	}
	return nil, false // unterminated
}

// uint reads an unsigned integer: digits, without a leading zero (which
// JSON forbids), and not above math.MaxUint64 (which encoding/json
// refuses). A fraction or an exponent is declined by the caller, which finds
// '.' or 'e' where it expects ',' or '}'.
func (s *scanner) uint() (uint64, bool) {
	start := s.pos
	var n uint64
	for ; s.pos < len(s.data); s.pos++ {
		c := s.data[s.pos]
		if c < '0' || c > '9' {
			break
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false // n*10+d overflows
		}
		n = n*10 + d
	}
	digits := s.pos - start
	if digits == 0 || (digits > 1 && s.data[start] == '0') {
		return 0, false
	}
	return n, true
}

// float reads a number of JSON's grammar,
//
//	-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
//
// and parses it with strconv.ParseFloat, as encoding/json does, declining
// a number out of the range of a float64.
func (s *scanner) float() (float64, bool) {
	start := s.pos
	s.next('-')
	switch {
	case s.next('0'):
	case s.pos < len(s.data) && s.data[s.pos] >= '1' && s.data[s.pos] <= '9':
		s.digits()
	default:
		return 0, false
	}
	if s.next('.') && !s.digits() {
		return 0, false
	}
	if s.next('e') || s.next('E') {
		if !s.next('+') {
			s.next('-')
		}
		if !s.digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(s.data[start:s.pos]), 64)
	return f, err == nil
}

// digits consumes the digits that come next, and reports whether there was
// at least one.
func (s *scanner) digits() bool {
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// bool reads true or false.
func (s *scanner) bool() (v, ok bool) {
	rest := s.data[s.pos:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.pos += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.pos += 5
		return false, true
	}
	return false, false
}

// duration reads a duration string as the codec writes one: empty for
// none (0), or positive by time.ParseDuration, which is how UnmarshalJSON
// and unmarshalReason read open_for and the reason's durations.
func (s *scanner) duration() (time.Duration, bool) {
	text, ok := s.str()
	if !ok || len(text) == 0 {
		return 0, ok
	}
	d, err := time.ParseDuration(string(text))
	return d, err == nil && d > 0
}
