package events

import (
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"time"
)

// FieldKind is the kind of value a [Reason] field holds.
type FieldKind uint8

const (
	// KindText is a string: the policy's name, or free text.
	KindText FieldKind = iota
	// KindCount is a count of calls.
	KindCount
	// KindPercent is a rate or a rate threshold, in percent.
	KindPercent
	// KindDuration is a duration.
	KindDuration
)

// String returns "text", "count", "percent" or "duration".
func (k FieldKind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindCount:
		return "count"
	case KindPercent:
		return "percent"
	case KindDuration:
		return "duration"
	}
	return fmt.Sprintf("FieldKind(%d)", uint8(k))
}

// Field is one field of a [Reason] that is set, as [Reason.Fields] yields
// it: the name every reader and writer uses for it (the key in the JSON
// encoding, in the slog subscriber's reason group, after
// "circuitry.breaker.reason." in the OpenTelemetry bridge, and in the audit
// command's text), its kind, and its value in the member of that kind.
type Field struct {
	Name string
	Kind FieldKind
	// Free says that the value is free text (the last error, an operator's
	// note): never use it as a metric label.
	Free     bool
	Text     string
	Count    uint64
	Percent  float64
	Duration time.Duration
}

// String formats the field as name=value, as the audit command shows it:
// text quoted (the policy's name as is), a count as a number, a percent
// with up to four significant digits and a % sign, a duration as Go writes
// it.
func (f Field) String() string {
	switch f.Kind {
	case KindCount:
		return f.Name + "=" + strconv.FormatUint(f.Count, 10)
	case KindPercent:
		return f.Name + "=" + strconv.FormatFloat(f.Percent, 'g', 4, 64) + "%"
	case KindDuration:
		return f.Name + "=" + f.Duration.String()
	}
	if f.Name == "policy" {
		return f.Name + "=" + f.Text
	}
	return f.Name + "=" + strconv.Quote(f.Text)
}

// reasonField declares one field of Reason: its name, kind, and where it
// lives in a Reason. The schema below is the one place a field is named.
type reasonField struct {
	name     string
	kind     FieldKind
	free     bool
	text     func(*Reason) *string
	count    func(*Reason) *uint64
	percent  func(*Reason) *float64
	duration func(*Reason) *time.Duration
}

// reasonSchema is every field of Reason, in the order they are encoded,
// logged and shown. Adding a field to Reason means adding it here, and
// nowhere else: the codec, the slog subscriber, the OpenTelemetry bridge
// and the audit command all read this list (a test checks that every field
// of Reason is in it).
var reasonSchema = []reasonField{
	{name: "policy", kind: KindText, text: func(r *Reason) *string { return &r.Policy }},
	{name: "failures", kind: KindCount, count: func(r *Reason) *uint64 { return &r.Failures }},
	{name: "successes", kind: KindCount, count: func(r *Reason) *uint64 { return &r.Successes }},
	{name: "threshold", kind: KindCount, count: func(r *Reason) *uint64 { return &r.Threshold }},
	{name: "calls", kind: KindCount, count: func(r *Reason) *uint64 { return &r.Calls }},
	{name: "slow", kind: KindCount, count: func(r *Reason) *uint64 { return &r.Slow }},
	{name: "rate", kind: KindPercent, percent: func(r *Reason) *float64 { return &r.Rate }},
	{name: "rate_threshold", kind: KindPercent, percent: func(r *Reason) *float64 { return &r.RateThreshold }},
	{name: "min_calls", kind: KindCount, count: func(r *Reason) *uint64 { return &r.MinCalls }},
	{name: "slower_than", kind: KindDuration, duration: func(r *Reason) *time.Duration { return &r.SlowerThan }},
	{name: "retry_after", kind: KindDuration, duration: func(r *Reason) *time.Duration { return &r.RetryAfter }},
	{name: "last_error", kind: KindText, free: true, text: func(r *Reason) *string { return &r.LastError }},
	{name: "operator", kind: KindText, text: func(r *Reason) *string { return &r.Operator }},
	{name: "note", kind: KindText, free: true, text: func(r *Reason) *string { return &r.Note }},
}

