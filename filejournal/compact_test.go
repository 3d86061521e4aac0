package filejournal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// fjInterleave appends the histories round-robin, as breakers sharing a
// journal would.
func fjInterleave(t testing.TB, j events.Journal, hs ...[]events.Transition) {
	t.Helper()
	for i := 0; ; i++ {
		done := true
		for _, h := range hs {
			if i < len(h) {
				fjAppend(t, j, h[i])
				done = false
			}
		}
		if done {
			return
		}
	}
}

func TestFileCompactKeepsNewestRecordsAndTheFold(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil, filejournal.WithRetention(5), filejournal.WithoutAutoCompaction())
	a, b, c := history("a", 25), history("b", 7), history("c", 2)
	fjInterleave(t, f, a, b, c)
	before := map[string]events.Snapshot{}
	for _, n := range []string{"a", "b", "c"} {
		before[n] = fjLoad(t, f, n)
	}
	if err := f.Compact(context.Background()); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	for _, tc := range []struct {
		name string
		base uint64
		kept []events.Transition
	}{
		{"a", 20, a[20:]},
		{"b", 2, b[2:]},
		{"c", 0, c},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireSameSnapshot(t, fjLoad(t, f, tc.name), before[tc.name])
			base, err := f.Snapshot(context.Background(), tc.name)
			if err != nil || base.Seq != tc.base {
				t.Fatalf("Snapshot = %+v, %v; want seq %d", base, err, tc.base)
			}
			if tc.base > 0 {
				want, _ := events.Replay(tc.name, map[string][]events.Transition{"a": a, "b": b}[tc.name][:tc.base])
				requireSameSnapshot(t, base, want)
				_, err := f.Read(context.Background(), tc.name, tc.base-1)
				var ce *events.CompactedError
				if !errors.As(err, &ce) || ce.Base != tc.base || ce.After != tc.base-1 {
					t.Fatalf("Read of a compacted record = %v, want *CompactedError after %d base %d", err, tc.base-1, tc.base)
				}
			}
			got, err := f.Read(context.Background(), tc.name, tc.base)
			if err != nil {
				t.Fatal(err)
			}
			requireSameRecords(t, got, tc.kept)
		})
	}
	if st := f.Stats(); st.Records != 5+5+2 || st.Snapshots != 2 || st.Breakers != 3 {
		t.Fatalf("Stats() = %+v, want 12 records, 2 snapshots, 3 breakers", st)
	}
	t.Run("file holds the snapshots then the kept records in their order", func(t *testing.T) {
		lines := strings.Split(strings.TrimSuffix(fjRead(t, path), "\n"), "\n")
		if len(lines) != 2+12 {
			t.Fatalf("%d lines, want 14:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		for i, want := range []string{`"breaker":"a","seq":20,`, `"breaker":"b","seq":2,`} {
			if !strings.HasPrefix(lines[i], `{"v":2,"kind":"snapshot",`) || !strings.Contains(lines[i], want) {
				t.Fatalf("line %d = %s, want the snapshot record with %s", i+1, lines[i], want)
			}
		}
		// The kept records, in the round-robin order fjInterleave
		// appended them in.
		var want []events.Transition
		for i := 0; i < 25; i++ {
			for _, h := range [][]events.Transition{a, b, c} {
				if i < len(h) {
					r := h[i]
					if (r.Breaker == "a" && r.Seq > 20) || (r.Breaker == "b" && r.Seq > 2) || r.Breaker == "c" {
						want = append(want, r)
					}
				}
			}
		}
		if got := strings.Join(lines[2:], "\n") + "\n"; got != fjLines(t, want...) {
			t.Fatalf("kept records:\n%s\nwant:\n%s", got, fjLines(t, want...))
		}
	})
	t.Run("reopened journal loads the same", func(t *testing.T) {
		r, err := filejournal.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for n, s := range before {
			requireSameSnapshot(t, fjLoad(t, r, n), s)
		}
	})
	t.Run("the lock moved to the new file", func(t *testing.T) {
		g, err := filejournal.Open(path)
		if err == nil {
			g.Close()
			t.Fatal("Open after compaction succeeded: the compacted file is not locked")
		}
		fjFileError(t, err, path, filejournal.ErrLocked, 0)
	})
	t.Run("no temporary file is left", func(t *testing.T) {
		if names := fjDirNames(t, path); len(names) != 1 {
			t.Fatalf("files: %v", names)
		}
	})
	t.Run("appends continue after compaction", func(t *testing.T) {
		more := history("a", 27)[25:]
		fjAppend(t, f, more...)
		got, err := f.Read(context.Background(), "a", 20)
		if err != nil {
			t.Fatal(err)
		}
		requireSameRecords(t, got, append(a[20:], more...))
	})
}

