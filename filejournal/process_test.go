//go:build linux

package filejournal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// The tests in this file run real processes: the test binary, re-executed
// with fjHelperEnv set, runs fileHelper instead of the tests.
const (
	fjHelperEnv    = "CIRCUITRY_EVENTS_FILE_HELPER"
	fjPathEnv      = "CIRCUITRY_EVENTS_FILE_PATH"
	fjSyncEnv      = "CIRCUITRY_EVENTS_FILE_SYNC"
	fjCrashEnv     = "CIRCUITRY_EVENTS_FILE_CRASH"      // crash mode: the point to die at
	fjCrashNthEnv  = "CIRCUITRY_EVENTS_FILE_CRASH_NTH"  // at its n-th occurrence
	fjCrashOpenEnv = "CIRCUITRY_EVENTS_FILE_CRASH_OPEN" // "1": during Open's retention pass
)

// TestFileHelperProcess is not a test: it is the helper program, run only
// when the test binary is re-executed by fjStartHelper.
func TestFileHelperProcess(t *testing.T) {
	mode := os.Getenv(fjHelperEnv)
	if mode == "" {
		return
	}
	if err := fileHelper(mode, os.Getenv(fjPathEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// fileHelper is the helper program. Modes:
//
//	hold    open the journal, print "locked", and wait (to be killed)
//	append  open the journal and append legal records of breakers a and b
//	        for ever, printing "ok <breaker> <seq>" after each Append returns
//	efbig   make an append fail with EFBIG (a file size limit), and report
//	        the file's size before and after it as JSON
//	crash   append as append does (segments of 1200 bytes, retention by
//	        age against a clock that jumps 100 hours once 3 segments are
//	        sealed), printing "head <segment> <head>" for each checkpoint,
//	        and SIGKILL itself at the n-th time a seal or a retention pass
//	        reaches the point fjCrashEnv names (with fjCrashOpenEnv, in the
//	        retention pass of Open, by WithMaxBytes(1))
func fileHelper(mode, path string) error {
	switch mode {
	case "crash":
		return crashHelper(path)
	case "hold":
		f, err := filejournal.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin) // until the parent kills us
		return nil
	case "append":
		sync := filejournal.SyncAlways
		if os.Getenv(fjSyncEnv) == "none" {
			sync = filejournal.SyncNone
		}
		f, err := filejournal.Open(path, filejournal.WithSync(sync), filejournal.WithSegmentSize(1500),
			filejournal.WithWarningHandler(func(err error) { fmt.Fprintln(os.Stderr, "warning:", err) }))
		if err != nil {
			return err
		}
		ctx := context.Background()
		heads := map[string]uint64{}
		for _, b := range []string{"a", "b"} {
			s, err := events.Load(ctx, f, b)
			if err != nil {
				return err
			}
			heads[b] = s.Seq
		}
		for i := 0; ; i++ {
			b := []string{"a", "b"}[i%2]
			r := fjRecord(b, heads[b]+1)
			if err := f.Append(ctx, r); err != nil {
				return err
			}
			heads[b]++
			fmt.Printf("ok %s %d\n", b, r.Seq)
		}
	case "efbig":
		f, err := filejournal.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		ctx := context.Background()
		if err := f.Append(ctx, fjRecord("a", 1)); err != nil {
			return err
		}
		before := f.Stats().Size
		big := fjRecord("a", 2)
		big.Reason.LastError = strings.Repeat("x", 4096)
		small := fjRecord("a", 2)
		line, _ := small.MarshalJSON()
		limit := uint64(before) + uint64(len(line)) + 100 // room for small, not for big
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
			return err
		}
		bigErr := f.Append(ctx, big)
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		smallErr := f.Append(ctx, small)
		out := map[string]any{"before": before, "after_failure": st.Size(), "big_error": fmt.Sprint(bigErr),
			"efbig": errors.Is(bigErr, syscall.EFBIG), "small_error": fmt.Sprint(smallErr)}
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// crashHelper is the crash mode of fileHelper.
func crashHelper(path string) error {
	point := os.Getenv(fjCrashEnv)
	nth, err := strconv.Atoi(os.Getenv(fjCrashNthEnv))
	if err != nil {
		return err
	}
	var armed atomic.Bool
	reached := 0
	restore := filejournal.SetCrashHook(func(p string) {
		if !armed.Load() || p != point {
			return
		}
		if reached++; reached == nth {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	})
	defer restore()
	sync := filejournal.SyncAlways
	if os.Getenv(fjSyncEnv) == "none" {
		sync = filejournal.SyncNone
	}
	var now atomic.Int64
	now.Store(t0.Add(time.Minute).UnixNano())
	seals := 0
	opts := []filejournal.Option{filejournal.WithSync(sync), filejournal.WithSegmentSize(1200), filejournal.WithMaxAge(time.Hour),
		filejournal.WithClock(func() time.Time { return time.Unix(0, now.Load()).UTC() }),
		filejournal.WithWarningHandler(func(err error) { fmt.Fprintln(os.Stderr, "warning:", err) }),
		filejournal.WithRetentionHandler(func(r filejournal.Removal) { fmt.Fprintln(os.Stderr, "removed through", r.Through) }),
		filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) {
			seals++
			fmt.Printf("head %d %s\n", c.Sealed, c.Head)
		})}
	if os.Getenv(fjCrashOpenEnv) == "1" {
		opts = append(opts, filejournal.WithMaxBytes(1))
		armed.Store(true)
	}
	f, err := filejournal.Open(path, opts...)
	if err != nil {
		return err
	}
	armed.Store(true)
	ctx := context.Background()
	heads := map[string]uint64{}
	for _, b := range []string{"a", "b"} {
		s, err := events.Load(ctx, f, b)
		if err != nil {
			return err
		}
		heads[b] = s.Seq
	}
	for i := 0; i < 2000; i++ {
		if seals >= 3 {
			now.Store(t0.Add(100 * time.Hour).UnixNano())
		}
		b := []string{"a", "b"}[i%2]
		r := fjRecord(b, heads[b]+1)
		if err := f.Append(ctx, r); err != nil {
			return err
		}
		heads[b]++
		fmt.Printf("ok %s %d\n", b, r.Seq)
	}
	return fmt.Errorf("2000 appends, and %s was not reached %d times", point, nth)
}

// fjRecord returns record seq of breaker in a history that goes round walk
// for ever: it depends only on its arguments, so a process that resumes a
// journal appends the records that follow.
func fjRecord(breaker string, seq uint64) events.Transition {
	w := walk[(seq-1)%uint64(len(walk))]
	r := events.Transition{Breaker: breaker, Seq: seq, Event: w.Event, From: w.From, To: w.To,
		Time: t0.Add(time.Duration(seq) * time.Second), Reason: events.Reason{Policy: "test", Failures: seq}}
	if w.To == events.Open {
		r.OpenFor = time.Minute
	}
	return r
}

// fjHelper is a running helper process.
type fjHelper struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
	stdin io.WriteCloser
	done  chan error
}

func fjStartHelper(t *testing.T, mode, path string, env ...string) *fjHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{fjHelperEnv + "=" + mode, fjPathEnv + "=" + path}, env...)...)
	cmd.Stderr = &fjLogWriter{t: t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &fjHelper{cmd: cmd, lines: bufio.NewScanner(stdout), stdin: stdin, done: make(chan error, 1)}
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		h.wait(t)
	})
	return h
}

