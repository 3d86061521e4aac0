package otelbridge_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// A file journal's checkpoint handler given to Bridge.Checkpoint puts each
// head in the logs pipeline, and a head read back from there verifies the
// journal: the head is witnessed outside the journal's files.
func TestCheckpointHeadsLandInTheLogsAndVerifyTheJournal(t *testing.T) {
	r, rec := logRig(t, nil)
	path := filepath.Join(t.TempDir(), "breakers.jsonl")
	var sealed []filejournal.Checkpoint
	j, err := filejournal.Open(path, filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(1),
		filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) {
			sealed = append(sealed, c)
			r.bridge.Checkpoint(context.Background(), c.Sealed, c.Path, c.Head)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for i, e := range []events.Event{events.ForceOpen, events.ForceClose} {
		from, to, openFor := events.Closed, events.Open, time.Minute
		if e == events.ForceClose {
			from, to, openFor = events.Open, events.Closed, 0
		}
		if err := j.Append(context.Background(), events.Transition{Breaker: "payments", Seq: uint64(i + 1), Event: e, From: from, To: to,
			Time: t0.Add(time.Duration(i) * time.Second), OpenFor: openFor, Reason: events.Reason{Policy: events.PolicyManual}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	recs := rec.records()
	if len(recs) != len(sealed) || len(recs) != 2 {
		t.Fatalf("%d log records for %d checkpoints, want 2 of each", len(recs), len(sealed))
	}
	var heads []string
	for i, lr := range recs {
		got := map[attribute.Key]attribute.Value{}
		lr.WalkAttributes(func(kv attribute.KeyValue) bool { got[kv.Key] = kv.Value; return true })
		if lr.EventName() != otelbridge.CheckpointEvent || lr.Severity() != log.SeverityInfo ||
			got[otelbridge.KeyJournalSegment].AsInt64() != int64(sealed[i].Sealed) ||
			got[otelbridge.KeyJournalFile].AsString() != sealed[i].Path ||
			got[otelbridge.KeyJournalHead].AsString() != sealed[i].Head {
			t.Fatalf("record %d: event %q severity %v attributes %v; want the checkpoint %+v", i, lr.EventName(), lr.Severity(), got, sealed[i])
		}
		heads = append(heads, got[otelbridge.KeyJournalHead].AsString())
	}
	if rep, err := filejournal.Verify(path, filejournal.VerifyOptions{Heads: heads}); err != nil || rep.Heads != 2 {
		t.Fatalf("Verify with the heads from the logs = %+v, %v; want both found", rep, err)
	}
}
