package filejournal_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

func TestFileAppendThenReadAndReopen(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil)
	a, b := history("a", 12), history("b", 5)
	for i := range a { // interleave the two breakers
		fjAppend(t, f, a[i])
		if i < len(b) {
			fjAppend(t, f, b[i])
		}
	}
	requireSameRecords(t, fjReadAll(t, f, "a"), a)
	requireSameRecords(t, fjReadAll(t, f, "b"), b)
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	g := fjOpen(t, path, nil)
	requireSameRecords(t, fjReadAll(t, g, "a"), a)
	requireSameRecords(t, fjReadAll(t, g, "b"), b)
	if got, want := g.Breakers(), []string{"a", "b"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Breakers() = %v, want %v", got, want)
	}
	for _, name := range []string{"a", "b"} {
		want, err := events.Replay(name, map[string][]events.Transition{"a": a, "b": b}[name])
		if err != nil {
			t.Fatal(err)
		}
		requireSameSnapshot(t, fjLoad(t, g, name), want)
	}
}

func TestFileLinesAreTheTransitionCodec(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil)
	recs := history("payments", 4)
	fjAppend(t, f, recs...)
	// The records as stored carry their links; the segment's header comes
	// first.
	stored := fjReadAll(t, f, "payments")
	header, body, _ := strings.Cut(fjRead(t, path), "\n")
	if !strings.HasPrefix(header, `{"v":3,"kind":"segment","segment":1,`) {
		t.Fatalf("first line %s, want the header of segment 1", header)
	}
	if want := fjLines(t, stored...); body != want {
		t.Fatalf("file content:\n%s\nwant EncodeLines of the records:\n%s", body, want)
	}
}

func TestFileReadsFileWrittenByEncodeLines(t *testing.T) {
	path := fjPath(t)
	a, b := history("a", 3), history("b", 2)
	fjWrite(t, path, fjLines(t, a[0], b[0], a[1], a[2], b[1]))
	f := fjOpen(t, path, nil)
	requireSameRecords(t, fjReadAll(t, f, "a"), a)
	requireSameRecords(t, fjReadAll(t, f, "b"), b)
	fjAppend(t, f, history("a", 4)[3])
}

func TestFileReadAfter(t *testing.T) {
	f := fjOpen(t, fjPath(t), nil)
	recs := history("a", 6)
	fjAppend(t, f, recs...)
	for _, tc := range []struct {
		after uint64
		want  []events.Transition
	}{
		{0, recs}, {2, recs[2:]}, {5, recs[5:]}, {6, nil}, {99, nil},
	} {
		t.Run(fmt.Sprintf("after %d", tc.after), func(t *testing.T) {
			got, err := f.Read(context.Background(), "a", tc.after)
			if err != nil {
				t.Fatal(err)
			}
			requireSameRecords(t, got, tc.want)
		})
	}
	t.Run("unknown breaker", func(t *testing.T) {
		got, err := f.Read(context.Background(), "nobody", 0)
		if err != nil || got != nil {
			t.Fatalf("Read of an unknown breaker = %v, %v; want nil, nil", got, err)
		}
	})
}

func TestFileAppendConflicts(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil)
	recs := history("a", 3)
	fjAppend(t, f, recs[:2]...)
	before := fjRead(t, path)
	for _, tc := range []struct {
		name string
		rec  events.Transition
		last uint64
	}{
		{"seq already stored", recs[1], 2},
		{"seq skips one", history("a", 4)[3], 2},
		{"first record of a breaker is not seq 1", history("b", 2)[1], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.Append(context.Background(), tc.rec)
			requireConflict(t, err, tc.rec.Breaker, tc.rec.Seq, tc.last)
			if got := fjRead(t, path); got != before {
				t.Fatalf("the file changed after a refused append:\n%s", got)
			}
		})
	}
}

