package natsjournal_test

import (
	"context"
	"errors"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats.go/jetstream"
)

// appendN appends records 1 to n of breaker to j.
func appendN(t *testing.T, j *natsjournal.Journal, breaker string, from, to uint64) []events.Transition {
	t.Helper()
	var recs []events.Transition
	for seq := from; seq <= to; seq++ {
		r := record(breaker, seq)
		if err := j.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// A checkpoint lets a journal that never saw the history load the breaker
// from it and the records after it: even with the records before it
// purged, which a load from the start could not survive.
func TestCheckpointLoadsWithoutTheHistory(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	w := newJournal(t, nc, natsjournal.WithCheckpointEvery(0))
	recs := appendN(t, w, "a", 1, 50)
	if err := w.Checkpoint(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	head, err := w.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, appendN(t, w, "a", 51, 55)...)
	want, err := events.Replay("a", recs)
	if err != nil {
		t.Fatal(err)
	}

	// A watch sees records, never checkpoints.
	got, err := w.Watch(ctx, head)
	if err != nil || len(got) != 5 || got[0].Seq != 51 {
		t.Fatalf("Watch after the checkpoint = %+v, %v; want records 51 to 55", got, err)
	}

	s := streamOf(t, nc, w)
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(w.Subject("a")), jetstream.WithPurgeKeep(5)); err != nil {
		t.Fatal(err)
	}
	r := sameStream(t, nc, w)
	base, err := r.Snapshot(ctx, "a")
	if fold50, _ := events.Replay("a", recs[:50]); err != nil || !base.Equal(fold50) {
		t.Fatalf("Snapshot = %+v, %v; want the fold of records 1 to 50 %+v", base, err, fold50)
	}
	if got, err := events.Load(ctx, r, "a"); err != nil || !got.Equal(want) {
		t.Fatalf("Load from the checkpoint = %+v, %v; want %+v", got, err, want)
	}
	if _, err := r.Read(ctx, "a", 0); !errors.Is(err, events.ErrCompacted) {
		t.Fatalf("Read(0) of the purged history = %v, want ErrCompacted", err)
	}
	if err := w.Checkpoint(ctx, "a"); err != nil {
		t.Fatalf("a second checkpoint: %v", err)
	}
	if got, err := r.Snapshot(ctx, "a"); err != nil || !got.Equal(want) {
		t.Fatalf("Snapshot after the second checkpoint = %+v, %v; want %+v", got, err, want)
	}
}

func TestCheckpointsAsRecordsAreAppended(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	w := newJournal(t, nc, natsjournal.WithCheckpointEvery(10),
		natsjournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
	recs := appendN(t, w, "a", 1, 25)
	// The checkpoint due after record 20 folds what is stored when it
	// runs: record 20 at least.
	eventually(t, "a checkpoint of record 20 or later", func() bool {
		s, err := w.Snapshot(ctx, "a")
		if err != nil || s.Seq < 20 {
			return false
		}
		want, _ := events.Replay("a", recs[:s.Seq])
		if !s.Equal(want) {
			t.Fatalf("checkpoint %+v, want the fold %+v", s, want)
		}
		return true
	})
	if err := w.Close(); err != nil { // waits for a checkpoint under way
		t.Fatal(err)
	}
}

func TestCheckpointThatIsNotOne(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	j := newJournal(t, nc, natsjournal.WithCheckpointEvery(0))
	appendN(t, j, "a", 1, 3)
	kv := bucketOf(t, nc, j)
	for _, c := range []struct{ name, data string }{
		{"not JSON", "{"},
		{"another breaker's", `{"v":1,"breaker":"b","seq":1,"state":"open","event":"trip","since":"2026-12-01T10:00:00Z","open_for":"1m","pos":1}`},
		{"a later version", `{"v":2,"breaker":"a","seq":1,"state":"open","event":"trip","since":"2026-12-01T10:00:00Z","open_for":"1m","pos":1}`},
		{"open without a period", `{"v":1,"breaker":"a","seq":1,"state":"open","event":"trip","since":"2026-12-01T10:00:00Z","pos":1}`},
		{"at seq 0", `{"v":1,"breaker":"a","seq":0,"state":"closed","event":"trip","since":"2026-12-01T10:00:00Z","pos":1}`},
		{"ahead of the history", `{"v":1,"breaker":"a","seq":999,"state":"open","event":"trip","since":"2026-12-01T10:00:00Z","open_for":"1m","pos":3}`},
		{"pointing at another record", `{"v":1,"breaker":"a","seq":2,"state":"closed","event":"force_close","since":"2026-12-01T10:00:00Z","pos":1}`},
		{"a head that is not a link hash", `{"v":1,"breaker":"a","seq":3,"state":"open","event":"force_open","since":"2026-12-01T10:00:00Z","open_for":"1m","pos":3,"head":"md5:0123"}`},
		{"a head of another record", `{"v":1,"breaker":"a","seq":3,"state":"open","event":"force_open","since":"2026-12-01T10:00:00Z","open_for":"1m","pos":3,"head":"sha256:00000000000000000000000000000000"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			rev, err := kv.Put(ctx, j.CheckpointKey("a"), []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			_, err = j.Snapshot(ctx, "a")
			var me *natsjournal.MessageError
			if !errors.As(err, &me) || me.Pos != rev {
				t.Fatalf("Snapshot over %s = %v, want a *MessageError at revision %d", c.name, err, rev)
			}
			if _, err := events.Load(ctx, j, "a"); !errors.Is(err, natsjournal.ErrBadMessage) {
				t.Fatalf("Load over %s = %v, want ErrBadMessage", c.name, err)
			}
		})
	}
}
