package natsjournal_test

import (
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/events/journaltest"
	"github.com/circuitry-go/circuitry/natsjournal"
)

func TestNATSConformance(t *testing.T) {
	nc := connect(t, startServer(t))
	journaltest.Run(t, func(t *testing.T) events.Journal { return newJournal(t, nc) })
}

// Over a stream with a limit the journal checkpoints every record; the
// limit (an hour) removes nothing while the suite runs.
func TestNATSConformanceLimited(t *testing.T) {
	nc := connect(t, startServer(t))
	journaltest.Run(t, func(t *testing.T) events.Journal {
		return newJournal(t, nc, natsjournal.WithMaxAge(time.Hour),
			natsjournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
	})
}