func TestFileAppendRefusesIllegalRecords(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil)
	fjAppend(t, f, history("a", 1)...) // a is open at seq 1
	before := fjRead(t, path)
	next := history("a", 2)[1] // probe, open -> half_open
	with := func(change func(*events.Transition)) events.Transition {
		r := next
		change(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		rec  events.Transition
		want error
	}{
		{"event the table does not allow", with(func(r *events.Transition) { r.Event = events.Recover }), events.ErrIllegalTransition},
		{"from is not the current state", with(func(r *events.Transition) { r.From, r.To, r.Event = events.Closed, events.Open, events.Trip }), events.ErrIllegalTransition},
		{"to open without open_for", with(func(r *events.Transition) { r.Event, r.To = events.ForceClose, events.Closed; r.OpenFor = time.Second }), events.ErrInvalidRecord},
		{"undeclared event", with(func(r *events.Transition) { r.Event = 99 }), events.ErrInvalidRecord},
		{"empty breaker name", with(func(r *events.Transition) { r.Breaker, r.Seq = "", 1 }), events.ErrInvalidRecord},
		{"breaker name not UTF-8", with(func(r *events.Transition) {
			r.Breaker, r.Seq, r.From, r.To, r.Event = "a\xff", 1, events.Closed, events.Open, events.Trip
			r.OpenFor = time.Second
		}), events.ErrInvalidRecord},
		{"time beyond year 9999", with(func(r *events.Transition) { r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), events.ErrInvalidRecord},
		{"record longer than MaxRecordSize", with(func(r *events.Transition) { r.Reason.LastError = strings.Repeat("x", events.MaxRecordSize) }), events.ErrInvalidRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.Append(context.Background(), tc.rec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append = %v, want an error matching %v", err, tc.want)
			}
			if errors.Is(err, events.ErrConflict) {
				t.Fatalf("Append = %v: an illegal record is not a conflict", err)
			}
			if got := fjRead(t, path); got != before {
				t.Fatalf("the file changed after a refused append:\n%s", got)
			}
		})
	}
	fjAppend(t, f, next) // the journal still accepts the legal record
}

func TestFileAppendStoresWhatAReopenReads(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil)
	r := history("a", 1)[0]
	r.Time = time.Now().In(time.FixedZone("CET", 3600)) // a location and a monotonic reading
	r.Reason.LastError = "bad \xff byte"
	fjAppend(t, f, r)
	got := fjReadAll(t, f, "a")[0]
	if got.Time.Location() != time.UTC || got.Time != got.Time.Round(0) || !got.Time.Equal(r.Time) {
		t.Fatalf("stored time %v, want %v in UTC without a monotonic reading", got.Time, r.Time)
	}
	if got.Reason.LastError != "bad \uFFFD byte" {
		t.Fatalf("stored last_error %q, want the invalid byte replaced as encoding/json writes it", got.Reason.LastError)
	}
	live := fjLoad(t, f, "a")
	f.Close()
	g := fjOpen(t, path, nil)
	if reread := fjReadAll(t, g, "a")[0]; reread != got {
		t.Fatalf("after reopening: %#v\nbefore: %#v", reread, got)
	}
	if reloaded := fjLoad(t, g, "a"); reloaded != live {
		t.Fatalf("Load after reopening = %+v, before = %+v", reloaded, live)
	}
}

