package filejournal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/events/journaltest"
	"github.com/circuitry-go/circuitry/filejournal"
)

func TestFileConformance(t *testing.T) {
	journaltest.RunWith(t, func(t *testing.T) events.Journal {
		// SyncNone and a small segment keep the long history fast and make
		// it seal several segments.
		return fjOpen(t, fjPath(t), nil, filejournal.WithSync(filejournal.SyncNone),
			filejournal.WithSegmentSize(4096), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
	}, journaltest.Powers{
		Checkpoint: func(ctx context.Context, j events.Journal) error {
			_, err := j.(*filejournal.File).Checkpoint(ctx)
			return err
		},
		Tamper: func(t *testing.T, j events.Journal, breaker string, seq uint64) error {
			f := j.(*filejournal.File)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			path := f.Path()
			fjEditLine(t, path, fjLineOf(t, path, breaker, seq), func(s string) string {
				return strings.Replace(s, fmt.Sprintf(`"failures":%d,`, seq), fmt.Sprintf(`"failures":%d,`, seq+100), 1)
			})
			_, err := filejournal.Verify(path, filejournal.VerifyOptions{})
			return err
		},
	})
}
