package filejournal_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// FuzzFileOpen feeds arbitrary bytes to the journal file reader, which
// differs from DecodeLines (snapshot records, versions probed first, torn
// tails). For any content: ReadFile and Open agree on whether the file
// is acceptable and on the error; a refused file is left exactly as it
// was; an accepted one loses nothing but its torn tail; and every breaker's
// fold is the same through ReadFile, Open, and Open after Compact.
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