// ReasonFieldNames returns the names of every field of a [Reason], in the
// order [Reason.Fields] yields them: the columns of a table of reasons.
func ReasonFieldNames() []string {
	names := make([]string, len(reasonSchema))
	for i, sf := range reasonSchema {
		names[i] = sf.name
	}
	return names
}

// Fields yields the fields of r that are set (non-zero), in a fixed order:
// policy, failures, successes, threshold, calls, slow, rate,
// rate_threshold, min_calls, slower_than, retry_after, last_error, operator,
// note.
func (r Reason) Fields() iter.Seq[Field] {
	return func(yield func(Field) bool) {
		for _, sf := range reasonSchema {
			if f, ok := sf.get(&r); ok && !yield(f) {
				return
			}
		}
	}
}

// get returns the field's value in r, and whether it is set.
func (sf reasonField) get(r *Reason) (Field, bool) {
	f := Field{Name: sf.name, Kind: sf.kind, Free: sf.free}
	switch sf.kind {
	case KindCount:
		f.Count = *sf.count(r)
		return f, f.Count != 0
	case KindPercent:
		f.Percent = *sf.percent(r)
		return f, f.Percent != 0
	case KindDuration:
		f.Duration = *sf.duration(r)
		return f, f.Duration != 0
	}
	f.Text = *sf.text(r)
	return f, f.Text != ""
}

// marshal encodes the field's value as JSON: a duration as its string.
func (f Field) marshal() ([]byte, error) {
	switch f.Kind {
	case KindCount:
		return json.Marshal(f.Count)
	case KindPercent:
		return json.Marshal(f.Percent)
	case KindDuration:
		return json.Marshal(f.Duration.String())
	}
	return json.Marshal(f.Text)
}

// unmarshal decodes the field's JSON value into r.
func (sf reasonField) unmarshal(r *Reason, data json.RawMessage) error {
	var err error
	switch sf.kind {
	case KindCount:
		err = json.Unmarshal(data, sf.count(r))
	case KindPercent:
		err = json.Unmarshal(data, sf.percent(r))
	case KindDuration:
		var s string
		if err = json.Unmarshal(data, &s); err == nil && s != "" {
			d, perr := time.ParseDuration(s)
			if perr != nil || d <= 0 {
				return fmt.Errorf("%w: field reason.%s %q is not a positive duration", ErrDecode, sf.name, s)
			}
			*sf.duration(r) = d
		}
	default:
		err = json.Unmarshal(data, sf.text(r))
	}
	if err != nil {
		return fmt.Errorf("%w: field reason.%s (%s): %v", ErrDecode, sf.name, sf.kind, err)
	}
	return nil
}

// marshalReason encodes r as a JSON object of its set fields, in the
// schema's order.
func marshalReason(r Reason) (json.RawMessage, error) {
	b := []byte{'{'}
	for f := range r.Fields() {
		v, err := f.marshal()
		if err != nil {
			return nil, fmt.Errorf("circuitry: reason.%s: %w", f.Name, err)
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, f.Name)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// unmarshalReason decodes a reason object. Fields the schema does not
// declare (added by a later minor format) are ignored.
func unmarshalReason(data json.RawMessage) (Reason, error) {
	var r Reason
	if len(data) == 0 || string(data) == "null" {
		return r, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return r, fmt.Errorf("%w: field reason: %v", ErrDecode, err)
	}
	for _, sf := range reasonSchema {
		if v, ok := fields[sf.name]; ok {
			if err := sf.unmarshal(&r, v); err != nil {
				return Reason{}, err
			}
		}
	}
	return r, nil // fields a later minor format added are ignored
}
