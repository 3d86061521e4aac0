package events_test

import (
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/events/journaltest"
)

func TestMemoryConformance(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) events.Journal {
		m, err := events.NewMemory(100)
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}
