package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // "" for valid
	}{
		{"plain", "payments-api", ""},
		{"unicode", "zahlungsdienst-köln", ""},
		{"longest", strings.Repeat("n", events.MaxNameLen), ""},
		{"empty", "", "must not be empty"},
		{"one byte too long", strings.Repeat("n", events.MaxNameLen+1), "more than the 256 allowed"},
		{"1 MiB", strings.Repeat("n", 1<<20), "1048576 bytes"},
		{"invalid UTF-8", "bad\xffname", "valid UTF-8"},
		{"newline", "two\nlines", "control character U+000A"},
		{"NUL", "nul\x00", "control character U+0000"},
		{"C1 control", "c1\u0085", "control character U+0085"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := events.CheckName(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckName: %v", err)
				}
				return
			}
			if !errors.Is(err, events.ErrInvalidText) {
				t.Fatalf("CheckName: %v, want ErrInvalidText", err)
			}
			var te *events.TextError
			if !errors.As(err, &te) || te.Field != "name" || te.Len != len(tt.in) {
				t.Fatalf("CheckName: %#v, want a *TextError for the name of length %d", err, len(tt.in))
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckName: %q does not say %q", err, tt.wantErr)
			}
			if len(err.Error()) > 300 {
				t.Fatalf("CheckName: the message is %d bytes: a huge value must be cut", len(err.Error()))
			}
		})
	}
}

func TestCheckOverride(t *testing.T) {
	tests := []struct {
		name           string
		operator, note string
		field          string // "" for valid
	}{
		{"valid", "alice", "maintenance window\n\tticket OPS-1", ""},
		{"longest", strings.Repeat("o", events.MaxOperatorLen), strings.Repeat("n", events.MaxNoteLen), ""},
		{"empty operator", "", "why", "operator"},
		{"empty note", "alice", "", "note"},
		{"operator too long", strings.Repeat("o", events.MaxOperatorLen+1), "why", "operator"},
		{"2 MiB note", "alice", strings.Repeat("n", 2<<20), "note"},
		{"operator with newline", "ali\nce", "why", "operator"},
		{"note with escape", "alice", "colour \x1b[31m", "note"},
		{"note not UTF-8", "alice", "\xfe", "note"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := events.CheckOverride(tt.operator, tt.note)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("CheckOverride: %v", err)
				}
				return
			}
			var te *events.TextError
			if !errors.As(err, &te) || te.Field != tt.field || !errors.Is(err, events.ErrInvalidText) {
				t.Fatalf("CheckOverride: %v, want a *TextError for the %s", err, tt.field)
			}
		})
	}
}

// A record no journal should hold is refused for good, as a *RefusedError
// naming it: a breaker must not retry it for ever. (The file journal runs
// the same cases in its own package.)
func TestMemoryRefusesForGood(t *testing.T) {
	ok := history("ok", 1)[0]
	for _, b := range refusedRecords(ok) {
		t.Run(b.name, func(t *testing.T) {
			m, err := events.NewMemory(8)
			if err != nil {
				t.Fatal(err)
			}
			requireRefused(t, m.Append(context.Background(), b.rec), b.rec)
		})
	}
	t.Run("conflict is not a refusal", func(t *testing.T) {
		m, err := events.NewMemory(8)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Append(context.Background(), ok); err != nil {
			t.Fatal(err)
		}
		if err := m.Append(context.Background(), ok); !errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrRefused) {
			t.Fatalf("second Append: %v, want a conflict, not a refusal", err)
		}
	})
}

type refusedRecord struct {
	name string
	rec  events.Transition
}

// refusedRecords are records every journal refuses for good, made from ok.
func refusedRecords(ok events.Transition) []refusedRecord {
	with := func(f func(*events.Transition)) events.Transition { r := ok; f(&r); return r }
	return []refusedRecord{
		{"name not UTF-8", with(func(r *events.Transition) { r.Breaker = "bad\xffname" })},
		{"1 MiB name", with(func(r *events.Transition) { r.Breaker = strings.Repeat("n", 1<<20) })},
		{"illegal transition", with(func(r *events.Transition) { r.From = events.Open })},
	}
}

func requireRefused(t *testing.T, err error, rec events.Transition) {
	t.Helper()
	var re *events.RefusedError
	if !errors.As(err, &re) || !errors.Is(err, events.ErrRefused) {
		t.Fatalf("Append: %v (%T), want a *RefusedError", err, err)
	}
	if re.Seq != rec.Seq || re.Breaker != rec.Breaker {
		t.Fatalf("RefusedError names seq %d of %.20q, want seq %d of %.20q", re.Seq, re.Breaker, rec.Seq, rec.Breaker)
	}
}
