package filejournal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// fjManual returns record seq of breaker as an operator's manual controls
// write them in an audit trail: force_open at odd sequence numbers,
// force_close at even ones, at time at.
func fjManual(breaker string, seq uint64, at time.Time) events.Transition {
	r := events.Transition{Breaker: breaker, Seq: seq, Time: at, Writer: "ops-console:7", ID: fmt.Sprintf("%016x", seq),
		Reason: events.Reason{Policy: events.PolicyManual, Operator: "alice", Note: "maintenance window"}}
	if seq%2 == 1 {
		r.Event, r.From, r.To, r.OpenFor = events.ForceOpen, events.Closed, events.Open, time.Hour
	} else {
		r.Event, r.From, r.To = events.ForceClose, events.Open, events.Closed
	}
	return r
}

// fjSealed returns the paths of the sealed segments next to the journal at
// path, oldest first.
func fjSealed(t testing.TB, path string) []string {
	t.Helper()
	var out []string
	for _, n := range fjDirNames(t, path) {
		if isSealedName(n) {
			out = append(out, filepath.Join(filepath.Dir(path), n))
		}
	}
	slices.Sort(out)
	return out
}

// fjSegment returns the path of sealed segment n of the journal at path.
func fjSegment(path string, n int) string { return fmt.Sprintf("%s.%08d", path, n) }

// fjRecords returns what Records yields for the journal at path, failing
// the test on an error.
func fjRecords(t testing.TB, path string, f filejournal.Filter) []filejournal.Record {
	t.Helper()
	var out []filejournal.Record
	for r, err := range filejournal.Records(path, f) {
		if err != nil {
			t.Fatalf("Records(%s): %v", path, err)
		}
		out = append(out, r)
	}
	return out
}

// fjVerify runs Verify and fails the test on an error.
func fjVerify(t testing.TB, path string, opts filejournal.VerifyOptions) filejournal.VerifyReport {
	t.Helper()
	rep, err := filejournal.Verify(path, opts)
	if err != nil {
		t.Fatalf("Verify(%s): %v", path, err)
	}
	return rep
}

// fjInterleave returns the histories of breakers, interleaved: the i-th
// record of each, then the (i+1)-th.
func fjInterleave(hs ...[]events.Transition) []events.Transition {
	var out []events.Transition
	for i := 0; ; i++ {
		n := len(out)
		for _, h := range hs {
			if i < len(h) {
				out = append(out, h[i])
			}
		}
		if len(out) == n {
			return out
		}
	}
}

// fjFold returns the fold of a history.
func fjFold(t testing.TB, recs []events.Transition) events.Snapshot {
	t.Helper()
	s, err := events.Replay(recs[0].Breaker, recs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Read(0) returns every record ever appended, from the sealed segments and
// the active one, before and after a reopen, and events.Load folds them all.
func TestSegmentsReadAcrossSeals(t *testing.T) {
	key := []byte("0123456789abcdef0123")
	for _, tc := range []struct {
		name string
		opts []filejournal.Option
	}{
		{"bare", nil},
		{"keyed", []filejournal.Option{filejournal.WithChainKey(key)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			opts := append([]filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(700),
				filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {})}, tc.opts...)
			f := fjOpen(t, path, nil, opts...)
			hs := map[string][]events.Transition{"a": history("a", 60), "b": history("b", 25), "c": history("c", 3)}
			fjAppend(t, f, fjInterleave(hs["a"], hs["b"], hs["c"])...)
			check := func(t *testing.T, f *filejournal.File) {
				t.Helper()
				for name, h := range hs {
					requireSameRecords(t, fjReadAll(t, f, name), h)
					requireSameSnapshot(t, fjLoad(t, f, name), fjFold(t, h))
					for _, after := range []uint64{1, 7, 20, uint64(len(h)) - 1, uint64(len(h))} {
						if after > uint64(len(h)) {
							continue
						}
						got, err := f.Read(context.Background(), name, after)
						if err != nil {
							t.Fatalf("Read(%q, %d): %v", name, after, err)
						}
						requireSameRecords(t, got, h[after:])
					}
				}
			}
			if st := f.Stats(); st.Sealed < 5 || st.Segment != uint64(st.Sealed)+1 {
				t.Fatalf("Stats() = %+v, want several sealed segments and the active one after them", st)
			}
			check(t, f)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			g := fjOpen(t, path, nil, opts...)
			check(t, g)
			r, err := filejournal.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			check(t, r)
			// Records streams the same, in the order appended.
			var got []events.Transition
			for _, rec := range fjRecords(t, path, filejournal.Filter{}) {
				got = append(got, rec.Transition)
			}
			requireSameRecords(t, got, fjInterleave(hs["a"], hs["b"], hs["c"]))
			fjVerify(t, path, filejournal.VerifyOptions{Key: key})
		})
	}
}