// line returns the helper's next line of output, failing the test if it
// ends its output first.
func (h *fjHelper) line(t *testing.T) string {
	t.Helper()
	if !h.lines.Scan() {
		t.Fatalf("the helper ended its output (%v)", h.wait(t))
	}
	return h.lines.Text()
}

// kill sends SIGKILL, waits for the process to be gone, and returns the
// lines it wrote before it died that were not read yet.
func (h *fjHelper) kill(t *testing.T) []string {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for h.lines.Scan() {
		rest = append(rest, h.lines.Text())
	}
	err := h.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the helper did not die of SIGKILL: %v", err)
	}
	return rest
}

// wait waits for the helper to exit, once; later calls return the same.
func (h *fjHelper) wait(t *testing.T) error {
	select {
	case err := <-h.done:
		h.done <- err
		return err
	default:
	}
	io.Copy(io.Discard, h.cmd.Stdout.(io.Reader))
	err := h.cmd.Wait()
	h.done <- err
	return err
}

// fjLogWriter sends a helper's stderr to the test log.
type fjLogWriter struct{ t *testing.T }

func (w *fjLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("helper: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestFileLockHeldByAnotherProcess(t *testing.T) {
	path := fjPath(t)
	fjWrite(t, path, fjLines(t, fjRecord("a", 1)))
	h := fjStartHelper(t, "hold", path)
	if got := h.line(t); got != "locked" {
		t.Fatalf("helper said %q", got)
	}

	f, err := filejournal.Open(path)
	if err == nil {
		f.Close()
		t.Fatal("Open of a journal another process holds succeeded")
	}
	fjFileError(t, err, path, filejournal.ErrLocked, 0)
	if !strings.Contains(err.Error(), "another process") {
		t.Fatalf("error %q does not say another process may hold the lock", err)
	}
	if r, err := filejournal.ReadFile(path); err != nil {
		t.Fatalf("ReadFile while another process writes: %v", err)
	} else {
		requireSameRecords(t, fjReadAll(t, r, "a"), []events.Transition{fjRecord("a", 1)})
	}

	h.kill(t) // the kernel releases a dead process's flock
	g := fjOpen(t, path, nil)
	fjAppend(t, g, fjRecord("a", 2))
}

// TestFileSurvivesSIGKILL kills a process that appends as fast as it can
// (sealing every few records), several times over the same journal, and
// checks after each kill that the journal opens, that every append the
// process saw return is in it, that at most the one in flight is too, and
// that a new process resumes from it with the next sequence numbers.
func TestFileSurvivesSIGKILL(t *testing.T) {
	for _, policy := range []string{"always", "none"} {
		t.Run("sync "+policy, func(t *testing.T) {
			path := fjPath(t)
			acked := map[string]uint64{}
			for round, kills := range []int{7, 60, 151, 23} {
				h := fjStartHelper(t, "append", path, fjSyncEnv+"="+policy)
				ack := func(line string) {
					fields := strings.Fields(line)
					if len(fields) != 3 || fields[0] != "ok" {
						t.Fatalf("helper said %q", line)
					}
					seq, err := strconv.ParseUint(fields[2], 10, 64)
					if err != nil {
						t.Fatal(err)
					}
					if want := acked[fields[1]] + 1; seq != want {
						t.Fatalf("round %d: helper appended %s seq %d, want %d (resuming from the journal)", round, fields[1], seq, want)
					}
					acked[fields[1]] = seq
				}
				for n := 0; n < kills; n++ {
					ack(h.line(t))
				}
				// Kill it mid-run; the acknowledgements it printed before it
				// died are still in the pipe.
				for _, line := range h.kill(t) {
					ack(line)
				}

				w := &fjWarnings{}
				f := fjOpen(t, path, w, filejournal.WithSegmentSize(1500))
				t.Logf("round %d: killed after a=%d b=%d acknowledged appends; warnings on reopening: %v", round, acked["a"], acked["b"], w.all())
				for _, warn := range w.all() {
					// A kill during a seal leaves a temporary file, or a sealed
					// copy whose new active segment was not yet in place.
					if !errors.Is(warn, filejournal.ErrTornRecord) && !strings.Contains(warn.Error(), "left by an interrupted seal") &&
						!strings.Contains(warn.Error(), "finished the seal of segment") && !strings.Contains(warn.Error(), "an unfinished copy of the active segment") {
						t.Fatalf("round %d: unexpected warning %v", round, warn)
					}
				}
				for _, b := range []string{"a", "b"} {
					head := fjLoad(t, f, b) // checks every record it folds
					if head.Seq < acked[b] || head.Seq > acked[b]+1 {
						t.Fatalf("round %d: breaker %s at seq %d after the kill; the helper saw %d appends return", round, b, head.Seq, acked[b])
					}
					// The whole history is there, across the sealed segments.
					recs := fjReadAll2(t, f, b, 0)
					if uint64(len(recs)) != head.Seq {
						t.Fatalf("round %d: breaker %s: Read(0) returned %d records, want %d", round, b, len(recs), head.Seq)
					}
					for _, r := range recs {
						if !sameRecord(r, fjRecord(b, r.Seq)) {
							t.Fatalf("round %d: record %v differs from what was appended", round, r)
						}
					}
					acked[b] = head.Seq // the next process resumes from here
				}
				for _, n := range fjDirNames(t, path) {
					if n != "breakers.jsonl" && !isSealedName(n) {
						t.Fatalf("round %d: file %s left next to the journal", round, n)
					}
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestFileFailedAppendIsUndone makes a real write fail half-way (a file
// size limit: the kernel writes what fits, then refuses with EFBIG) and
// checks that the journal truncates the partial record away, so that the
// next append lands right after the last committed one.
func TestFileFailedAppendIsUndone(t *testing.T) {
	path := fjPath(t)
	h := fjStartHelper(t, "efbig", path)
	var out struct {
		Before       int64  `json:"before"`
		AfterFailure int64  `json:"after_failure"`
		BigError     string `json:"big_error"`
		EFBIG        bool   `json:"efbig"`
		SmallError   string `json:"small_error"`
	}
	if err := json.Unmarshal([]byte(h.line(t)), &out); err != nil {
		t.Fatal(err)
	}
	if err := h.wait(t); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if !out.EFBIG || !strings.Contains(out.BigError, path) {
		t.Fatalf("the big append failed with %q, want EFBIG naming the path", out.BigError)
	}
	if out.AfterFailure != out.Before {
		t.Fatalf("file size %d after the failed append, want %d: the partial record was not cut", out.AfterFailure, out.Before)
	}
	if out.SmallError != "<nil>" {
		t.Fatalf("the append after the failure: %s", out.SmallError)
	}
	f := fjOpen(t, path, nil)
	requireSameRecords(t, fjReadAll(t, f, "a"), []events.Transition{fjRecord("a", 1), fjRecord("a", 2)})
}

// setUmask sets the process's umask and returns the old one.
func setUmask(mask int) int { return syscall.Umask(mask) }

func TestFileCreatesWithMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []filejournal.Option
		want fs.FileMode
	}{
		{"default", nil, 0o600},
		{"WithFileMode(0o640)", []filejournal.Option{filejournal.WithFileMode(0o640)}, 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := setUmask(0o022)
			defer setUmask(old)
			path := fjPath(t)
			fjOpen(t, path, nil, tc.opts...)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != tc.want {
				t.Fatalf("mode %v, want %v", got, tc.want)
			}
		})
	}
}