func TestFileAppendHonoursCancelledContext(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Append(ctx, history("a", 1)[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context = %v, want context.Canceled", err)
	}
	if got := fjRead(t, path); strings.Count(got, "\n") != 1 || !strings.Contains(got, `"kind":"segment"`) {
		t.Fatalf("file = %q, want the segment's header only", got)
	}
}

func TestFileTornLastRecordIsCutAndReported(t *testing.T) {
	recs := history("a", 3)
	good := fjLines(t, recs[:2]...)
	last := strings.TrimSuffix(fjLines(t, recs[2]), "\n")
	for _, tc := range []struct {
		name string
		tail string
	}{
		{"one byte of a record", last[:1]},
		{"two bytes of a record", last[:2]},
		{"record cut after its version", last[:6]},
		{"record cut in the middle", last[:len(last)/2]},
		{"record missing only its newline", last},
		{"NUL bytes", strings.Repeat("\x00", 512)},
		{"record start then NUL bytes", last[:40] + strings.Repeat("\x00", 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			fjWrite(t, path, good+tc.tail)
			w := &fjWarnings{}
			f := fjOpen(t, path, w)
			warns := w.all()
			if len(warns) != 1 {
				t.Fatalf("warnings = %v, want exactly one", warns)
			}
			fjFileError(t, warns[0], path, filejournal.ErrTornRecord, 3)
			if got := f.Stats().TornBytes; got != int64(len(tc.tail)) {
				t.Fatalf("Stats().TornBytes = %d, want %d", got, len(tc.tail))
			}
			if got := fjRead(t, path); got != good {
				t.Fatalf("file after open = %q, want the two committed records", got)
			}
			requireSameRecords(t, fjReadAll(t, f, "a"), recs[:2])
			fjAppend(t, f, recs[2]) // the append that was torn, again
			f.Close()
			g := fjOpen(t, path, nil)
			requireSameRecords(t, fjReadAll(t, g, "a"), recs)
		})
	}
}

func TestReadFileIgnoresTornLastRecordAndChangesNothing(t *testing.T) {
	recs := history("a", 3)
	content := fjLines(t, recs[:2]...) + `{"v":1,"breaker":"a","se`
	path := fjPath(t)
	fjWrite(t, path, content)
	f, err := filejournal.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	requireSameRecords(t, fjReadAll(t, f, "a"), recs[:2])
	if got := f.Stats().TornBytes; got != int64(len(`{"v":1,"breaker":"a","se`)) {
		t.Fatalf("TornBytes = %d", got)
	}
	if got := fjRead(t, path); got != content {
		t.Fatalf("ReadFile changed the file:\n%q", got)
	}
}

// corruptCases are files with a bad line; line is the 1-based line that
// must be named.
func corruptCases(t *testing.T) []struct {
	name    string
	content string
	line    int
} {
	a := history("a", 4)
	b := history("b", 2)
	ok := fjLines(t, a[0], b[0])
	gap := a[2]
	snap := `{"v":1,"kind":"snapshot","breaker":"a","seq":1,"state":"open","event":"trip","since":"2026-11-27T10:00:01Z","open_for":"10s","opens":1}` + "\n"
	return []struct {
		name    string
		content string
		line    int
	}{
		{"garbage line", ok + "hello, world\n" + fjLines(t, a[1]), 3},
		{"truncated JSON with a newline", ok + `{"v":1,"breaker":"a","seq":2` + "\n" + fjLines(t, a[2]), 3},
		{"flipped byte", ok + strings.Replace(fjLines(t, a[1]), `"probe"`, `"prabe"`, 1), 3},
		{"sequence gap", ok + fjLines(t, gap), 3},
		{"illegal transition", ok + strings.Replace(fjLines(t, a[1]), `"to":"half_open"`, `"to":"closed"`, 1), 3},
		{"unknown record kind", ok + `{"v":1,"kind":"checkpoint"}` + "\n", 3},
		{"snapshot after the breaker's records", ok + snap, 3},
		{"second snapshot", snap + snap, 2},
		{"snapshot of an impossible state", strings.Replace(snap, `"event":"trip"`, `"event":"recover"`, 1), 1},
		{"snapshot open without open_for", strings.Replace(snap, `,"open_for":"10s"`, ``, 1), 1},
		{"snapshot open without opens", strings.Replace(snap, `,"opens":1`, ``, 1), 1},
		{"record after a snapshot that does not follow it", snap + fjLines(t, a[0]), 2},
		{"line longer than MaxRecordSize", ok + strings.Repeat(" ", events.MaxRecordSize+1) + "\n", 3},
		{"last line without newline that is not a record", ok + "garbage", 3},
		{"binary file", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00", 1},
	}
}

func TestFileCorruptRecordIsRefusedNamingFileAndLine(t *testing.T) {
	for _, tc := range corruptCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			fjWrite(t, path, tc.content)
			f, err := filejournal.Open(path, filejournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
			if err == nil {
				f.Close()
				t.Fatal("Open of a corrupt file succeeded")
			}
			fjFileError(t, err, path, filejournal.ErrCorrupt, tc.line)
			if got := fjRead(t, path); got != tc.content {
				t.Fatalf("Open changed a file it refused")
			}
			if names := fjDirNames(t, path); len(names) != 1 {
				t.Fatalf("files next to the journal: %v, want only the journal", names)
			}
		})
	}
}

