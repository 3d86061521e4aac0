package events

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limits on the text a record carries, so that every journal can store every
// record a breaker makes. A record holds at most a name, an operator and a
// note of these sizes, an error text of at most 1 KiB and fixed-size figures:
// a few kilobytes encoded, well within [MaxRecordSize] and within a NATS
// message (1 MiB with its headers). A breaker refuses longer text where it is
// given ([CheckName] at construction, [CheckOverride] at a manual control),
// so that nothing a caller passes can make a journal refuse a record.
const (
	// MaxNameLen is the longest breaker name, in bytes.
	MaxNameLen = 256
	// MaxOperatorLen is the longest operator of a manual control, in bytes.
	MaxOperatorLen = 256
	// MaxNoteLen is the longest note of a manual control, in bytes.
	MaxNoteLen = 4096
)

// ErrInvalidText is matched by the error of [CheckName] and [CheckOverride]:
// a name, operator or note that is empty, too long, not UTF-8 or holds
// control characters.
var ErrInvalidText = errors.New("circuitry: invalid text")

// TextError is the detail of an [ErrInvalidText]: which field, its value
// (cut to 64 bytes when longer) and why it is refused.
type TextError struct {
	// Field is "name", "operator" or "note".
	Field string
	// Value is the value given, cut to its first 64 bytes when longer.
	Value string
	// Len is the value's length in bytes.
	Len int
	// Reason says what the value must be.
	Reason string
}

func (e *TextError) Error() string {
	v := fmt.Sprintf("%q", e.Value)
	if e.Len > len(e.Value) {
		v = fmt.Sprintf("%q… (%d bytes)", e.Value, e.Len)
	}
	return fmt.Sprintf("circuitry: %s %s: %s", e.Field, v, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidText) true.
func (e *TextError) Is(target error) bool { return target == ErrInvalidText }

// CheckName returns a [*TextError] unless name can name a breaker: 1 to
// [MaxNameLen] bytes of valid UTF-8 without control characters.
func CheckName(name string) error {
	return checkText("name", name, MaxNameLen, false)
}

// CheckOverride returns a [*TextError] unless operator and note can be
// recorded for a manual control: an operator of 1 to [MaxOperatorLen] bytes
// of valid UTF-8 without control characters, and a note of 1 to
// [MaxNoteLen] bytes of valid UTF-8 whose only control characters are
// newlines and tabs.
func CheckOverride(operator, note string) error {
	if err := checkText("operator", operator, MaxOperatorLen, false); err != nil {
		return err
	}
	return checkText("note", note, MaxNoteLen, true)
}

func checkText(field, s string, maxLen int, multiline bool) error {
	refuse := func(reason string) error {
		v := s
		if len(v) > 64 {
			v = v[:64]
		}
		return &TextError{Field: field, Value: v, Len: len(s), Reason: reason}
	}
	switch {
	case s == "":
		return refuse("must not be empty")
	case len(s) > maxLen:
		return refuse(fmt.Sprintf("is %d bytes, more than the %d allowed", len(s), maxLen))
	case !utf8.ValidString(s):
		return refuse("must be valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return refuse(fmt.Sprintf("holds the control character %U", r))
		}
	}
	return nil
}
