package filejournal_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// A record no journal should hold is refused for good, as a *RefusedError
// naming it, and so is every append to a closed journal: a breaker must not
// retry it for ever.
func TestFileRefusesForGood(t *testing.T) {
	ok := history("ok", 1)[0]
	with := func(f func(*events.Transition)) events.Transition { r := ok; f(&r); return r }
	for _, b := range []struct {
		name string
		rec  events.Transition
	}{
		{"name not UTF-8", with(func(r *events.Transition) { r.Breaker = "bad\xffname" })},
		{"1 MiB name", with(func(r *events.Transition) { r.Breaker = strings.Repeat("n", 1<<20) })},
		{"illegal transition", with(func(r *events.Transition) { r.From = events.Open })},
	} {
		t.Run(b.name, func(t *testing.T) {
			err := fjOpen(t, fjPath(t), nil).Append(context.Background(), b.rec)
			var re *events.RefusedError
			if !errors.As(err, &re) || !errors.Is(err, events.ErrRefused) {
				t.Fatalf("Append: %v (%T), want a *RefusedError", err, err)
			}
			if re.Seq != b.rec.Seq || re.Breaker != b.rec.Breaker {
				t.Fatalf("RefusedError names seq %d of %.20q, want seq %d of %.20q", re.Seq, re.Breaker, b.rec.Seq, b.rec.Breaker)
			}
		})
	}
	t.Run("closed", func(t *testing.T) {
		f := fjOpen(t, fjPath(t), nil)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		err := f.Append(context.Background(), ok)
		if !errors.Is(err, events.ErrRefused) || !errors.Is(err, filejournal.ErrClosed) {
			t.Fatalf("Append after Close: %v, want ErrRefused and ErrClosed", err)
		}
	})
	t.Run("conflict is not a refusal", func(t *testing.T) {
		f := fjOpen(t, fjPath(t), nil)
		fjAppend(t, f, ok)
		if err := f.Append(context.Background(), ok); !errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrRefused) {
			t.Fatalf("second Append: %v, want a conflict, not a refusal", err)
		}
	})
}
