package natsjournal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// limitedJournal returns a journal whose stream keeps records for an hour:
// a stream with a limit, so the journal checkpoints every record. The
// tests remove records by purging them, as the limit would.
func limitedJournal(t *testing.T, nc *nats.Conn, opts ...natsjournal.Option) *natsjournal.Journal {
	t.Helper()
	opts = append([]natsjournal.Option{natsjournal.WithMaxAge(time.Hour),
		natsjournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) })}, opts...)
	return newJournal(t, nc, opts...)
}

// checkpointedAt waits until j's checkpoint of breaker folds record seq.
func checkpointedAt(t *testing.T, j *natsjournal.Journal, breaker string, seq uint64) {
	t.Helper()
	eventually(t, fmt.Sprintf("a checkpoint of %s at seq %d", breaker, seq), func() bool {
		s, err := j.Snapshot(context.Background(), breaker)
		if err != nil {
			t.Fatal(err)
		}
		return s.Seq == seq
	})
}

// removeRecords purges every record of breaker from j's stream.
func removeRecords(t *testing.T, nc *nats.Conn, j *natsjournal.Journal, breaker string) {
	t.Helper()
	if err := streamOf(t, nc, j).Purge(context.Background(), jetstream.WithPurgeSubject(j.Subject(breaker))); err != nil {
		t.Fatal(err)
	}
}

