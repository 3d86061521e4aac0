//go:build unix

package filejournal_test

import (
	"os"
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