// events.Load gives the same fold before and after a checkpoint, and Read
// the same records.
func TestCheckpointKeepsTheFold(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
	a, b := history("a", 17), history("b", 4)
	fjAppend(t, f, fjInterleave(a, b)...)
	before := map[string]events.Snapshot{"a": fjLoad(t, f, "a"), "b": fjLoad(t, f, "b")}
	c, err := f.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Sealed != 1 || c.Records != len(a)+len(b) || c.Breakers != 2 || c.Path != fjSegment(path, 1) {
		t.Fatalf("Checkpoint() = %+v, want segment 1 sealed with %d records of 2 breakers", c, len(a)+len(b))
	}
	for name, want := range before {
		requireSameSnapshot(t, fjLoad(t, f, name), want)
		if s, _ := f.Snapshot(context.Background(), name); !s.Equal(want) {
			t.Fatalf("Snapshot(%q) after the checkpoint = %+v, want the fold %+v", name, s, want)
		}
	}
	requireSameRecords(t, fjReadAll(t, f, "a"), a)
	if st := f.Stats(); st.Records != 0 || st.Snapshots != 2 || st.Sealed != 1 || st.Segment != 2 {
		t.Fatalf("Stats() after the checkpoint = %+v", st)
	}
	fjAppend(t, f, history("a", 18)[17])
	requireSameSnapshot(t, fjLoad(t, f, "a"), fjFold(t, history("a", 18)))
}

// A checkpoint with no record since the last one seals nothing: not on a
// new journal, not twice in a row, not after a retention pass (which
// writes a retention record), not after a reopen.
func TestCheckpointWithNothingNewDoesNothing(t *testing.T) {
	path := fjPath(t)
	now := t0.Add(time.Hour)
	clock := func() time.Time { return now }
	var removals []filejournal.Removal
	opts := []filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithClock(clock), filejournal.WithMaxAge(time.Hour),
		filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}), filejournal.WithRetentionHandler(func(r filejournal.Removal) { removals = append(removals, r) })}
	f := fjOpen(t, path, nil, opts...)
	ctx := context.Background()
	nothing := func(when string) {
		t.Helper()
		before := fjDirNames(t, path)
		content := fjRead(t, path)
		c, err := f.Checkpoint(ctx)
		if err != nil || c != (filejournal.Checkpoint{}) {
			t.Fatalf("%s: Checkpoint() = %+v, %v; want the zero Checkpoint and nothing done", when, c, err)
		}
		if got := fjDirNames(t, path); !slices.Equal(got, before) || fjRead(t, path) != content {
			t.Fatalf("%s: Checkpoint changed the files: %v, was %v", when, got, before)
		}
	}
	nothing("a new journal")
	fjAppend(t, f, history("a", 3)...)
	if c, err := f.Checkpoint(ctx); err != nil || c.Sealed != 1 {
		t.Fatalf("Checkpoint() = %+v, %v; want segment 1 sealed", c, err)
	}
	nothing("right after a checkpoint")
	fjAppend(t, f, history("a", 4)[3])
	now = now.Add(24 * time.Hour) // segment 1 is now old
	if c, err := f.Checkpoint(ctx); err != nil || c.Sealed != 2 {
		t.Fatalf("Checkpoint() = %+v, %v; want segment 2 sealed", c, err)
	}
	if len(removals) != 1 || removals[0].Through != 2 {
		t.Fatalf("removals %+v, want segments 1 and 2 removed", removals)
	}
	if !strings.Contains(fjRead(t, path), `"kind":"retention"`) {
		t.Fatal("no retention record in the active segment")
	}
	nothing("after a retention pass")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f = fjOpen(t, path, nil, opts...)
	nothing("after a reopen")
}