func TestReadFileCorruptRecordReturnsRecordsBefore(t *testing.T) {
	a := history("a", 3)
	path := fjPath(t)
	content := fjLines(t, a[0], a[1]) + "not json\n" + fjLines(t, a[2])
	fjWrite(t, path, content)
	f, err := filejournal.ReadFile(path)
	fjFileError(t, err, path, filejournal.ErrCorrupt, 3)
	if f == nil {
		t.Fatal("ReadFile returned no File with the error")
	}
	requireSameRecords(t, fjReadAll(t, f, "a"), a[:2])
}

func TestFileCorruptionRecoveryStartsFromLastGoodState(t *testing.T) {
	a, b := history("a", 5), history("b", 3)
	for _, tc := range corruptCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			fjWrite(t, path, tc.content)
			want, _ := filejournal.ReadFile(path) // the records before the bad line
			w := &fjWarnings{}
			f := fjOpen(t, path, w, filejournal.WithCorruptionRecovery())
			warns := w.all()
			if len(warns) != 1 {
				t.Fatalf("warnings = %v, want one", warns)
			}
			fe := fjFileError(t, warns[0], path, filejournal.ErrCorrupt, 0)
			if !strings.Contains(fe.Error(), fmt.Sprintf("line %d", tc.line)) {
				t.Fatalf("warning %q does not name line %d", fe, tc.line)
			}
			var aside string
			for _, n := range fjDirNames(t, path) {
				if strings.HasPrefix(n, "breakers.jsonl.corrupt-") {
					aside = filepath.Join(filepath.Dir(path), n)
				}
			}
			if aside == "" || !strings.Contains(fe.Error(), aside) {
				t.Fatalf("no copy of the corrupt file named in the warning %q (files %v)", fe, fjDirNames(t, path))
			}
			if got := fjRead(t, aside); got != tc.content {
				t.Fatalf("the copy set aside differs from the corrupt file")
			}
			for _, name := range []string{"a", "b"} {
				requireSameSnapshot(t, fjLoad(t, f, name), fjLoad(t, want, name))
			}
			if _, err := filejournal.ReadFile(path); err != nil {
				t.Fatalf("the recovered journal does not read back: %v", err)
			}
			// Appends continue from the last good state.
			for _, h := range [][]events.Transition{a, b} {
				head := fjLoad(t, f, h[0].Breaker)
				fjAppend(t, f, h[head.Seq])
			}
		})
	}
}

func TestFileNewerFormatIsRefusedEvenWithRecovery(t *testing.T) {
	a := history("a", 2)
	newer := strings.Replace(fjLines(t, a[1]), `{"v":2,`, `{"v":3,"shard":7,`, 1)
	for _, tc := range []struct {
		name    string
		content string
		line    int
	}{
		{"transition of version 2 with a new field", fjLines(t, a[0]) + newer, 2},
		{"record of a new kind, version 3", `{"v":3,"kind":"lease","owner":"x"}` + "\n", 1},
		{"version beyond uint64", `{"v":123456789012345678901234567890}` + "\n", 1},
	} {
		for _, recover := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/recovery %v", tc.name, recover), func(t *testing.T) {
				path := fjPath(t)
				fjWrite(t, path, tc.content)
				opts := []filejournal.Option{filejournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) })}
				if recover {
					opts = append(opts, filejournal.WithCorruptionRecovery())
				}
				f, err := filejournal.Open(path, opts...)
				if err == nil {
					f.Close()
					t.Fatal("Open of a newer file succeeded")
				}
				fjFileError(t, err, path, filejournal.ErrNewerFormat, tc.line)
				if errors.Is(err, filejournal.ErrCorrupt) {
					t.Fatalf("a newer format is reported as corrupt: %v", err)
				}
				if got := fjRead(t, path); got != tc.content {
					t.Fatal("Open changed a newer file")
				}
				if names := fjDirNames(t, path); len(names) != 1 {
					t.Fatalf("files next to the journal: %v, want only the journal", names)
				}
				_, err = filejournal.ReadFile(path)
				fjFileError(t, err, path, filejournal.ErrNewerFormat, tc.line)
			})
		}
	}
}

