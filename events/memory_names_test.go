package events_test

import (
	"context"
	"errors"
	"testing"

	"github.com/circuitry-go/circuitry/events"
)

func TestMemoryRefusesBreakerNamesTheCodecCannotCarry(t *testing.T) {
	for _, name := range []string{"", "bad\xffname"} {
		t.Run(name, func(t *testing.T) {
			m, err := events.NewMemory(4)
			if err != nil {
				t.Fatal(err)
			}
			r := events.Transition{Breaker: name, Seq: 1, Event: events.ForceOpen, From: events.Closed, To: events.Open, OpenFor: 1}
			if err := m.Append(context.Background(), r); !errors.Is(err, events.ErrInvalidRecord) {
				t.Errorf("Append with breaker %q = %v, want ErrInvalidRecord", name, err)
			}
			if got := m.Breakers(); len(got) != 0 {
				t.Errorf("Breakers() = %v after a refused append, want none", got)
			}
		})
	}
}
