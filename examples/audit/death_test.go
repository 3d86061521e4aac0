//go:build unix

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/filejournal"
)

// startStory starts the whole story with -pause and reads its output until
// the service has tripped; it returns the program, the service's pid, and
// the program's stdin (Enter crashes the service) and stdout.
func startStory(t *testing.T, path string) (*exec.Cmd, int, io.WriteCloser, io.ReadCloser) {
	t.Helper()
	cmd := program("-journal", path, "-recovery", "1m", "-pause")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// A line of the service is "   [service PID] ...".
	service := regexp.MustCompile(`^   \[service (\d+)\] tripped `)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := service.FindStringSubmatch(sc.Text()); m != nil {
			pid, err := strconv.Atoi(m[1])
			if err != nil {
				t.Fatal(err)
			}
			return cmd, pid, stdin, stdout
		}
	}
	t.Fatalf("the program ended before its service tripped: %v", sc.Err())
	return nil, 0, nil, nil
}

// TestServiceDiesWithTheProgram kills the program while its service runs,
// by SIGKILL or by SIGPIPE (as "go run ./examples/audit | head -3" does):
// the service must die too, and leave the journal's lock free.
func TestServiceDiesWithTheProgram(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kill   func(t *testing.T, cmd *exec.Cmd, stdin io.Writer, stdout io.Closer)
		signal syscall.Signal
	}{
		{"SIGKILL", func(t *testing.T, cmd *exec.Cmd, _ io.Writer, _ io.Closer) {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}, syscall.SIGKILL},
		{"SIGPIPE", func(t *testing.T, _ *exec.Cmd, stdin io.Writer, stdout io.Closer) {
			// Nobody reads the program's output any more; Enter makes it
			// write the next line, into the broken pipe.
			stdout.Close()
			if _, err := io.WriteString(stdin, "\n"); err != nil {
				t.Fatal(err)
			}
		}, syscall.SIGPIPE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			cmd, pid, stdin, stdout := startStory(t, path)
			if _, err := filejournal.Open(path); !errors.Is(err, filejournal.ErrLocked) {
				t.Fatalf("OpenFile while the service runs: %v, want ErrLocked", err)
			}
			tc.kill(t, cmd, stdin, stdout)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != tc.signal {
				t.Fatalf("program: %v, want death by %s", err, tc.signal)
			}
			waitGone(t, pid, path)
		})
	}
}

// TestServiceStopsAtEndOfStdin runs the service as -phase all does, and
// closes its standard input as the death of its parent would: it stops
// cleanly and frees the lock. This is what ends it where there is no
// parent-death signal.
func TestServiceStopsAtEndOfStdin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := program("-phase", "trip", "-journal", path, "-exit-on-stdin-eof")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "tripped ") {
	}
	stdin.Close()
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("service: %v, want a clean stop", err)
	}
	if !strings.Contains(rest.String(), "stopping cleanly") {
		t.Fatalf("the service said %q, want it to stop cleanly", rest.String())
	}
	waitGone(t, cmd.Process.Pid, path)
}

// waitGone waits until the process pid has ended and the journal's lock is
// free, and fails the test after 10 seconds. The lock may outlive the
// process's zombie state for a moment: the threads of a dying process
// release its files after its main thread shows as a zombie.
func waitGone(t *testing.T, pid int, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var err error
		if !alive(pid) {
			var j *filejournal.File
			if j, err = filejournal.Open(path); err == nil {
				if err := j.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				t.Fatalf("the service (pid %d) is still running", pid)
			}
			t.Fatalf("the service (pid %d) is gone, but OpenFile: %v", pid, err)
		}
		<-tick.C
	}
}

// alive reports whether process pid runs: it exists and, where /proc says,
// is not a zombie waiting to be reaped by a parent that does not reap.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) || runtime.GOOS != "linux"
	}
	// The state follows the command name, which is in parentheses.
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z")
}
