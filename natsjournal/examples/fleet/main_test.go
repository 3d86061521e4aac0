package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain runs the test binary as a replica when the fleet test starts it
// as one, and otherwise the tests, checking for leaked goroutines.
func TestMain(m *testing.M) {
	if n := os.Getenv("FLEET_TEST_REPLICA"); n != "" {
		replica, _ := strconv.Atoi(n)
		run, _ := time.ParseDuration(os.Getenv("FLEET_TEST_RUN"))
		if err := runReplica(context.Background(), os.Stdout, replica, os.Getenv("FLEET_TEST_NATS"), os.Getenv("FLEET_TEST_UPSTREAM"), run); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// testSpawn starts the test binary as replica n.
func testSpawn(ctx context.Context, out io.Writer, n int, natsURL, upstream string, run time.Duration) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("FLEET_TEST_REPLICA=%d", n), "FLEET_TEST_NATS="+natsURL,
		"FLEET_TEST_UPSTREAM="+upstream, "FLEET_TEST_RUN="+run.String())
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	return cmd
}

// The fleet trips together and recovers together, and its trail, read
// back from the stream, replays: every replica opens on the first trip
// (its own or adopted) and ends closed.
func TestFleet(t *testing.T) {
	var out bytes.Buffer
	if err := runFleet(context.Background(), &out, time.Second, 3*time.Second, testSpawn); err != nil {
		t.Fatalf("runFleet: %v\n%s", err, out.String())
	}
	got := out.String()
	for n := range 3 {
		me := fmt.Sprintf("replica-%d", n)
		opened, done := false, false
		for _, line := range strings.Split(got, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[1] != me {
				continue
			}
			opened = opened || strings.Contains(line, "seq 1 trip: closed → open")
			done = done || strings.HasSuffix(line, "the breaker is closed")
		}
		if !opened || !done {
			t.Errorf("%s: opened on the first trip %v, ended closed %v:\n%s", me, opened, done, got)
		}
	}
	// Each half-open period has exactly one replica holding its lease. A
	// replica may ask twice for one period (for its own probe record, then
	// for the one it adopted), and is given the same answer.
	holders := map[string]map[string]bool{} // seq -> replicas told "held"
	for _, line := range strings.Split(got, "\n") {
		f := strings.Fields(line)
		if _, after, ok := strings.Cut(line, "probe lease on half-open seq "); ok && len(f) > 1 {
			seq, answer, _ := strings.Cut(after, ": ")
			if holders[seq] == nil {
				holders[seq] = map[string]bool{}
			}
			if strings.HasPrefix(answer, "held") {
				holders[seq][f[1]] = true
			}
		}
	}
	if len(holders) == 0 {
		t.Errorf("no replica asked for a probe lease:\n%s", got)
	}
	for seq, replicas := range holders {
		if len(replicas) != 1 {
			t.Errorf("half-open seq %s: replicas %v hold its lease, want exactly 1:\n%s", seq, replicas, got)
		}
	}
	if !strings.Contains(got, "replayed: ") || !strings.Contains(got, "the breaker is closed\n") {
		t.Errorf("no replayed trail ending closed:\n%s", got)
	}
}