func TestFileLoadIsTheSameBeforeAndAfterCompaction(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5, 12, 13, 30} {
		for _, keep := range []int{1, 2, 5, 12} {
			t.Run(fmt.Sprintf("%d records, keep %d", n, keep), func(t *testing.T) {
				path := fjPath(t)
				f := fjOpen(t, path, nil, filejournal.WithRetention(keep), filejournal.WithoutAutoCompaction())
				fjInterleave(t, f, history("x", n), history("y", n/2+1))
				before := []events.Snapshot{fjLoad(t, f, "x"), fjLoad(t, f, "y")}
				if err := f.Compact(context.Background()); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				g := fjOpen(t, path, nil)
				for i, name := range []string{"x", "y"} {
					requireSameSnapshot(t, fjLoad(t, f, name), before[i])
					requireSameSnapshot(t, fjLoad(t, g, name), before[i])
				}
			})
		}
	}
}

func TestFileCompactsItselfAfterTheThreshold(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil, filejournal.WithRetention(3), filejournal.WithCompactAfter(6))
	recs := history("a", 7)
	fjAppend(t, f, recs[:6]...)
	if st := f.Stats(); st.Records != 6 || st.Snapshots != 0 {
		t.Fatalf("after 6 appends: Stats() = %+v, want 6 records and no snapshot", st)
	}
	fjAppend(t, f, recs[6])
	if st := f.Stats(); st.Records != 3 || st.Snapshots != 1 {
		t.Fatalf("after the 7th append: Stats() = %+v, want 3 records and 1 snapshot", st)
	}
	if first := strings.SplitN(fjRead(t, path), "\n", 2)[0]; !strings.Contains(first, `"kind":"snapshot","breaker":"a","seq":4,`) {
		t.Fatalf("first line %s, want the snapshot at seq 4", first)
	}
	want, _ := events.Replay("a", recs)
	requireSameSnapshot(t, fjLoad(t, f, "a"), want)
}

func TestFileWithoutAutoCompactionGrows(t *testing.T) {
	f := fjOpen(t, fjPath(t), nil, filejournal.WithRetention(1), filejournal.WithoutAutoCompaction())
	fjAppend(t, f, history("a", 50)...)
	if st := f.Stats(); st.Records != 50 || st.Snapshots != 0 {
		t.Fatalf("Stats() = %+v, want 50 records and no snapshot", st)
	}
}

func TestFileCompactKeepsTheFileMode(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil, filejournal.WithRetention(1))
	fjAppend(t, f, history("a", 3)...)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := f.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode after compaction %v, want 0640", st.Mode().Perm())
	}
}

func TestFileOpenRemovesLeftoverOfInterruptedCompaction(t *testing.T) {
	path := fjPath(t)
	content := fjLines(t, history("a", 3)...)
	fjWrite(t, path, content)
	leftover := filepath.Join(filepath.Dir(path), "breakers.jsonl.compact-123456")
	fjWrite(t, leftover, `{"v":1,"kind":"snapshot","breaker":"a","se`)
	unrelated := filepath.Join(filepath.Dir(path), "other.jsonl.compact-1")
	fjWrite(t, unrelated, "not ours")
	w := &fjWarnings{}
	f := fjOpen(t, path, w)
	warns := w.all()
	if len(warns) != 1 || !strings.Contains(warns[0].Error(), "removed "+leftover) {
		t.Fatalf("warnings %v, want one saying %s was removed", warns, leftover)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("the leftover is still there: %v", err)
	}
	if fjRead(t, unrelated) != "not ours" {
		t.Fatal("another journal's file was touched")
	}
	if got := fjRead(t, path); got != content {
		t.Fatal("the journal changed")
	}
	requireSameRecords(t, fjReadAll(t, f, "a"), history("a", 3))
}

func TestFileCompactAfterCancelledContext(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil, filejournal.WithRetention(1))
	fjAppend(t, f, history("a", 3)...)
	before := fjRead(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Compact(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact = %v, want context.Canceled", err)
	}
	if fjRead(t, path) != before {
		t.Fatal("the file changed")
	}
}

func TestFileRefusedOpenLeavesLeftoverAlone(t *testing.T) {
	path := fjPath(t)
	fjWrite(t, path, `{"v":3,"breaker":"a"}`+"\n")
	leftover := path + ".compact-99"
	fjWrite(t, leftover, "partial")
	if f, err := filejournal.Open(path); err == nil {
		f.Close()
		t.Fatal("Open of a newer file succeeded")
	}
	if got := fjRead(t, leftover); got != "partial" {
		t.Fatal("a refused Open removed a file")
	}
}

// The snapshot record must carry every field of events.Snapshot, or
// compaction would lose it: a new field must be added to the record (in
// file_codec.go) and to this list.
func TestFileSnapshotRecordCoversEverySnapshotField(t *testing.T) {
	var got []string
	for f := range reflect.TypeFor[events.Snapshot]().Fields() {
		got = append(got, f.Name)
	}
	want := []string{"Breaker", "Seq", "State", "Event", "Since", "OpenFor", "Opens"}
	if !slices.Equal(got, want) {
		t.Fatalf("events.Snapshot has fields %v; the file journal's snapshot record stores %v", got, want)
	}
}
