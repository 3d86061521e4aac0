package filejournal_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// fjRetentionJournal appends manual-control records of breakers a, b and c
// (c only at first: its records are all in the oldest segments), one a
// minute, with a clock the test moves, and records what each retention
// pass reports and what the files held when it began.
type fjRetentionJournal struct {
	path     string
	f        *filejournal.File
	now      time.Time
	mu       sync.Mutex
	removals []filejournal.Removal
	recorded []string // the active segment's content when each pass had written its record
	hist     map[string][]events.Transition
}

func fjRetention(t *testing.T, opts ...filejournal.Option) *fjRetentionJournal {
	t.Helper()
	j := &fjRetentionJournal{path: fjPath(t), now: t0, hist: map[string][]events.Transition{}}
	clock := func() time.Time {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.now
	}
	opts = append([]filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(1000), filejournal.WithClock(clock),
		filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}),
		filejournal.WithRetentionHandler(func(r filejournal.Removal) { j.removals = append(j.removals, r) })}, opts...)
	restore := filejournal.SetCrashHook(func(point string) {
		if point == "retention-recorded" {
			// The record is written before any segment is removed.
			for _, p := range fjSealed(t, j.path) {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s gone before the retention record was written", p)
				}
			}
			j.recorded = append(j.recorded, fjRead(t, j.path))
		}
	})
	t.Cleanup(restore)
	j.f = fjOpen(t, j.path, nil, opts...)
	return j
}

// add appends n records of each breaker, a second apart, moving the clock.
func (j *fjRetentionJournal) add(t *testing.T, n int, breakers ...string) {
	t.Helper()
	for range n {
		for _, b := range breakers {
			j.mu.Lock()
			j.now = j.now.Add(time.Second)
			at := j.now
			j.mu.Unlock()
			r := fjManual(b, uint64(len(j.hist[b])+1), at)
			fjAppend(t, j.f, r)
			j.hist[b] = append(j.hist[b], r)
		}
	}
}

func (j *fjRetentionJournal) advance(d time.Duration) {
	j.mu.Lock()
	j.now = j.now.Add(d)
	j.mu.Unlock()
}

// check asserts what every retention pass must leave: a run of the newest
// sealed segments, each breaker's state, records that read from where the
// journal still holds them, a Verify that passes.
func (j *fjRetentionJournal) check(t *testing.T) {
	t.Helper()
	sealed := fjSealed(t, j.path)
	st := j.f.Stats()
	if len(sealed) != st.Sealed {
		t.Fatalf("%d sealed files, Stats() says %d", len(sealed), st.Sealed)
	}
	for i, p := range sealed {
		if want := fjSegment(j.path, int(st.Segment)-len(sealed)+i); p != want {
			t.Fatalf("sealed segments %v: not a run up to the active segment %d", sealed, st.Segment)
		}
	}
	for _, r := range j.removals {
		for _, p := range r.Paths {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s reported removed, but it is there", p)
			}
		}
	}
	for b, h := range j.hist {
		requireSameSnapshot(t, fjLoad(t, j.f, b), fjFold(t, h))
		got, err := j.f.Read(context.Background(), b, 0)
		var ce *events.CompactedError
		switch {
		case err == nil:
			requireSameRecords(t, got, h)
		case errors.As(err, &ce):
			if ce.Breaker != b || ce.Base == 0 || ce.Base > uint64(len(h)) {
				t.Fatalf("Read(%q, 0): %+v", b, ce)
			}
			requireSameRecords(t, fjReadAll2(t, j.f, b, ce.Base), h[ce.Base:])
		default:
			t.Fatalf("Read(%q, 0): %v", b, err)
		}
	}
	fjVerify(t, j.path, filejournal.VerifyOptions{})
}

// Retention by age removes the sealed segments whose newest record is
// older than the limit, oldest first and only those: after writing a
// retention record, and reporting what it removed. Every breaker keeps its
// state, including one whose records were all removed.
func TestRetentionByAge(t *testing.T) {
	j := fjRetention(t, filejournal.WithMaxAge(time.Hour), filejournal.WithSegmentSize(filejournal.DefaultSegmentSize))
	ctx := context.Background()
	for i := range 6 {
		if i < 2 {
			j.add(t, 5, "c")
		}
		j.add(t, 10, "a", "b")
		if _, err := j.f.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(j.removals) != 0 {
		t.Fatalf("removals %+v while every record is within the hour", j.removals)
	}
	before := j.f.Stats()
	j.check(t)
	// Two hours pass: every sealed segment is now old, but the one the
	// next checkpoint seals, which holds a new record.
	j.advance(2 * time.Hour)
	j.add(t, 1, "a")
	c, err := j.f.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.removals) != 1 {
		t.Fatalf("removals %+v, want one pass", j.removals)
	}
	r := j.removals[0]
	if r.Policy != "max_age 1h0m0s" || !r.Time.Equal(j.now) || r.Through != uint64(before.Sealed) || r.Through+1 != c.Sealed {
		t.Fatalf("removal %+v, want segments 1 to %d by max_age 1h0m0s at %v", r, before.Sealed, j.now)
	}
	for i, p := range r.Paths {
		if p != fjSegment(j.path, i+1) {
			t.Fatalf("removed %v, want the oldest segments in order", r.Paths)
		}
	}
	if len(r.Paths) != before.Sealed || r.Bytes != before.SealedBytes {
		t.Fatalf("removed %d files of %d bytes, want %d of %d", len(r.Paths), r.Bytes, before.Sealed, before.SealedBytes)
	}
	if len(j.recorded) != 1 || !strings.Contains(j.recorded[0], `"kind":"retention","removed_through":6,`) {
		t.Fatalf("no retention record in the active segment when the removal began")
	}
	if st := j.f.Stats(); st.RemovedThrough != r.Through || st.Sealed != 1 {
		t.Fatalf("Stats() = %+v, want RemovedThrough %d and one sealed segment", st, r.Through)
	}
	// c's records were all in removed segments: its state is in the
	// checkpoint, its records are gone.
	_, err = j.f.Read(ctx, "c", 0)
	var ce *events.CompactedError
	if !errors.As(err, &ce) || ce.Base != 10 {
		t.Fatalf("Read(c, 0) = %v, want a CompactedError up to seq 10", err)
	}
	_, err = j.f.Read(ctx, "a", 3)
	if !errors.As(err, &ce) || ce.Base != 60 || ce.After != 3 {
		t.Fatalf("Read(a, 3) = %v, want a CompactedError after 3 up to seq 60", err)
	}
	j.check(t)
	// The same after a reopen.
	if err := j.f.Close(); err != nil {
		t.Fatal(err)
	}
	j.f = fjOpen(t, j.path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(1000),
		filejournal.WithClock(func() time.Time { return j.now }), filejournal.WithMaxAge(time.Hour), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}),
		filejournal.WithRetentionHandler(func(r filejournal.Removal) { j.removals = append(j.removals, r) }))
	j.check(t)
	j.add(t, 3, "a", "b", "c")
	j.check(t)
}