// The checkpoint handler receives, once the seal is durable, the head of
// the sealed file: its link hash, keyed with the chain key. Verify given it
// finds it.
func TestCheckpointHeadIsTheSealedFilesLinkHash(t *testing.T) {
	key := []byte("a chain key of some length")
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"bare", nil},
		{"keyed", key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			var got []filejournal.Checkpoint
			opts := []filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(500),
				filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) {
					// Durable already: the sealed file has its name.
					if _, err := os.Stat(c.Path); err != nil {
						t.Errorf("checkpoint %d handed over before its file is there: %v", c.Sealed, err)
					}
					got = append(got, c)
				})}
			if tc.key != nil {
				opts = append(opts, filejournal.WithChainKey(tc.key))
			}
			f := fjOpen(t, path, nil, opts...)
			fjAppend(t, f, history("a", 40)...)
			c, err := f.Checkpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) < 3 || got[len(got)-1] != c {
				t.Fatalf("handler got %d checkpoints, the last %+v; Checkpoint returned %+v", len(got), got[len(got)-1], c)
			}
			var heads []string
			for i, c := range got {
				if c.Sealed != uint64(i+1) || c.Path != fjSegment(path, i+1) {
					t.Fatalf("checkpoint %d = %+v", i, c)
				}
				want := events.LinkHash([]byte(fjRead(t, c.Path)), tc.key)
				if c.Head != want {
					t.Fatalf("checkpoint %d head %s, want the link hash of %s, %s", c.Sealed, c.Head, c.Path, want)
				}
				heads = append(heads, c.Head)
			}
			rep := fjVerify(t, path, filejournal.VerifyOptions{Key: tc.key, RequireKey: tc.key != nil, Heads: heads})
			if rep.Heads != len(heads) || rep.Segments != len(got)+1 || rep.Records != 40 {
				t.Fatalf("Verify report %+v, want %d heads found in %d segments", rep, len(heads), len(got)+1)
			}
		})
	}
}