func TestFileBadPaths(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "journal")
	fjWrite(t, regular, fjLines(t, history("a", 1)...))
	for _, tc := range []struct {
		name     string
		path     string
		want     error  // matched by errors.Is, or nil
		contains string // in the message
		root     bool   // whether the case holds when running as root
	}{
		{"directory", dir, nil, "is a directory", true},
		{"device", os.DevNull, nil, "not a regular file", true},
		{"missing directory", filepath.Join(dir, "missing", "journal"), fs.ErrNotExist, "no such file", true},
		{"file under a file", filepath.Join(regular, "journal"), nil, "not a directory", true},
	} {
		t.Run("Open/"+tc.name, func(t *testing.T) {
			f, err := filejournal.Open(tc.path)
			if err == nil {
				f.Close()
				t.Fatalf("Open(%s) succeeded", tc.path)
			}
			fjFileError(t, err, tc.path, tc.want, 0)
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not say %q", err, tc.contains)
			}
		})
		t.Run("ReadFile/"+tc.name, func(t *testing.T) {
			_, err := filejournal.ReadFile(tc.path)
			fjFileError(t, err, tc.path, tc.want, 0)
		})
	}
	t.Run("ReadFile/missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "nothing-here")
		_, err := filejournal.ReadFile(missing)
		fjFileError(t, err, missing, fs.ErrNotExist, 0)
		if _, serr := os.Stat(missing); !errors.Is(serr, fs.ErrNotExist) {
			t.Fatal("ReadFile created the file")
		}
	})
	t.Run("empty path", func(t *testing.T) {
		if _, err := filejournal.Open(""); err == nil || !strings.Contains(err.Error(), "empty path") {
			t.Fatalf("Open(\"\") = %v, want an error saying the path is empty", err)
		}
		if _, err := filejournal.ReadFile(""); err == nil || !strings.Contains(err.Error(), "empty path") {
			t.Fatalf("ReadFile(\"\") = %v, want an error saying the path is empty", err)
		}
	})
}

// Root reads and writes any file whatever its mode bits say, so these cases
// cannot fail for it: they are skipped when the tests run as root.
func TestFilePermissions(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which ignores permission bits: the permission cases cannot be observed")
	}
	content := fjLines(t, history("a", 2)...)
	for _, tc := range []struct {
		name     string
		mode     fs.FileMode
		openErr  bool
		readErr  bool
		dirWrite bool
	}{
		{"no permission at all", 0o000, true, true, true},
		{"read-only file", 0o400, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			fjWrite(t, path, content)
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(path, 0o600) })
			f, err := filejournal.Open(path)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			fjFileError(t, err, path, fs.ErrPermission, 0)
			_, err = filejournal.ReadFile(path)
			if tc.readErr {
				fjFileError(t, err, path, fs.ErrPermission, 0)
			} else if err != nil {
				t.Fatalf("ReadFile of a readable file: %v", err)
			}
			os.Chmod(path, 0o600)
			if got := fjRead(t, path); got != content {
				t.Fatal("the file changed")
			}
		})
	}
	t.Run("directory not writable", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		path := filepath.Join(dir, "journal")
		_, err := filejournal.Open(path)
		fjFileError(t, err, path, fs.ErrPermission, 0)
	})
}

func TestFileLockedByAnotherFileInThisProcess(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil)
	fjAppend(t, f, history("a", 1)...)
	g, err := filejournal.Open(path)
	if err == nil {
		g.Close()
		t.Fatal("a second Open of a locked journal succeeded")
	}
	fjFileError(t, err, path, filejournal.ErrLocked, 0)
	if !strings.Contains(err.Error(), "locked by another writer") {
		t.Fatalf("error %q does not say the journal is locked", err)
	}
	// A reader needs no lock.
	r, err := filejournal.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile of a locked journal: %v", err)
	}
	requireSameRecords(t, fjReadAll(t, r, "a"), history("a", 1))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fjOpen(t, path, nil) // the lock went with Close
}

