package filejournal_test

import (
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/events/journaltest"
	"github.com/circuitry-go/circuitry/filejournal"
)

func TestFileConformance(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) events.Journal {
		// SyncNone and a small compaction bound keep the long history fast
		// and make it compact.
		return fjOpen(t, fjPath(t), nil, filejournal.WithSync(filejournal.SyncNone),
			filejournal.WithSegmentSize(4096))
	})
}
