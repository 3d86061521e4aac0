package machine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

func TestJournalReturnsTheJournalTheBreakerAppendsTo(t *testing.T) {
	ctx := context.Background()
	t.Run("given", func(t *testing.T) {
		j, err := events.NewMemory(8)
		if err != nil {
			t.Fatal(err)
		}
		b, err := machine.New("j", machine.WithJournal(j))
		if err != nil {
			t.Fatal(err)
		}
		if b.Journal() != events.Journal(j) {
			t.Errorf("Journal() = %v, want the journal given", b.Journal())
		}
	})
	t.Run("default", func(t *testing.T) {
		b, err := machine.New("j")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.ForceOpen(ctx, machine.Override{Operator: "test", Note: "audit"}); err != nil {
			t.Fatal(err)
		}
		recs, err := b.Journal().Read(ctx, "j", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Event != events.ForceOpen {
			t.Errorf("default journal holds %v, want the force_open record", recs)
		}
	})
}

func TestManualControlsRejectAnInvalidOverrideWithErrInvalidOverride(t *testing.T) {
	ctx := context.Background()
	b, err := machine.New("o")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"no operator", func() error { return b.ForceOpen(ctx, machine.Override{Note: "n"}) }},
		{"no note", func() error { return b.ForceOpen(ctx, machine.Override{Operator: "o"}) }},
		{"negative open for", func() error {
			return b.ForceOpen(ctx, machine.Override{Operator: "o", Note: "n", OpenFor: -time.Second})
		}},
		{"open for on force close", func() error {
			return b.ForceClose(ctx, machine.Override{Operator: "o", Note: "n", OpenFor: time.Second})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); !errors.Is(err, machine.ErrInvalidOverride) {
				t.Errorf("error = %v, want one matching ErrInvalidOverride", err)
			}
			if b.State() != events.Closed {
				t.Errorf("state = %s after a refused override, want closed", b.State())
			}
		})
	}
}