func TestReadFileIsReadOnly(t *testing.T) {
	path := fjPath(t)
	fjWrite(t, path, fjLines(t, history("a", 2)...))
	before := fjRead(t, path)
	f, err := filejournal.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Append(context.Background(), history("a", 3)[2]); !errors.Is(err, filejournal.ErrReadOnly) {
		t.Fatalf("Append = %v, want ErrReadOnly", err)
	}
	if _, err := f.Checkpoint(context.Background()); !errors.Is(err, filejournal.ErrReadOnly) {
		t.Fatalf("Checkpoint = %v, want ErrReadOnly", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if got := fjRead(t, path); got != before {
		t.Fatal("the file changed")
	}
}

func TestFileClosed(t *testing.T) {
	path := fjPath(t)
	f, err := filejournal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := history("a", 2)
	fjAppend(t, f, recs[0])
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err = f.Append(context.Background(), recs[1])
	fjFileError(t, err, path, filejournal.ErrClosed, 0)
	_, err = f.Checkpoint(context.Background())
	fjFileError(t, err, path, filejournal.ErrClosed, 0)
	requireSameRecords(t, fjReadAll(t, f, "a"), recs[:1]) // reads still answer
}

func TestFileSyncPolicies(t *testing.T) {
	for _, p := range []filejournal.SyncPolicy{filejournal.SyncAlways, filejournal.SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			path := fjPath(t)
			f := fjOpen(t, path, nil, filejournal.WithSync(p))
			recs := history("a", 5)
			fjAppend(t, f, recs...)
			// Another reader sees every record Append accepted, before Close.
			r, err := filejournal.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			requireSameRecords(t, fjReadAll(t, r, "a"), recs)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFileOptionsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []filejournal.Option
		says string
	}{
		{"nil option", []filejournal.Option{nil}, "filejournal.Open option 0(nil): must not be nil"},
		{"WithSegmentSize(0)", []filejournal.Option{filejournal.WithSegmentSize(0)}, "WithSegmentSize(0): must be at least 1 byte"},
		{"WithMaxAge(0)", []filejournal.Option{filejournal.WithMaxAge(0)}, "WithMaxAge(0s): must be positive"},
		{"WithMaxAge(-1h)", []filejournal.Option{filejournal.WithMaxAge(-time.Hour)}, "WithMaxAge(-1h0m0s): must be positive"},
		{"WithMaxBytes(0)", []filejournal.Option{filejournal.WithMaxBytes(0)}, "WithMaxBytes(0): must be positive"},
		{"WithChainKey of 15 bytes", []filejournal.Option{filejournal.WithChainKey(make([]byte, 15))}, "WithChainKey(15 bytes): a chain key needs at least 16 bytes"},
		{"WithChainKey(nil)", []filejournal.Option{filejournal.WithChainKey(nil)}, "WithChainKey(0 bytes)"},
		{"WithCheckpointHandler(nil)", []filejournal.Option{filejournal.WithCheckpointHandler(nil)}, "WithCheckpointHandler(nil)"},
		{"WithRetentionHandler(nil)", []filejournal.Option{filejournal.WithRetentionHandler(nil)}, "WithRetentionHandler(nil)"},
		{"WithSync of an unknown policy", []filejournal.Option{filejournal.WithSync(7)}, "WithSync(SyncPolicy(7))"},
		{"WithFileMode without owner write", []filejournal.Option{filejournal.WithFileMode(0o444)}, "WithFileMode(-r--r--r--)"},
		{"WithFileMode with a type bit", []filejournal.Option{filejournal.WithFileMode(fs.ModeDir | 0o700)}, "WithFileMode(drwx------)"},
		{"WithWarningHandler(nil)", []filejournal.Option{filejournal.WithWarningHandler(nil)}, "WithWarningHandler(nil)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			f, err := filejournal.Open(path, tc.opts...)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.says) || !errors.Is(err, events.ErrInvalidOption) {
				t.Fatalf("error %q does not say %q, or does not match ErrInvalidOption", err, tc.says)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("Open with an invalid option created the file")
			}
		})
	}
}

