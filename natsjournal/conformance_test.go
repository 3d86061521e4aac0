package natsjournal_test

import (
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/events/journaltest"
)

func TestNATSConformance(t *testing.T) {
	nc := connect(t, startServer(t))
	journaltest.Run(t, func(t *testing.T) events.Journal { return newJournal(t, nc) })
}
