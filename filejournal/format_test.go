package filejournal_test

import (
	"context"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/filejournal"
)

// Replicas of two releases share one journal file during a rolling deploy:
// records of version 1, records of this version, and records with fields a
// later minor format added all read, and this build appends after them.
func TestFileMixedFormats(t *testing.T) {
	recs := history("a", 3)
	v2 := fjLines(t, recs[1], recs[2])
	v1 := strings.Replace(fjLines(t, recs[0]), `{"v":2,`, `{"v":1,`, 1)
	// Fields a later minor format added, to the record and to its reason.
	later := strings.ReplaceAll(v2, `"reason":{`, `"zone":"b","reason":{"p99":"5ms",`)
	path := fjPath(t)
	fjWrite(t, path, v1+later)
	f := fjOpen(t, path, nil)
	requireSameRecords(t, fjReadAll(t, f, "a"), recs)
	next := history("a", 4)[3]
	if err := f.Append(context.Background(), next); err != nil {
		t.Fatalf("Append after records of a later minor format: %v", err)
	}
	if got := fjLoad(t, f, "a"); got.Seq != 4 {
		t.Fatalf("Load = %+v, want seq 4", got)
	}
}

// A snapshot record of a later minor format reads too.
func TestFileSnapshotOfALaterMinorFormat(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil, filejournal.WithSegmentSize(1))
	fjAppend(t, f, history("a", 3)...) // seals after each: the active segment starts with a snapshot record
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	content := fjRead(t, path)
	if !strings.Contains(content, `"kind":"snapshot"`) {
		t.Fatalf("no snapshot record in %s", content)
	}
	fjWrite(t, path, strings.Replace(content, `"kind":"snapshot",`, `"kind":"snapshot","checkpoint_of":"x",`, 1))
	g := fjOpen(t, path, nil)
	if got := fjLoad(t, g, "a"); got.Seq != 3 {
		t.Fatalf("Load = %+v, want seq 3", got)
	}
}
