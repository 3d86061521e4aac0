package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/circuitry-go/circuitry/filejournal"
)

// asMainEnv makes the test binary run the program instead of the tests, so
// that the tests can run it as real processes (and it can start copies of
// itself, as -phase all does).
const asMainEnv = "CIRCUITRY_AUDIT_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// program returns a command running the program with args.
func program(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	return cmd
}

// fields parses a line of key=value words after its first word.
func fields(t *testing.T, line string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, w := range strings.Fields(line)[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			t.Fatalf("word %q of line %q is not key=value", w, line)
		}
		out[k] = v
	}
	return out
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func parseDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	v, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// linesStarting returns the lines of out whose first word is word.
func linesStarting(out, word string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, word+" ") {
			ls = append(ls, l)
		}
	}
	return ls
}

// TestRestartKeepsBreakerOpenThenRecovers runs the service as a process
// that trips the breaker and is killed with SIGKILL, then as a second
// process over the same journal: the breaker is still open there, with the
// rest of the open period that the first process recorded, and recovers
// once it is over, with sequence numbers that carry on across the restart.
// No timing is asserted by racing the clock: the remaining time is checked
// against the wall times both processes recorded.
func TestRestartKeepsBreakerOpenThenRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	const recovery = 3 * time.Second

	// 1. The service trips its breaker, and crashes.
	first := program("-phase", "trip", "-journal", path, "-recovery", recovery.String())
	first.Stderr = os.Stderr
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var tripped map[string]string
	for sc := bufio.NewScanner(stdout); tripped == nil && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "tripped ") {
			tripped = fields(t, sc.Text())
		}
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = first.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("first process: %v, want death by SIGKILL", err)
	}
	if tripped == nil {
		t.Fatal("the first process never said its breaker tripped")
	}
	if tripped["seq"] != "1" || parseDuration(t, tripped["open_for"]) != recovery {
		t.Fatalf("tripped %v, want seq 1 open for %s", tripped, recovery)
	}
	openUntil := parseTime(t, tripped["at"]).Add(recovery)

	// 2. The service restarts over the same journal.
	out, err := program("-phase", "resume", "-journal", path, "-recovery", recovery.String()).Output()
	if err != nil {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	resumed := linesStarting(string(out), "resumed")
	if len(resumed) != 1 {
		t.Fatalf("second process output has no resumed line:\n%s", out)
	}
	r := fields(t, resumed[0])
	if r["state"] != "open" || r["seq"] != "1" {
		t.Fatalf("resumed %v, want open at seq 1:\n%s", r, out)
	}
	retry := parseDuration(t, r["retry_after"])
	if retry <= 0 || retry >= recovery {
		t.Fatalf("RetryAfter after the restart = %s, want within (0, %s)", retry, recovery)
	}
	// now + RetryAfter is when the open period ends, by the second
	// process's clock: it must be the end the first process recorded.
	if end := parseTime(t, r["now"]).Add(retry); end.Sub(openUntil).Abs() > 100*time.Millisecond {
		t.Fatalf("the resumed open period ends at %s, the recorded one at %s", end.Format(time.RFC3339Nano), openUntil.Format(time.RFC3339Nano))
	}
	var steps []string
	for _, l := range linesStarting(string(out), "transition") {
		f := fields(t, l)
		steps = append(steps, f["seq"]+":"+f["event"])
	}
	if got, want := strings.Join(steps, " "), "2:probe 3:recover"; got != want {
		t.Fatalf("second process transitions %q, want %q:\n%s", got, want, out)
	}
	if got := linesStarting(string(out), "recovered"); len(got) != 1 || fields(t, got[0])["seq"] != "3" {
		t.Fatalf("no recovery at seq 3 in:\n%s", out)
	}

	// 3. The journal holds the whole story, contiguous across the restart,
	// and the probe waited for the recorded open period.
	j, err := filejournal.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := j.Read(t.Context(), breakerName, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, rec := range recs {
		if rec.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i+1, rec.Seq)
		}
		got = append(got, rec.Event.String())
	}
	if strings.Join(got, " ") != "trip probe recover" {
		t.Fatalf("journal events %v, want trip probe recover", got)
	}
	if recs[1].Time.Before(openUntil) {
		t.Fatalf("probe at %s, before the recorded open period ended at %s", recs[1].Time, openUntil)
	}

	// 4. The audit command accepts the journal the program left.
	verify := exec.Command(goTool(t), "run", "./cmd/circuitry", "verify", path)
	verify.Dir = filepath.Join("..", "..")
	vout, err := verify.CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./cmd/circuitry verify: %v\n%s", err, vout)
	}
	if want := path + ": ok: 1 breaker, 3 transition records, 0 snapshot records"; !strings.Contains(string(vout), want) {
		t.Fatalf("verify said %q, want %q", vout, want)
	}
}

func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on the PATH to run cmd/circuitry with")
	}
	return p
}

// TestWholeStory runs the default phase: the program kills its own child
// service and resumes it.
func TestWholeStory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	out, err := program("-journal", path, "-recovery", "500ms").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"crash: killing the service with SIGKILL",
		"resumed breaker=payments state=open seq=1 ",
		"recovered breaker=payments seq=3",
		"go run ./cmd/circuitry verify " + path,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestEachRunStartsFresh runs the story twice without -journal: each run
// has a journal of its own, so each trips its breaker at seq 1.
func TestEachRunStartsFresh(t *testing.T) {
	tmp := t.TempDir()
	var paths []string
	for run := range 2 {
		cmd := program("-recovery", "300ms")
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run+1, err, out)
		}
		if !strings.Contains(string(out), "resumed breaker=payments state=open seq=1 ") {
			t.Fatalf("run %d did not start from an empty journal:\n%s", run+1, out)
		}
		line := linesStarting(string(out), "==")[0]
		_, path, ok := strings.Cut(line, " over ")
		if !ok || !strings.HasPrefix(path, tmp) {
			t.Fatalf("run %d: no journal in %s named in %q", run+1, tmp, line)
		}
		paths = append(paths, path)
	}
	if paths[0] == paths[1] {
		t.Fatalf("both runs used %s", paths[0])
	}
}

func TestBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"unknown phase", []string{"-phase", "later"}, `-phase "later": want all, trip or resume`},
		{"zero recovery", []string{"-recovery", "0s"}, "-recovery 0s must be positive"},
		{"extra argument", []string{"file.jsonl"}, `unexpected arguments ["file.jsonl"]`},
		{"a phase without -journal", []string{"-phase", "trip"}, "-phase trip needs -journal"},
		{"journal in a missing directory", []string{"-phase", "resume", "-journal", "/nonexistent/j.jsonl"}, "circuitry: journal /nonexistent/j.jsonl: open: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := program(tc.args...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.says) {
				t.Fatalf("output %q does not say %q", out, tc.says)
			}
		})
	}
}