// Retention by bytes keeps the sealed segments within the limit after
// every seal, removing the oldest.
func TestRetentionByBytes(t *testing.T) {
	const limit = 2500
	j := fjRetention(t, filejournal.WithMaxBytes(limit))
	for round := range 12 {
		j.add(t, 4, "a", "b")
		if round == 0 {
			j.add(t, 1, "c")
		}
		st := j.f.Stats()
		if st.SealedBytes > limit {
			t.Fatalf("round %d: %d bytes sealed, over the limit %d", round, st.SealedBytes, limit)
		}
	}
	if len(j.removals) < 3 {
		t.Fatalf("%d retention passes", len(j.removals))
	}
	last := uint64(0)
	for _, r := range j.removals {
		if r.Policy != "max_bytes 2500" || r.Through <= last || r.Bytes <= 0 || len(r.Paths) == 0 {
			t.Fatalf("removal %+v after one through %d", r, last)
		}
		last = r.Through
	}
	if len(j.recorded) != len(j.removals) {
		t.Fatalf("%d retention records for %d passes", len(j.recorded), len(j.removals))
	}
	j.check(t)
}

// Without WithMaxAge or WithMaxBytes, every sealed segment is kept,
// however old, and no retention record is written.
func TestRetentionDefaultKeepsEverything(t *testing.T) {
	j := fjRetention(t)
	j.add(t, 30, "a", "b", "c")
	j.advance(100 * 365 * 24 * time.Hour)
	j.add(t, 30, "a")
	if len(j.removals) != 0 || len(j.recorded) != 0 {
		t.Fatalf("removals %+v without a limit", j.removals)
	}
	st := j.f.Stats()
	if got := len(fjSealed(t, j.path)); got != st.Sealed || uint64(got) != st.Segment-1 || got < 10 {
		t.Fatalf("%d sealed segments, want all %d", got, st.Segment-1)
	}
	for b, h := range j.hist {
		requireSameRecords(t, fjReadAll(t, j.f, b), h)
	}
	j.check(t)
}

// Segments that a retention pass recorded as removed, but that a crash
// left, are removed by the next Open, with no new retention record, and
// a journal reopened with a limit applies it at once.
func TestRetentionFinishedByOpen(t *testing.T) {
	j := fjRetention(t)
	j.add(t, 30, "a", "b")
	if err := j.f.Close(); err != nil {
		t.Fatal(err)
	}
	sealed := fjSealed(t, j.path)
	var removals []filejournal.Removal
	opts := []filejournal.Option{filejournal.WithMaxBytes(1), filejournal.WithClock(func() time.Time { return j.now }),
		filejournal.WithRetentionHandler(func(r filejournal.Removal) { removals = append(removals, r) })}
	j.f = fjOpen(t, j.path, nil, opts...)
	if len(removals) != 1 || !slices.Equal(removals[0].Paths, sealed) {
		t.Fatalf("removals %+v, want %v", removals, sealed)
	}
	if len(fjSealed(t, j.path)) != 0 || strings.Count(fjRead(t, j.path), `"kind":"retention"`) != 1 {
		t.Fatalf("after Open: %v and %d retention records", fjDirNames(t, j.path), strings.Count(fjRead(t, j.path), `"kind":"retention"`))
	}
	j.check(t)
}

// A Read of older records that a retention pass removes while the Read is
// reading them returns a CompactedError, as it would have after the pass,
// not an error of a file that is gone.
func TestReadWhileRetentionRemoves(t *testing.T) {
	j := fjRetention(t, filejournal.WithMaxAge(time.Hour))
	j.add(t, 20, "a", "b")
	if j.f.Stats().Sealed < 3 {
		t.Fatal("too few sealed segments")
	}
	once := false
	restore := filejournal.SetCrashHook(func(point string) {
		if point != "read-sealed" || once {
			return
		}
		once = true
		j.advance(10 * time.Hour)
		j.add(t, 1, "a")
		if _, err := j.f.Checkpoint(context.Background()); err != nil {
			t.Error(err)
		}
	})
	defer restore()
	_, err := j.f.Read(context.Background(), "b", 0)
	var ce *events.CompactedError
	if !once || !errors.As(err, &ce) || ce.Base != 20 {
		t.Fatalf("Read(b, 0) while its segments were removed = %v, want a CompactedError up to seq 20", err)
	}
	restore()
	j.check(t)
}