func TestSyncPolicyString(t *testing.T) {
	for p, want := range map[filejournal.SyncPolicy]string{filejournal.SyncAlways: "SyncAlways", filejournal.SyncNone: "SyncNone", 9: "SyncPolicy(9)"} {
		if got := p.String(); got != want {
			t.Errorf("SyncPolicy(%d).String() = %q, want %q", uint8(p), got, want)
		}
	}
}

func TestFileErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *filejournal.FileError
		want string
	}{
		{"record with breaker", &filejournal.FileError{Path: "/j", Op: "read", Err: &events.RecordError{Position: 4, Breaker: "a", Seq: 2, Err: events.ErrGap}},
			`circuitry: journal /j: line 4 (breaker "a", seq 2): sequence gap`},
		{"record without breaker", &filejournal.FileError{Path: "/j", Op: "read", Err: &events.RecordError{Position: 4, Err: events.ErrDecode}},
			`circuitry: journal /j: line 4: undecodable record`},
		{"path error of the same path", &filejournal.FileError{Path: "/j", Op: "open", Err: &fs.PathError{Op: "open", Path: "/j", Err: fs.ErrPermission}},
			`circuitry: journal /j: open: permission denied`},
		{"other error", &filejournal.FileError{Path: "/j", Op: "sync", Err: errors.New("EIO")},
			`circuitry: journal /j: sync: EIO`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Fatalf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFileSnapshotRecordIsChecked(t *testing.T) {
	const good = `{"v":1,"kind":"snapshot","breaker":"a","seq":3,"state":"open","event":"retrip","since":"2026-11-27T10:00:03Z","open_for":"30s","opens":2}`
	t.Run("a good record", func(t *testing.T) {
		path := fjPath(t)
		fjWrite(t, path, good+"\n")
		f, err := filejournal.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := events.Snapshot{Breaker: "a", Seq: 3, State: events.Open, Event: events.Retrip, Since: t0.Add(3 * time.Second), OpenFor: 30 * time.Second, Opens: 2}
		requireSameSnapshot(t, fjLoad(t, f, "a"), want)
	})
	for _, tc := range []struct {
		name, from, to, says string
	}{
		{"missing v", `"v":1,`, ``, "missing field v"},
		{"version 0", `"v":1`, `"v":0`, "format version 0"},
		{"missing breaker", `"breaker":"a",`, ``, "missing field breaker"},
		{"empty breaker", `"breaker":"a"`, `"breaker":""`, "missing field breaker"},
		{"missing seq", `"seq":3,`, ``, "missing field seq"},
		{"seq 0", `"seq":3`, `"seq":0`, "at seq 0"},
		{"missing state", `"state":"open",`, ``, "missing field state"},
		{"unknown state", `"state":"open"`, `"state":"ajar"`, `unknown state "ajar"`},
		{"missing event", `"event":"retrip",`, ``, "missing field event"},
		{"unknown event", `"event":"retrip"`, `"event":"blink"`, `unknown event "blink"`},
		{"state no event leads to", `"event":"retrip"`, `"event":"probe"`, "state open cannot follow event probe"},
		{"missing since", `"since":"2026-11-27T10:00:03Z",`, ``, "missing field since"},
		{"since beyond UTC year 9999", `"2026-11-27T10:00:03Z"`, `"9999-12-31T23:30:00-01:00"`, "outside years 0 to 9999"},
		{"bad open_for", `"30s"`, `"soon"`, `field open_for "soon" is not a positive duration`},
		{"negative open_for", `"30s"`, `"-1s"`, `field open_for "-1s" is not a positive duration`},
		{"opens 0 while open", `,"opens":2`, `,"opens":0`, "snapshot opens 0 with state open"},
		{"trailing data", `"opens":2}`, `"opens":2}}`, "invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := strings.Replace(good, tc.from, tc.to, 1)
			if line == good {
				t.Fatalf("%q does not occur in the record", tc.from)
			}
			path := fjPath(t)
			fjWrite(t, path, line+"\n")
			_, err := filejournal.ReadFile(path)
			fjFileError(t, err, path, filejournal.ErrCorrupt, 1)
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
		})
	}
}