// A journal file written before segments (no header; with and without a
// version 1 compaction's snapshot records) opens, takes appends, seals as
// segment 1, and verifies.
func TestOldJournalsOpenAppendSealAndVerify(t *testing.T) {
	a, b := history("a", 9), history("b", 4)
	snapA := `{"v":1,"kind":"snapshot","breaker":"a","seq":5,"state":"closed","event":"recover","since":"2026-11-27T10:00:05Z"}` + "\n"
	for _, tc := range []struct {
		name    string
		content string
		from    map[string]uint64 // the first seq each breaker's Read(0) returns, after a compaction
	}{
		{"records only", fjLines(t, fjInterleave(a, b)...), map[string]uint64{"a": 1, "b": 1}},
		{"records of version 1", strings.ReplaceAll(fjLines(t, fjInterleave(a, b)...), `{"v":2,`, `{"v":1,`), map[string]uint64{"a": 1, "b": 1}},
		{"a compaction's snapshot records", snapA + fjLines(t, fjInterleave(a[5:], b)...), map[string]uint64{"a": 6, "b": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			fjWrite(t, path, tc.content)
			f := fjOpen(t, path, nil, filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
			if st := f.Stats(); st.Segment != 1 || st.Sealed != 0 {
				t.Fatalf("Stats() = %+v, want segment 1", st)
			}
			if got := fjRead(t, path); got != tc.content {
				t.Fatal("Open changed an old journal file")
			}
			fjVerify(t, path, filejournal.VerifyOptions{})
			a10, b5 := history("a", 10), history("b", 5)
			fjAppend(t, f, a10[9], b5[4])
			c, err := f.Checkpoint(context.Background())
			if err != nil || c.Sealed != 1 {
				t.Fatalf("Checkpoint() = %+v, %v", c, err)
			}
			if sealed := fjRead(t, c.Path); !strings.HasPrefix(sealed, tc.content) {
				t.Fatalf("the sealed segment does not start with the old file")
			}
			fjAppend(t, f, history("a", 11)[10])
			rep := fjVerify(t, path, filejournal.VerifyOptions{Heads: []string{c.Head}})
			if rep.Segments != 2 {
				t.Fatalf("Verify report %+v, want 2 segments", rep)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			g := fjOpen(t, path, nil)
			for name, h := range map[string][]events.Transition{"a": history("a", 11), "b": b5} {
				requireSameSnapshot(t, fjLoad(t, g, name), fjFold(t, h))
				from := tc.from[name]
				got, err := g.Read(context.Background(), name, 0)
				if from > 1 {
					var ce *events.CompactedError
					if !errors.As(err, &ce) || ce.Base != from-1 {
						t.Fatalf("Read(%q, 0) = %v, want a CompactedError at seq %d", name, err, from-1)
					}
					got, err = g.Read(context.Background(), name, from-1)
				}
				if err != nil {
					t.Fatal(err)
				}
				requireSameRecords(t, got, h[from-1:])
			}
		})
	}
}

// A line of a segment in a newer format (version 4) makes Open refuse the
// journal without changing any file, and Verify report it.
func TestNewerSegmentFormatIsRefused(t *testing.T) {
	base := func(t *testing.T) string {
		path := fjPath(t)
		f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
		fjAppend(t, f, history("a", 4)...)
		fjCheckpoint(t, f)
		fjAppend(t, f, history("a", 6)[4:]...)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name   string
		edit   func(t *testing.T, path string) string // returns the file changed
		line   int
		opens  bool // Open does not read the file changed
		verify bool // Verify reports it on the file changed
	}{
		{"header of the active segment", func(t *testing.T, path string) string {
			fjWrite(t, path, strings.Replace(fjRead(t, path), `{"v":3,"kind":"segment"`, `{"v":4,"kind":"segment"`, 1))
			return path
		}, 1, false, true},
		{"a line of a new kind in the active segment", func(t *testing.T, path string) string {
			fjWrite(t, path, fjRead(t, path)+`{"v":4,"kind":"lease","owner":"x"}`+"\n")
			return path
		}, 5, false, true},
		{"retention record in the active segment", func(t *testing.T, path string) string {
			fjWrite(t, path, fjRead(t, path)+`{"v":4,"kind":"retention","removed_through":1,"time":"2026-12-01T00:00:00Z"}`+"\n")
			return path
		}, 5, false, true},
		{"seal line of a sealed segment", func(t *testing.T, path string) string {
			p := fjSegment(path, 1)
			fjWrite(t, p, strings.Replace(fjRead(t, p), `{"v":3,"kind":"seal"`, `{"v":4,"kind":"seal"`, 1))
			return p
		}, 6, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := base(t)
			changed := tc.edit(t, path)
			before := map[string]string{}
			for _, n := range fjDirNames(t, path) {
				p := filepath.Join(filepath.Dir(path), n)
				before[p] = fjRead(t, p)
			}
			f, err := filejournal.Open(path, filejournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
			if tc.opens {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				f.Close()
			} else {
				if err == nil {
					f.Close()
					t.Fatal("Open of a journal of a newer format succeeded")
				}
				fjFileError(t, err, path, filejournal.ErrNewerFormat, tc.line)
			}
			_, err = filejournal.Verify(path, filejournal.VerifyOptions{})
			fjFileError(t, err, changed, filejournal.ErrNewerFormat, tc.line)
			if !tc.opens {
				for p, content := range before {
					if fjRead(t, p) != content {
						t.Fatalf("%s changed", p)
					}
				}
				if got := fjDirNames(t, path); len(got) != len(before) {
					t.Fatalf("files %v, want those before", got)
				}
			}
		})
	}
	t.Run("seal line of a copy a crash left as the active segment", func(t *testing.T) {
		path := base(t)
		// As if the seal of segment 2 stopped after the copy got its name,
		// and that copy were of a newer format.
		p := fjSegment(path, 2)
		fjWrite(t, p, fjRead(t, path)+`{"v":4,"kind":"seal","segment":2}`+"\n")
		before := fjRead(t, p)
		f, err := filejournal.Open(path, filejournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
		if err == nil {
			f.Close()
			t.Fatal("Open succeeded")
		}
		fjFileError(t, err, path, filejournal.ErrNewerFormat, 0)
		if fjRead(t, p) != before {
			t.Fatal("Open changed the segment of a newer format")
		}
	})
}

// Readers that run while a seal is between its steps (a service appends
// while an audit reads) see every record once: Records neither repeats the
// records of the segment being sealed nor skips them, and Verify passes.
func TestReadersDuringASeal(t *testing.T) {
	for _, point := range filejournal.CrashPoints[:4] {
		t.Run(point, func(t *testing.T) {
			path := fjPath(t)
			f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
			a := history("a", 30)
			fjAppend(t, f, a[:10]...)
			fjCheckpoint(t, f)
			fjAppend(t, f, a[10:20]...)
			ran := false
			restore := filejournal.SetCrashHook(func(p string) {
				if p != point {
					return
				}
				ran = true
				var got []events.Transition
				for _, r := range fjRecords(t, path, filejournal.Filter{}) {
					got = append(got, r.Transition)
				}
				requireSameRecords(t, got, a[:20])
				fjVerify(t, path, filejournal.VerifyOptions{})
				s, err := filejournal.StateAt(path, t0.Add(time.Hour))
				if err != nil || !s["a"].Equal(fjFold(t, a[:20])) {
					t.Errorf("StateAt = %+v, %v; want the fold of 20 records", s, err)
				}
				r, err := filejournal.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				requireSameRecords(t, fjReadAll(t, r, "a"), a[:20])
			})
			defer restore()
			fjCheckpoint(t, f)
			restore()
			if !ran {
				t.Fatalf("the seal did not reach %s", point)
			}
			fjAppend(t, f, a[20:]...)
			requireSameRecords(t, fjReadAll(t, f, "a"), a)
		})
	}
}

// What a seal leaves when it is interrupted, or fails, is resumed by
// Open: a copy of the active segment under its sealed name finishes the
// seal; a copy of an earlier state of it (a seal that failed, then
// appends) is removed; any other file there is refused, unchanged.
func TestOpenResumesAnInterruptedSeal(t *testing.T) {
	setup := func(t *testing.T) string {
		path := fjPath(t)
		f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
		fjAppend(t, f, history("a", 5)...)
		fjCheckpoint(t, f)
		fjAppend(t, f, history("a", 8)[5:]...)
		f.Close()
		return path
	}
	// sealedCopy returns the active segment as a seal of it would write it.
	sealedCopy := func(t *testing.T, path string) string {
		t.Helper()
		dir := t.TempDir()
		p := filepath.Join(dir, "breakers.jsonl")
		fjWrite(t, p, fjRead(t, path))
		g := fjOpen(t, p, &fjWarnings{}, filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
		fjCheckpoint(t, g)
		g.Close()
		return fjRead(t, fjSegment(p, 2))
	}
	t.Run("the copy is whole", func(t *testing.T) {
		path := setup(t)
		fjWrite(t, fjSegment(path, 2), sealedCopy(t, path))
		w := &fjWarnings{}
		var cps []filejournal.Checkpoint
		f := fjOpen(t, path, w, filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { cps = append(cps, c) }))
		if errs := w.all(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "finished the seal of segment 2") {
			t.Fatalf("warnings %v, want the seal finished", errs)
		}
		if len(cps) != 1 || cps[0].Sealed != 2 || cps[0].Head != events.LinkHash([]byte(fjRead(t, fjSegment(path, 2))), nil) {
			t.Fatalf("checkpoints %+v, want the one of segment 2 handed over", cps)
		}
		if st := f.Stats(); st.Segment != 3 || st.Sealed != 2 {
			t.Fatalf("Stats() = %+v", st)
		}
		requireSameRecords(t, fjReadAll(t, f, "a"), history("a", 8))
		fjVerify(t, path, filejournal.VerifyOptions{Heads: []string{cps[0].Head}})
	})
	t.Run("the copy is of an earlier state", func(t *testing.T) {
		path := setup(t)
		content := fjRead(t, path)
		// The active segment had two records fewer when the seal failed.
		lines := strings.SplitAfter(content, "\n")
		earlier := strings.Join(lines[:len(lines)-3], "")
		dir := t.TempDir()
		p := filepath.Join(dir, "breakers.jsonl")
		fjWrite(t, p, earlier)
		g := fjOpen(t, p, &fjWarnings{}, filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
		fjCheckpoint(t, g)
		g.Close()
		fjWrite(t, fjSegment(path, 2), fjRead(t, fjSegment(p, 2)))
		w := &fjWarnings{}
		f := fjOpen(t, path, w)
		if errs := w.all(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "an unfinished copy of the active segment") {
			t.Fatalf("warnings %v, want the stale copy removed", errs)
		}
		if _, err := os.Stat(fjSegment(path, 2)); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("the stale copy is still there")
		}
		if fjRead(t, path) != content {
			t.Fatal("the active segment changed")
		}
		requireSameRecords(t, fjReadAll(t, f, "a"), history("a", 8))
	})
	t.Run("the copy is of a later state", func(t *testing.T) {
		// With SyncNone, a crash of the machine after the sealed copy
		// was synced and renamed lost the active segment's last two
		// records, and a torn line after them; the copy holds them.
		path := setup(t)
		fjWrite(t, fjSegment(path, 2), sealedCopy(t, path))
		lines := strings.SplitAfter(fjRead(t, path), "\n")
		fjWrite(t, path, strings.Join(lines[:len(lines)-3], "")+`{"v":2,"brea`)
		w := &fjWarnings{}
		var cps []filejournal.Checkpoint
		f := fjOpen(t, path, w, filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { cps = append(cps, c) }))
		errs := w.all()
		if len(errs) != 2 || !errors.Is(errs[0], filejournal.ErrTornRecord) || !strings.Contains(errs[1].Error(), "finished the seal of segment 2") {
			t.Fatalf("warnings %v, want the torn line cut and the seal finished", errs)
		}
		if len(cps) != 1 || cps[0].Sealed != 2 || cps[0].Head != events.LinkHash([]byte(fjRead(t, fjSegment(path, 2))), nil) {
			t.Fatalf("checkpoints %+v, want the one of segment 2 handed over", cps)
		}
		if st := f.Stats(); st.Segment != 3 || st.Sealed != 2 {
			t.Fatalf("Stats() = %+v", st)
		}
		requireSameRecords(t, fjReadAll(t, f, "a"), history("a", 8))
		fjAppend(t, f, history("a", 9)[8])
		fjVerify(t, path, filejournal.VerifyOptions{Heads: []string{cps[0].Head}})
	})
	for _, tc := range []struct {
		name    string
		content func(t *testing.T, path string) string
	}{
		{"another journal's segment 2", func(t *testing.T, path string) string {
			other := fjPath(t)
			g := fjOpen(t, other, nil, filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
			fjAppend(t, g, history("z", 5)...)
			g.Checkpoint(context.Background())
			fjAppend(t, g, history("z", 6)[5])
			g.Checkpoint(context.Background())
			return fjRead(t, fjSegment(other, 2))
		}},
		{"a copy whose bytes differ", func(t *testing.T, path string) string {
			return strings.Replace(sealedCopy(t, path), `"policy":"test"`, `"policy":"tset"`, 1)
		}},
		{"no seal line", func(t *testing.T, path string) string { return fjRead(t, path) }},
		{"empty", func(t *testing.T, path string) string { return "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := setup(t)
			content := tc.content(t, path)
			fjWrite(t, fjSegment(path, 2), content)
			active := fjRead(t, path)
			f, err := filejournal.Open(path, filejournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			fjFileError(t, err, path, filejournal.ErrForeignSegment, 0)
			if fjRead(t, fjSegment(path, 2)) != content || fjRead(t, path) != active {
				t.Fatal("Open changed the files it refused")
			}
		})
	}
}

// A sealed segment that is missing from the sequence, and that no
// retention removed, is reported by Open wherever it is, and a Read that
// needs its records says so rather than returning a history with a hole.
func TestMissingSegment(t *testing.T) {
	for _, n := range []int{1, 2, 3} { // the oldest, one in the middle, the newest sealed
		t.Run(fmt.Sprintf("segment %d", n), func(t *testing.T) {
			path := fjPath(t)
			f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
			a := history("a", 16)
			for i := range 4 {
				fjAppend(t, f, a[i*4:i*4+4]...)
				if i < 3 {
					fjCheckpoint(t, f)
				}
			}
			f.Close()
			gone := fjSegment(path, n)
			if err := os.Remove(gone); err != nil {
				t.Fatal(err)
			}
			w := &fjWarnings{}
			g := fjOpen(t, path, w)
			errs := w.all()
			if len(errs) != 1 {
				t.Fatalf("warnings %v, want one", errs)
			}
			fjFileError(t, errs[0], path, filejournal.ErrMissingSegment, 0)
			if !strings.Contains(errs[0].Error(), gone) {
				t.Fatalf("warning %q does not name %s", errs[0], gone)
			}
			_, err := g.Read(context.Background(), "a", 0)
			if n == 1 {
				// The oldest is indistinguishable, to a Read, from one
				// removed... but Open said so.
				if !errors.Is(err, filejournal.ErrMissingSegment) && !errors.Is(err, events.ErrCompacted) {
					t.Fatalf("Read(0) = %v", err)
				}
			} else if !errors.Is(err, filejournal.ErrMissingSegment) || !strings.Contains(err.Error(), gone) {
				t.Fatalf("Read(0) = %v, want ErrMissingSegment naming %s", err, gone)
			}
			// What does not need it still reads, and the journal goes on.
			requireSameRecords(t, fjReadAll2(t, g, "a", uint64(n)*4), a[n*4:])
			requireSameSnapshot(t, fjLoad(t, g, "a"), fjFold(t, a))
			fjAppend(t, g, history("a", 17)[16])
			_, err = filejournal.Verify(path, filejournal.VerifyOptions{})
			fjFileError(t, err, gone, filejournal.ErrMissingSegment, 0)
		})
	}
}

// A seal that fails (here: the sealed segment's name is taken by a
// directory) is reported once, the append that triggered it succeeds, and
// the journal does not copy its whole active segment again on every
// append: it tries again once another segment's worth is appended.
func TestFailedSealIsNotRetriedOnEveryAppend(t *testing.T) {
	path := fjPath(t)
	w := &fjWarnings{}
	f := fjOpen(t, path, w, filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(2000), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
	block := fjSegment(path, 1)
	if err := os.MkdirAll(filepath.Join(block, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	a := history("a", 40) // about 6000 bytes
	fjAppend(t, f, a[:30]...)
	errs := w.all()
	if len(errs) == 0 || len(errs) > 3 {
		t.Fatalf("%d warnings after 30 appends: %v; want one per segment's worth", len(errs), errs)
	}
	fjFileError(t, errs[0], path, nil, 0)
	if err := os.RemoveAll(block); err != nil {
		t.Fatal(err)
	}
	fjAppend(t, f, a[30:]...)
	if st := f.Stats(); st.Sealed != 1 {
		t.Fatalf("Stats() = %+v, want segment 1 sealed once the name was free", st)
	}
	requireSameRecords(t, fjReadAll(t, f, "a"), a)
	fjVerify(t, path, filejournal.VerifyOptions{})
}

// WithCorruptionRecovery keeps what the sealed segments and the good part
// of the active one hold: every record before the bad line still reads,
// the chain still verifies, and a corrupt header restarts from the newest
// sealed segment rather than from nothing.
func TestCorruptionRecoveryKeepsSealedHistory(t *testing.T) {
	build := func(t *testing.T) (string, []events.Transition) {
		path := fjPath(t)
		f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
		a := history("a", 12)
		fjAppend(t, f, a[:6]...)
		fjCheckpoint(t, f)
		fjAppend(t, f, a[6:]...)
		f.Close()
		return path, a
	}
	for _, tc := range []struct {
		name string
		line int // the line of the active segment made bad (1 is the header)
		kept int // records of a kept
	}{
		{"a record in the middle", 5, 8}, // header, checkpoint, records 7 and 8 kept
		{"the first record", 3, 6},       // the checkpoint's fold kept
		{"the checkpoint", 2, 6},         // restarts from segment 1
		{"the header", 1, 6},             // restarts from segment 1
		{"the last record", 8, 11},       // all but the last
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, a := build(t)
			lines := strings.SplitAfter(fjRead(t, path), "\n")
			lines[tc.line-1] = "garbage\n"
			fjWrite(t, path, strings.Join(lines, ""))
			w := &fjWarnings{}
			f := fjOpen(t, path, w, filejournal.WithCorruptionRecovery())
			if errs := w.all(); len(errs) == 0 || !errors.Is(errs[0], filejournal.ErrCorrupt) {
				t.Fatalf("warnings %v, want the recovery first", errs)
			}
			requireSameSnapshot(t, fjLoad(t, f, "a"), fjFold(t, a[:tc.kept]))
			requireSameRecords(t, fjReadAll(t, f, "a"), a[:tc.kept])
			fjAppend(t, f, a[tc.kept:]...)
			requireSameRecords(t, fjReadAll(t, f, "a"), a)
			fjVerify(t, path, filejournal.VerifyOptions{})
		})
	}
}

// StateAt, Records and Oldest return an error, and never panic, when a
// sealed segment's seal line is bad: whichever segment it is.
func TestBadSealLineIsAnError(t *testing.T) {
	for n := 1; n <= 3; n++ {
		t.Run(fmt.Sprintf("segment %d", n), func(t *testing.T) {
			path := fjPath(t)
			f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
			a := history("a", 16)
			for i := range 4 {
				fjAppend(t, f, a[i*4:i*4+4]...)
				if i < 3 {
					f.Checkpoint(context.Background())
				}
			}
			f.Close()
			p := fjSegment(path, n)
			content := fjRead(t, p)
			fjWrite(t, p, strings.Replace(content, `"kind":"seal"`, `"kind":"seal","bytes":"x"`, 1))
			if _, err := filejournal.StateAt(path, t0.Add(2*time.Second)); err != nil {
				fjFileError(t, err, p, filejournal.ErrCorrupt, 0)
			} else {
				t.Fatal("StateAt succeeded")
			}
			var rerr error
			for _, err := range filejournal.Records(path, filejournal.Filter{}) {
				rerr = err
			}
			fjFileError(t, rerr, p, filejournal.ErrCorrupt, 0)
			_, err := filejournal.Verify(path, filejournal.VerifyOptions{})
			fjFileError(t, err, p, filejournal.ErrCorrupt, 0)
		})
	}
}

// A segment's own lines are checked as records are: a bad header,
// retention record or seal line, or one where it cannot be, is refused as
// corrupt, naming the file and line, by Open for the active segment and by
// Verify for a sealed one.
func TestBadSegmentLines(t *testing.T) {
	const created = `"created":"2026-12-01T00:00:00Z"`
	rec := strings.TrimSuffix(fjLines(t, history("a", 1)...), "\n")
	for _, tc := range []struct {
		name    string
		content string
		line    int
		says    string
	}{
		{"header without a segment number", `{"v":3,"kind":"segment",` + created + `}`, 1, "without a segment number"},
		{"header of segment 0", `{"v":3,"kind":"segment","segment":0,` + created + `}`, 1, "without a segment number"},
		{"header without created", `{"v":3,"kind":"segment","segment":1}`, 1, "without created"},
		{"header whose prev is not a link hash", `{"v":3,"kind":"segment","segment":2,"prev":"md5:abc",` + created + `}`, 1, "is not a link hash"},
		{"header that removed itself", `{"v":3,"kind":"segment","segment":2,` + created + `,"removed_through":2}`, 1, "says segments through 2 were removed"},
		{"header of version 2", `{"v":2,"kind":"segment","segment":1,` + created + `}`, 1, "of format version 2"},
		{"header with trailing data", `{"v":3,"kind":"segment","segment":1,` + created + `} {}`, 1, "after top-level value"},
		{"header after a record", rec + "\n" + `{"v":3,"kind":"segment","segment":1,` + created + `}`, 2, "must be the first line"},
		{"retention record without removed_through", `{"v":3,"kind":"segment","segment":3,` + created + `}` + "\n" + `{"v":3,"kind":"retention","time":"2026-12-01T00:00:00Z"}`, 2, "without removed_through"},
		{"retention record of the segment itself", `{"v":3,"kind":"segment","segment":3,` + created + `}` + "\n" + `{"v":3,"kind":"retention","removed_through":3,"time":"2026-12-01T00:00:00Z"}`, 2, "segments through 3 in segment 3"},
		{"retention record in a file without header", rec + "\n" + `{"v":3,"kind":"retention","removed_through":1,"time":"2026-12-01T00:00:00Z"}`, 2, "in segment 0"},
		{"seal line in the active segment", `{"v":3,"kind":"segment","segment":1,` + created + `}` + "\n" + `{"v":3,"kind":"seal","segment":1,"bytes":70,"records":0,"breakers":[]}`, 2, "a seal line in the active segment"},
		{"checkpoint head not a link hash", `{"v":3,"kind":"segment","segment":1,` + created + `}` + "\n" + `{"v":2,"kind":"snapshot","breaker":"a","seq":1,"state":"open","event":"trip","since":"2026-11-27T10:00:01Z","open_for":"10s","opens":1,"head":"sha256:xyz"}`, 2, "is not a link hash"},
		{"first record linked to nothing", strings.Replace(rec, `"reason"`, `"prev_hash":"sha256:00000000000000000000000000000000","reason"`, 1), 1, "links to a record that is not in the journal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			fjWrite(t, path, tc.content+"\n")
			_, err := filejournal.Open(path, filejournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
			fjFileError(t, err, path, filejournal.ErrCorrupt, tc.line)
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
			if fjRead(t, path) != tc.content+"\n" {
				t.Fatal("Open changed the file it refused")
			}
			_, err = filejournal.Verify(path, filejournal.VerifyOptions{})
			fjFileError(t, err, path, filejournal.ErrCorrupt, tc.line)
		})
	}
	// Seal lines, in a sealed segment.
	for _, tc := range []struct {
		name, from, to, says string
	}{
		{"seal of segment 0", `"kind":"seal","segment":1`, `"kind":"seal","segment":0`, "without a segment number"},
		{"seal of another segment", `"kind":"seal","segment":1`, `"kind":"seal","segment":2`, "the seal line is of segment 2"},
		{"seal without bytes", `"bytes":`, `"bytez":`, "without a segment number or length"},
		{"seal with a range that holds no record", `"first_seq":1`, `"first_seq":0`, "a range that holds no record"},
		{"seal whose breakers are not sorted", `"breakers":[`, `"breakers":[{"breaker":"z","first_seq":1,"last_seq":1,"first":"2026-11-27T10:00:00Z","last":"2026-11-27T10:00:00Z"},`, "not sorted"},
		{"seal that lies about a time", `"last":"2026-11-27T10:00:03Z"`, `"last":"2026-11-27T10:00:04Z"`, "times or breakers do not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			f := fjOpen(t, path, nil, filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
			fjAppend(t, f, history("a", 3)...)
			fjCheckpoint(t, f)
			f.Close()
			p := fjSegment(path, 1)
			n := fjLineKind(t, p, "seal", "")
			fjEditLine(t, p, n, func(s string) string { return strings.Replace(s, tc.from, tc.to, 1) })
			_, err := filejournal.Verify(path, filejournal.VerifyOptions{})
			fjFileError(t, err, p, filejournal.ErrCorrupt, n)
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// An active segment that was deleted, or emptied, is started again from
// the end of the newest sealed segment: the sealed history is all there,
// only what was appended after the last seal is lost, and Open says so.
func TestActiveSegmentMissing(t *testing.T) {
	for _, how := range []string{"deleted", "emptied"} {
		t.Run(how, func(t *testing.T) {
			path := fjPath(t)
			var heads []string
			f := fjOpen(t, path, nil, filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { heads = append(heads, c.Head) }))
			a := history("a", 9)
			fjAppend(t, f, a[:6]...)
			fjCheckpoint(t, f)
			fjAppend(t, f, a[6:]...)
			f.Close()
			if how == "deleted" {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if _, err := filejournal.Verify(path, filejournal.VerifyOptions{}); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("Verify without the active segment = %v", err)
				}
			} else {
				fjWrite(t, path, "")
			}
			w := &fjWarnings{}
			g := fjOpen(t, path, w)
			if errs := w.all(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "started segment 2 from the end of "+fjSegment(path, 1)) {
				t.Fatalf("warnings %v", errs)
			}
			requireSameRecords(t, fjReadAll(t, g, "a"), a[:6])
			requireSameSnapshot(t, fjLoad(t, g, "a"), fjFold(t, a[:6]))
			fjAppend(t, g, history("a", 7)[6])
			fjVerify(t, path, filejournal.VerifyOptions{Heads: heads})
		})
	}
}
