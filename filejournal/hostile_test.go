//go:build unix

package filejournal_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/filejournal"
)

// ReadFile on a FIFO is refused at once; it used to open it first and wait
// for a writer for ever.
func TestReadFileRefusesFIFO(t *testing.T) {
	path := fjPath(t)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("this system cannot make a FIFO: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := filejournal.ReadFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		fjFileError(t, err, path, nil, 0)
		if want := "not a regular file"; !strings.Contains(err.Error(), want) {
			t.Fatalf("ReadFile(FIFO): %v, want %q", err, want)
		}
	case <-time.After(10 * time.Second): // a hang detector, not a timing assertion
		// Open the FIFO for writing so that the blocked reader returns
		// and the test does not leak it.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatal("ReadFile(FIFO) blocked")
	}
}

// An unfinished last line that starts a record of a newer format is not a
// torn record of ours: Open refuses the file and leaves it as it was,
// and ReadFile reports it.
func TestNewerFormatTailIsNotCut(t *testing.T) {
	tests := []struct {
		name  string
		tail  string
		newer bool
	}{
		{"version 4, more to come", `{"v":4,"breaker":"a","seq":2,"ev`, true},
		{"version 12, digits cut", `{"v":12`, true},
		{"version 4, digits cut", `{"v":4`, true},
		{"version 3 (a segment's lines), digits cut", `{"v":3`, false},
		{"version 2, digits cut", `{"v":2`, false},
		{"version 1, digits cut", `{"v":1`, false},
		{"version 1, more to come", `{"v":1,"breaker":"a","se`, false},
		{"no version yet", `{"v":`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fjPath(t)
			content := fjLines(t, history("a", 1)...) + tt.tail
			fjWrite(t, path, content)

			_, rerr := filejournal.ReadFile(path)
			var w fjWarnings
			f, oerr := filejournal.Open(path, filejournal.WithWarningHandler(w.handle))
			if f != nil {
				f.Close()
			}
			if !tt.newer {
				if rerr != nil || oerr != nil {
					t.Fatalf("ReadFile: %v; Open: %v; want a torn record of this version", rerr, oerr)
				}
				if got := fjRead(t, path); got != content[:len(content)-len(tt.tail)] {
					t.Fatalf("Open left %q, want the torn tail cut", got)
				}
				return
			}
			fjFileError(t, rerr, path, filejournal.ErrNewerFormat, 2)
			fjFileError(t, oerr, path, filejournal.ErrNewerFormat, 2)
			if got := fjRead(t, path); got != content {
				t.Fatalf("Open modified a file of a newer format: %d bytes left of %d", len(got), len(content))
			}
		})
	}
}

// A FIFO or a directory named as a sealed segment gets an error that says
// so, from Open, Verify, Records, StateAt and Oldest; none of them waits
// on the FIFO.
func TestSegmentNameThatIsNotARegularFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"FIFO", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"directory with a file in it", func(p string) error {
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p, "x"), nil, 0o600)
		}},
	} {
		for _, n := range []int{1, 2, 3} { // the active segment is 2
			t.Run(fmt.Sprintf("%s as segment %d", tc.name, n), func(t *testing.T) {
				path := fjPath(t)
				f := fjOpen(t, path, nil, filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
				fjAppend(t, f, history("a", 3)...)
				fjCheckpoint(t, f)
				f.Close()
				odd := fjSegment(path, n)
				os.Remove(odd)
				if err := tc.make(odd); err != nil {
					t.Skipf("cannot make a %s: %v", tc.name, err)
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					g, err := filejournal.Open(path, filejournal.WithWarningHandler(func(error) {}))
					if err == nil {
						g.Close()
						t.Error("Open succeeded")
					}
					for what, err := range map[string]error{
						"Open":   err,
						"Verify": func() error { _, err := filejournal.Verify(path, filejournal.VerifyOptions{}); return err }(),
						"Records": func() error {
							for _, err := range filejournal.Records(path, filejournal.Filter{}) {
								if err != nil {
									return err
								}
							}
							return nil
						}(),
						"StateAt":  func() error { _, err := filejournal.StateAt(path, t0.Add(time.Hour)); return err }(),
						"Oldest":   func() error { _, err := filejournal.Oldest(path); return err }(),
						"ReadFile": func() error { _, err := filejournal.ReadFile(path); return err }(),
					} {
						if !errors.Is(err, filejournal.ErrForeignSegment) || !strings.Contains(fmt.Sprint(err), "not a regular file") || !strings.Contains(fmt.Sprint(err), odd) {
							t.Errorf("%s: %v, want ErrForeignSegment saying %s is not a regular file", what, err, odd)
						}
					}
				}()
				select {
				case <-done:
				case <-time.After(20 * time.Second): // a hang detector, not a timing assertion
					if w, err := os.OpenFile(odd, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						w.Close()
					}
					<-done
					t.Fatal("blocked on the file named as a segment")
				}
				if st, err := os.Stat(odd); err != nil || st.Mode().IsRegular() {
					t.Fatalf("the %s was changed: %v", tc.name, err)
				}
			})
		}
	}
}