// fold is the fold of recs, which must be a legal history.
func fold(t *testing.T, breaker string, recs []events.Transition) events.Snapshot {
	t.Helper()
	s, err := events.Replay(breaker, recs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// compacted checks that err is an *events.CompactedError after seq after
// with base seq base.
func compacted(t *testing.T, what string, err error, after, base uint64) {
	t.Helper()
	var ce *events.CompactedError
	if !errors.As(err, &ce) || ce.After != after || ce.Base != base {
		t.Fatalf("%s = %v; want a *CompactedError after %d, base %d", what, err, after, base)
	}
}

func TestLimitedJournalCheckpointsEveryRecord(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	j := limitedJournal(t, nc)
	if got := streamOf(t, nc, j).CachedInfo().Config; got.MaxAge != time.Hour || got.Discard != jetstream.DiscardOld {
		t.Fatalf("the stream New created has max age %s, discard %s; want 1h, old", got.MaxAge, got.Discard)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		appendN(t, j, "a", seq, seq)
		checkpointedAt(t, j, "a", seq)
	}
	e, err := bucketOf(t, nc, j).Get(ctx, j.CheckpointKey("a"))
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		V        int
		Seq, Pos uint64
	}
	head, err := j.Head(ctx)
	if err := errors.Join(err, json.Unmarshal(e.Value(), &w)); err != nil {
		t.Fatal(err)
	}
	if w.V != 1 || w.Seq != 5 || w.Pos != head {
		t.Fatalf("the checkpoint stored is %s; want version 1, seq 5, at position %d", e.Value(), head)
	}

	// An unlimited journal keeps to WithCheckpointEvery.
	u := newJournal(t, nc)
	appendN(t, u, "a", 1, 5)
	if err := u.Close(); err != nil { // waits for a checkpoint under way
		t.Fatal(err)
	}
	if s, err := sameStream(t, nc, u).Snapshot(ctx, "a"); err != nil || s.Seq != 0 {
		t.Fatalf("Snapshot of an unlimited journal after 5 records = %+v, %v; want none", s, err)
	}
}

// A breaker whose records were all removed goes on from its checkpoint:
// it loads, the removal is reported, the next record is appended, and of
// writers racing for one sequence number one wins.
func TestRecordsRemovedKeepTheBreakersState(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	w := limitedJournal(t, nc)
	recs := appendN(t, w, "a", 1, 5)
	checkpointedAt(t, w, "a", 5)
	removeRecords(t, nc, w, "a")

	r := sameStream(t, nc, w)
	if got, err := events.Load(ctx, r, "a"); err != nil || !got.Equal(fold(t, "a", recs)) {
		t.Fatalf("Load with the records removed = %+v, %v; want the checkpoint's %+v", got, err, fold(t, "a", recs))
	}
	_, err := r.Read(ctx, "a", 0)
	compacted(t, "Read(0) with the records removed", err, 0, 5)
	_, err = r.Read(ctx, "a", 3)
	compacted(t, "Read(3) with the records removed", err, 3, 5)
	if got, err := r.Read(ctx, "a", 5); err != nil || len(got) != 0 {
		t.Fatalf("Read(5) = %v, %v; want nothing", got, err)
	}
	if names, counts, err := r.Breakers(ctx); err != nil || !slices.Equal(names, []string{"a"}) || counts["a"] != 0 {
		t.Fatalf("Breakers = %q, %v, %v; want [a] with 0 messages", names, counts, err)
	}

	// The journal of the running breaker, which expects record 5 where it
	// was, appends record 6.
	recs = append(recs, appendN(t, w, "a", 6, 6)...)
	if got, err := r.Read(ctx, "a", 5); err != nil || len(got) != 1 || got[0].Seq != 6 {
		t.Fatalf("Read(5) after the append = %v, %v; want record 6", got, err)
	}
	_, err = r.Read(ctx, "a", 0)
	compacted(t, "Read(0) with record 6 only", err, 0, 5)

	// Removed again, writers race for record 7: some expect record 6 where
	// it was, some look for it afresh. One is stored; the others conflict.
	checkpointedAt(t, w, "a", 6)
	removeRecords(t, nc, w, "a")
	writers := []*natsjournal.Journal{w, r, sameStream(t, nc, w), sameStream(t, nc, w)}
	errs := make([]error, len(writers))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, j := range writers {
		wg.Go(func() {
			rec := record("a", 7)
			rec.Writer = fmt.Sprint("writer-", i)
			<-start
			errs[i] = j.Append(ctx, rec)
		})
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		var ce *events.ConflictError
		switch {
		case err == nil && won < 0:
			won = i
		case errors.As(err, &ce) && ce.Seq == 7 && ce.Last == 7:
		default:
			t.Fatalf("writer %d: Append of record 7 = %v; want one stored and the others a *ConflictError, last 7", i, errs[i])
		}
	}
	if won < 0 {
		t.Fatalf("no writer stored record 7: %v", errs)
	}
	got, err := r.Read(ctx, "a", 6)
	if err != nil || len(got) != 1 || got[0].Writer != fmt.Sprint("writer-", won) {
		t.Fatalf("Read(6) = %+v, %v; want the record of writer %d", got, err, won)
	}
	recs = append(recs, got[0])
	if s, err := events.Load(ctx, sameStream(t, nc, w), "a"); err != nil || !s.Equal(fold(t, "a", recs)) {
		t.Fatalf("Load = %+v, %v; want %+v", s, err, fold(t, "a", recs))
	}
}

// Breakers running over a limited journal go on when their records are
// removed under them: each appends its next transition, and the other
// follows it.
func TestRunningBreakersOutliveTheirRecords(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	ja := limitedJournal(t, nc)
	jb := sameStream(t, nc, ja)
	var fleet []*machine.Breaker
	for i, j := range []*natsjournal.Journal{ja, jb} {
		b, err := machine.New("payments", machine.WithJournal(j), machine.WithFollow(10*time.Millisecond),
			machine.WithWriter(fmt.Sprint("replica-", i)),
			machine.WithErrorHandler(func(err error) { t.Errorf("replica %d: %v", i, err) }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
		fleet = append(fleet, b)
	}
	a, b := fleet[0], fleet[1]
	for range machine.DefaultFailureThreshold {
		_ = a.Do(ctx, failCall)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "replica 1 follows the trip", func() bool { return b.State() == events.Open })
	checkpointedAt(t, ja, "payments", 1)
	removeRecords(t, nc, ja, "payments")

	o := machine.Override{Operator: "oncall", Note: "records removed"}
	if err := a.ForceClose(ctx, o); err != nil {
		t.Fatalf("ForceClose with the records removed: %v", err)
	}
	eventually(t, "replica 1 follows the close", func() bool { return b.State() == events.Closed })
	checkpointedAt(t, ja, "payments", 2)
	removeRecords(t, nc, ja, "payments")

	if err := b.ForceOpen(ctx, o); err != nil {
		t.Fatalf("ForceOpen by the follower with the records removed: %v", err)
	}
	eventually(t, "replica 0 follows the open", func() bool { return a.State() == events.Open })
	for _, r := range fleet {
		if err := r.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s, err := events.Load(ctx, sameStream(t, nc, ja), "payments")
	if err != nil || s.Seq != 3 || s.State != events.Open || s.Event != events.ForceOpen {
		t.Fatalf("Load = %+v, %v; want the forced open at seq 3", s, err)
	}
}

// The server itself removes records over the stream's size: the journal
// still loads and appends from the checkpoint.
func TestStreamSizeLimitRemovesRecords(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	j := limitedJournal(t, nc, natsjournal.WithMaxBytes(2048))
	if got := streamOf(t, nc, j).CachedInfo().Config.MaxBytes; got != 2048 {
		t.Fatalf("the stream New created has max bytes %d, want 2048", got)
	}
	recs := appendN(t, j, "a", 1, 3)
	checkpointedAt(t, j, "a", 3)
	// Records of another breaker push a's out, the oldest first.
	s := streamOf(t, nc, j)
	for seq := uint64(1); ; seq++ {
		if seq > 100 {
			t.Fatal("100 records of b did not push a's out of a stream of 2048 bytes")
		}
		appendN(t, j, "b", seq, seq)
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(j.Subject("a")))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) == 0 {
			break
		}
	}
	r := sameStream(t, nc, j)
	if got, err := events.Load(ctx, r, "a"); err != nil || !got.Equal(fold(t, "a", recs)) {
		t.Fatalf("Load = %+v, %v; want the checkpoint's %+v", got, err, fold(t, "a", recs))
	}
	_, err := r.Read(ctx, "a", 0)
	compacted(t, "Read(0) of the records the server removed", err, 0, 3)
	if names, counts, err := r.Breakers(ctx); err != nil || !slices.Equal(names, []string{"a", "b"}) || counts["a"] != 0 {
		t.Fatalf("Breakers = %q, %v, %v; want a (with 0 messages) and b", names, counts, err)
	}
	recs = append(recs, appendN(t, j, "a", 4, 4)...)
	if got, err := events.Load(ctx, sameStream(t, nc, j), "a"); err != nil || !got.Equal(fold(t, "a", recs)) {
		t.Fatalf("Load after record 4 = %+v, %v; want %+v", got, err, fold(t, "a", recs))
	}
}

// A stream that exists keeps its limits; the journal checkpoints every
// record in it, and says which records the limits removed.
func TestAnExistingStreamsLimits(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	if _, err := jsOf(t, nc).CreateStream(ctx, jetstream.StreamConfig{Name: "SVC", Subjects: []string{"svc.>"}, MaxMsgsPerSubject: 2}); err != nil {
		t.Fatal(err)
	}
	j, err := natsjournal.New(ctx, nc, natsjournal.WithStream("SVC"), natsjournal.WithSubjectPrefix("svc.cb"),
		natsjournal.WithMaxAge(time.Minute), natsjournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if got := streamOf(t, nc, j).CachedInfo().Config.MaxAge; got != 0 {
		t.Fatalf("New changed the max age of an existing stream to %s", got)
	}
	recs := appendN(t, j, "a", 1, 5)
	checkpointedAt(t, j, "a", 5)
	_, err = j.Read(ctx, "a", 0)
	compacted(t, "Read(0) with 2 records per subject kept", err, 0, 3)
	if got, err := j.Read(ctx, "a", 3); err != nil || len(got) != 2 || got[0].Seq != 4 {
		t.Fatalf("Read(3) = %v, %v; want records 4 and 5", got, err)
	}
	if got, err := events.Load(ctx, j, "a"); err != nil || !got.Equal(fold(t, "a", recs)) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, fold(t, "a", recs))
	}
}

func TestCheckpointBucket(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	js := jsOf(t, nc)

	j := newJournal(t, nc, natsjournal.WithMemoryStorage())
	if got, want := j.CheckpointBucket(), j.Stream()+"_CHECKPOINTS"; got != want {
		t.Fatalf("CheckpointBucket = %s, want %s", got, want)
	}
	s, err := js.Stream(ctx, "KV_"+j.CheckpointBucket())
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.Storage != jetstream.MemoryStorage || c.MaxMsgsPerSubject != 1 || c.MaxAge != 0 || c.Replicas != 1 {
		t.Fatalf("the bucket's stream keeps %s, %d per key, for %s, on %d replicas; want memory, 1, no limit, 1",
			c.Storage, c.MaxMsgsPerSubject, c.MaxAge, c.Replicas)
	}

	// A stream whose name makes no bucket name works with one given.
	n := newJournal(t, nc, natsjournal.WithStream("S$1"), natsjournal.WithCheckpointBucket("S1_CK"))
	appendN(t, n, "a", 1, 2)
	if err := n.Checkpoint(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue(ctx, "S1_CK"); err != nil || n.CheckpointBucket() != "S1_CK" {
		t.Fatalf("bucket S1_CK: %v", err)
	}

	// Journals of two prefixes in one stream keep their checkpoints apart.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SHARED", Subjects: []string{"svc.>"}}); err != nil {
		t.Fatal(err)
	}
	var shared []*natsjournal.Journal
	for i, prefix := range []string{"svc.x", "svc.y"} {
		j, err := natsjournal.New(ctx, nc, natsjournal.WithStream("SHARED"), natsjournal.WithSubjectPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		appendN(t, j, "p", 1, uint64(2+i))
		if err := j.Checkpoint(ctx, "p"); err != nil {
			t.Fatal(err)
		}
		shared = append(shared, j)
	}
	for i, j := range shared {
		if s, err := j.Snapshot(ctx, "p"); err != nil || s.Seq != uint64(2+i) {
			t.Fatalf("Snapshot of p under %s = %+v, %v; want seq %d", j.Subject("p"), s, err, 2+i)
		}
		if names, counts, err := j.Breakers(ctx); err != nil || !slices.Equal(names, []string{"p"}) || counts["p"] != uint64(2+i) {
			t.Fatalf("Breakers under %s = %q, %v, %v", j.Subject("p"), names, counts, err)
		}
	}
}

// Replicas checkpointing one breaker at once, as records are appended,
// store checkpoints that only ever go forward.
func TestCheckpointsNeverGoBack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nc := connect(t, startServer(t))
	w := newJournal(t, nc, natsjournal.WithCheckpointEvery(0))
	kv := bucketOf(t, nc, w)
	watch, err := kv.Watch(ctx, w.CheckpointKey("a"), jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()

	appendN(t, w, "a", 1, 10)
	if err := w.Checkpoint(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// A journal that knows the fold up to record 10 only stores nothing
	// over a checkpoint of record 12.
	behind := sameStream(t, nc, w)
	if _, err := events.Load(ctx, behind, "a"); err != nil {
		t.Fatal(err)
	}
	appendN(t, w, "a", 11, 12)
	if err := w.Checkpoint(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	stored, err := kv.Get(ctx, w.CheckpointKey("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := behind.Checkpoint(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, w.CheckpointKey("a")); err != nil || e.Revision() != stored.Revision() {
		t.Fatalf("the checkpoint after one by a journal that was behind: %v; want revision %d unchanged", err, stored.Revision())
	}

	var wg sync.WaitGroup
	finished := make(chan struct{})
	for range 4 {
		r := sameStream(t, nc, w)
		wg.Go(func() {
			for {
				select {
				case <-finished:
					return
				default:
				}
				err := r.Checkpoint(ctx, "a")
				// Losing the race every time is possible; storing an older
				// checkpoint is not.
				if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
					t.Error(err)
					return
				}
			}
		})
	}
	appendN(t, w, "a", 13, 60)
	close(finished)
	wg.Wait()
	if err := w.Checkpoint(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	final, err := kv.Get(ctx, w.CheckpointKey("a"))
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for n := 0; ; n++ {
		var e jetstream.KeyValueEntry
		select {
		case e = <-watch.Updates():
		case <-time.After(20 * time.Second): // a watchdog, not a timing assertion
			t.Fatalf("the watch of the checkpoint did not reach revision %d", final.Revision())
		}
		if e == nil {
			continue
		}
		var c struct{ Seq uint64 }
		if err := json.Unmarshal(e.Value(), &c); err != nil {
			t.Fatal(err)
		}
		if c.Seq <= last {
			t.Fatalf("checkpoint %d at seq %d after one at seq %d", n, c.Seq, last)
		}
		last = c.Seq
		if e.Revision() == final.Revision() {
			break
		}
	}
	if last != 60 {
		t.Fatalf("the last checkpoint is at seq %d, want 60", last)
	}
}
