package filejournal_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// FuzzFileOpen feeds arbitrary bytes to the journal file reader, which
// differs from DecodeLines (snapshot records, versions probed first, torn
// tails). For any content: ReadFile and Open agree on whether the file
// is acceptable and on the error; a refused file is left exactly as it
// was; an accepted one loses nothing but its torn tail; and every breaker's
// fold is the same through ReadFile, Open, and ReadFile after a Checkpoint.
func FuzzFileOpen(f *testing.F) {
	a, b := history("a", 14), history("b", 3)
	var valid bytes.Buffer
	events.EncodeLines(&valid, append(a[:5], b...))
	snap := `{"v":1,"kind":"snapshot","breaker":"a","seq":5,"state":"closed","event":"recover","since":"2026-11-27T10:00:05Z"}` + "\n"
	var after bytes.Buffer
	events.EncodeLines(&after, a[5:9])
	for _, s := range []string{
		"",
		"\n\n",
		valid.String(),
		snap + after.String(),
		snap + after.String()[:len(after.String())-30],
		valid.String() + strings.Repeat("\x00", 64),
		strings.ReplaceAll(valid.String(), "\n", "\r\n"),
		strings.Replace(valid.String(), `{"v":2,`, `{"v":3,`, 1),
		snap + snap,
		`{"v":1,"kind":"snapshot"}` + "\n",
		`{"v":9999999999999999999999}`,
		"{\"v\":1}\n{\"v\":",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, rerr := filejournal.ReadFile(path)
		var warns []error
		w, oerr := filejournal.Open(path, filejournal.WithWarningHandler(func(err error) { warns = append(warns, err) }))
		if (rerr == nil) != (oerr == nil) {
			t.Fatalf("ReadFile: %v; Open: %v", rerr, oerr)
		}
		if rerr != nil {
			if rerr.Error() != oerr.Error() {
				t.Fatalf("ReadFile: %v\nOpenFile: %v", rerr, oerr)
			}
			var fe *filejournal.FileError
			if !errors.As(rerr, &fe) || fe.Line() < 1 || !(errors.Is(rerr, filejournal.ErrCorrupt) || errors.Is(rerr, filejournal.ErrNewerFormat)) {
				t.Fatalf("error %v does not name a line as corrupt or newer", rerr)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
				t.Fatal("a refused file was changed")
			}
			return
		}
		defer w.Close()
		torn := r.Stats().TornBytes
		// An empty file becomes a new journal, which starts with a segment
		// header; any other is left as it was, less its torn bytes.
		if got, _ := os.ReadFile(path); int64(len(data)) > torn && !bytes.Equal(got, data[:int64(len(data))-torn]) {
			t.Fatalf("Open left %q, want the input less its %d torn bytes", got, torn)
		}
		if (torn > 0) != (len(warns) == 1 && errors.Is(warns[0], filejournal.ErrTornRecord)) || len(warns) > 1 {
			t.Fatalf("torn bytes %d, warnings %v", torn, warns)
		}
		ctx := context.Background()
		names := r.Breakers()
		if got := w.Breakers(); strings.Join(got, "\x00") != strings.Join(names, "\x00") {
			t.Fatalf("breakers %q and %q", names, got)
		}
		want := map[string]events.Snapshot{}
		for _, n := range names {
			s, err := events.Load(ctx, r, n)
			if err != nil {
				t.Fatalf("Load(%q) of an accepted file: %v", n, err)
			}
			want[n] = s
			if s2, err := events.Load(ctx, w, n); err != nil || !s2.Equal(s) {
				t.Fatalf("Load(%q): ReadFile %+v, Open %+v, %v", n, s, s2, err)
			}
		}
		if _, err := w.Checkpoint(ctx); err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
		c, err := filejournal.ReadFile(path)
		if err != nil {
			t.Fatalf("ReadFile after Checkpoint: %v", err)
		}
		for _, n := range names {
			if s, err := events.Load(ctx, c, n); err != nil || !s.Equal(want[n]) {
				t.Fatalf("Load(%q) after Checkpoint = %+v, %v; want %+v", n, s, err, want[n])
			}
		}
	})
}

