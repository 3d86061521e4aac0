package filejournal_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// fjPath returns the path of a journal file that does not exist yet, in a
// directory of its own.
func fjPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "breakers.jsonl")
}

// fjWarnings collects what a File reports to its warning handler.
type fjWarnings struct {
	mu   sync.Mutex
	errs []error
}

func (w *fjWarnings) handle(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, err)
}

func (w *fjWarnings) all() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]error(nil), w.errs...)
}

func (w *fjWarnings) requireNone(t testing.TB) {
	t.Helper()
	if errs := w.all(); len(errs) != 0 {
		t.Fatalf("unexpected warnings: %v", errs)
	}
}

// fjOpen opens path for writing, fails the test on error, collects the
// warnings in w (which may be nil: then any warning fails the test at
// cleanup) and closes the journal at cleanup.
func fjOpen(t testing.TB, path string, w *fjWarnings, opts ...filejournal.Option) *filejournal.File {
	t.Helper()
	if w == nil {
		w = &fjWarnings{}
		t.Cleanup(func() { w.requireNone(t) })
	}
	f, err := filejournal.Open(path, append([]filejournal.Option{filejournal.WithWarningHandler(w.handle)}, opts...)...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// fjAppend appends every record, failing the test on the first error.
func fjAppend(t testing.TB, j events.Journal, recs ...events.Transition) {
	t.Helper()
	for _, r := range recs {
		if err := j.Append(context.Background(), r); err != nil {
			t.Fatalf("Append(%v): %v", r, err)
		}
	}
}

// fjLines encodes records as journal lines.
func fjLines(t testing.TB, recs ...events.Transition) string {
	t.Helper()
	var b bytes.Buffer
	if err := events.EncodeLines(&b, recs); err != nil {
		t.Fatalf("EncodeLines: %v", err)
	}
	return b.String()
}

func fjWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fjRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fjReadAll returns every record of breaker the journal still holds.
func fjReadAll(t testing.TB, j events.Journal, breaker string) []events.Transition {
	t.Helper()
	recs, err := j.Read(context.Background(), breaker, 0)
	if err != nil {
		t.Fatalf("Read(%q, 0): %v", breaker, err)
	}
	return recs
}

// fjLoad returns events.Load of breaker.
func fjLoad(t testing.TB, j events.Journal, breaker string) events.Snapshot {
	t.Helper()
	s, err := events.Load(context.Background(), j, breaker)
	if err != nil {
		t.Fatalf("Load(%q): %v", breaker, err)
	}
	return s
}

// fjFileError asserts that err is a *filejournal.FileError about path, matching
// target, and that its message names the path (and the line, when line is
// not 0); it returns it.
func fjFileError(t testing.TB, err error, path string, target error, line int) *filejournal.FileError {
	t.Helper()
	var fe *filejournal.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *filejournal.FileError", err, err)
	}
	if fe.Path != path {
		t.Fatalf("FileError.Path = %q, want %q (%v)", fe.Path, path, err)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("error %v does not match %v", err, target)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the path %s", err, path)
	}
	if line != 0 {
		if fe.Line() != line {
			t.Fatalf("FileError.Line() = %d, want %d (%v)", fe.Line(), line, err)
		}
		if want := "line " + strconv.Itoa(line); !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
	return fe
}

// fjDirNames lists the names in path's directory.
func fjDirNames(t testing.TB, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// isSealedName reports whether name is that of a sealed segment of
// breakers.jsonl.
func isSealedName(name string) bool {
	digits, ok := strings.CutPrefix(name, "breakers.jsonl.")
	return ok && len(digits) == 8 && strings.Trim(digits, "0123456789") == ""
}

// fjReadAll2 returns the records of breaker after a sequence number.
func fjReadAll2(t testing.TB, j events.Journal, breaker string, after uint64) []events.Transition {
	t.Helper()
	recs, err := j.Read(context.Background(), breaker, after)
	if err != nil {
		t.Fatalf("Read(%q, %d): %v", breaker, after, err)
	}
	return recs
}

// fjCheckpoint seals f's active segment now, failing the test on error.
func fjCheckpoint(t testing.TB, f *filejournal.File) filejournal.Checkpoint {
	t.Helper()
	c, err := f.Checkpoint(context.Background())
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	return c
}
