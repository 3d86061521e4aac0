//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every command given a FIFO says it is not a journal file, at once: verify
// used to open it first and wait for a writer for ever.
func TestCommandsRefuseFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("this system cannot make a FIFO: %v", err)
	}
	for _, cmd := range []string{"verify", "history", "state", "diagram"} {
		t.Run(cmd, func(t *testing.T) {
			type result struct {
				code   int
				stderr string
			}
			done := make(chan result, 1)
			go func() {
				code, _, stderr := cli(t, time.Now(), cmd, path)
				done <- result{code, stderr}
			}()
			select {
			case r := <-done:
				if r.code != 1 || !strings.Contains(r.stderr, "not a regular file") {
					t.Fatalf("%s FIFO: exit %d, stderr %q; want 1 and \"not a regular file\"", cmd, r.code, r.stderr)
				}
			case <-time.After(10 * time.Second): // a hang detector, not a timing assertion
				if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
					w.Close() // let the blocked reader return
				}
				<-done
				t.Fatalf("%s FIFO blocked", cmd)
			}
		})
	}
}