// FuzzSealedSegment puts arbitrary bytes in place of the middle sealed
// segment of a journal of three segments. Whatever they are, Verify,
// Records, StateAt, Oldest and a Read of older records through ReadFile
// return, without panicking, either success or a *FileError matching one of
// the package's errors; the original bytes verify.
func FuzzSealedSegment(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "j")
	w, err := filejournal.Open(path, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	a, b := history("a", 12), history("b", 5)
	for i, part := range [][]events.Transition{append(a[:4:4], b[:2]...), append(a[4:8:8], b[2:4]...), append(a[8:], b[4:]...)} {
		for _, r := range part {
			if err := w.Append(ctx, r); err != nil {
				f.Fatal(err)
			}
		}
		if i < 2 {
			if _, err := w.Checkpoint(ctx); err != nil {
				f.Fatal(err)
			}
		}
	}
	w.Close()
	files := map[string][]byte{}
	for _, name := range []string{"j", "j.00000001", "j.00000002"} {
		files[name], err = os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
	}
	seg := files["j.00000002"]
	lines := bytes.SplitAfter(seg, []byte("\n"))
	for _, s := range [][]byte{
		seg,
		seg[:len(seg)-1],
		seg[:len(seg)/2],
		bytes.Join(lines[:len(lines)-2], nil), // no seal line
		bytes.Replace(seg, []byte(`{"v":3,"kind":"seal"`), []byte(`{"v":4,"kind":"seal"`), 1),
		bytes.Replace(seg, []byte(`"segment":2`), []byte(`"segment":1`), 1),
		bytes.Replace(seg, []byte(`"records":6`), []byte(`"records":60`), 1),
		bytes.Replace(seg, []byte(`"breakers":[`), []byte(`"breakers":[{"breaker":"z","first_seq":1,"last_seq":1,"first":"2026-11-27T10:00:00Z","last":"2026-11-27T10:00:00Z"},`), 1),
		files["j.00000001"],
		{},
		[]byte("\n"),
		[]byte(`{"v":3,"kind":"seal","segment":2,"bytes":1,"records":0,"breakers":[]}` + "\n"),
	} {
		f.Add(s)
	}
	named := []error{filejournal.ErrCorrupt, filejournal.ErrNewerFormat, events.ErrBrokenChain, filejournal.ErrMissingSegment,
		filejournal.ErrForeignSegment, filejournal.ErrHeadNotFound}
	isNamed := func(err error) bool {
		var fe *filejournal.FileError
		if !errors.As(err, &fe) {
			return false
		}
		for _, target := range named {
			if errors.Is(err, target) {
				return true
			}
		}
		return false
	}
	// The readers change nothing: one copy of the journal serves every
	// input, with its middle segment replaced.
	fuzzDir := f.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(fuzzDir, name), content, 0o600); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(fuzzDir, "j")
		if err := os.WriteFile(path+".00000002", data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := filejournal.Verify(path, filejournal.VerifyOptions{})
		if err != nil && !isNamed(err) {
			t.Fatalf("Verify: %v (%T)", err, errors.Unwrap(err))
		}
		if err != nil && bytes.Equal(data, seg) {
			t.Fatalf("Verify of the journal as written: %v", err)
		}
		for _, err := range filejournal.Records(path, filejournal.Filter{}) {
			if err != nil && !isNamed(err) {
				t.Fatalf("Records: %v", err)
			}
		}
		for _, err := range filejournal.Records(path, filejournal.Filter{Breakers: func(n string) bool { return n == "b" }, Since: t0.Add(5 * time.Second)}) {
			if err != nil && !isNamed(err) {
				t.Fatalf("Records with a filter: %v", err)
			}
		}
		if _, err := filejournal.StateAt(path, t0.Add(6*time.Second)); err != nil && !isNamed(err) && !errors.Is(err, events.ErrCompacted) {
			t.Fatalf("StateAt: %v", err)
		}
		if _, err := filejournal.Oldest(path); err != nil && !isNamed(err) {
			t.Fatalf("Oldest: %v", err)
		}
		r, err := filejournal.ReadFile(path)
		if err != nil {
			t.Fatalf("ReadFile of the untouched active segment: %v", err)
		}
		for _, name := range []string{"a", "b"} {
			if _, err := r.Read(ctx, name, 0); err != nil && !isNamed(err) && !errors.Is(err, events.ErrCompacted) {
				t.Fatalf("Read(%q, 0): %v", name, err)
			}
		}
	})
}
