// Command fleet shows three replicas of a service sharing one circuit
// breaker through NATS JetStream.
//
// It starts a nats-server with JetStream in its own process (storage in a
// temporary directory) and a flaky HTTP upstream on 127.0.0.1 that answers
// "503 Service Unavailable" for a while and then heals. Then it starts
// three replicas, each a separate process (this program again, with
// -replica), each with its own writer identity, connection and
// [natsjournal.Journal], calling the upstream through a breaker named
// "upstream" that follows the stream. Replica 0 calls most often, so it
// usually trips first: the others open without a failure of their own (their
// lines say "adopted", with the replica that wrote the record). The
// upstream heals and the fleet recovers on the probes of one replica: the
// one holding the probe lease on the half-open period
// ([natsjournal.ProbeLeases]), which each replica asks for once, when it
// enters half-open, and prints the answer of. At the end
// the program prints the merged audit trail read back from the stream,
// every record with its writer, and checks that it replays.
//
// Usage, from the natsjournal module:
//
//	go run ./examples/fleet [-outage 1s] [-run 3s]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

const breakerName = "upstream"

func main() {
	replica := flag.Int("replica", -1, "run as replica `n` (the program starts its replicas itself)")
	natsURL := flag.String("nats", "", "the nats-server of a replica")
	upstream := flag.String("upstream", "", "the upstream URL of a replica")
	outage := flag.Duration("outage", time.Second, "how long the upstream answers 503, after a healthy start of 300ms")
	run := flag.Duration("run", 3*time.Second, "how long each replica calls the upstream")
	flag.Parse()
	var err error
	if *replica >= 0 {
		err = runReplica(context.Background(), os.Stdout, *replica, *natsURL, *upstream, *run)
	} else {
		err = runFleet(context.Background(), os.Stdout, *outage, *run, spawn)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

// spawn starts replica n as a separate process: this program again.
func spawn(ctx context.Context, out io.Writer, n int, natsURL, upstream string, run time.Duration) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	cmd := exec.CommandContext(ctx, self, fmt.Sprintf("-replica=%d", n), "-nats="+natsURL, "-upstream="+upstream, "-run="+run.String())
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	return cmd
}

// runFleet starts the server, the upstream and three replicas made by
// start, waits for them, and prints the stream's audit trail.
func runFleet(ctx context.Context, out io.Writer, outage, run time.Duration,
	start func(ctx context.Context, out io.Writer, n int, natsURL, upstream string, run time.Duration) *exec.Cmd) error {
	dir, err := os.MkdirTemp("", "circuitry-fleet")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	srv.Start()
	defer srv.WaitForShutdown()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		return errors.New("nats-server did not become ready in 10s")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The script starts at the first request, so that slow starts of the
	// replicas do not eat into it.
	var first sync.Once
	var began time.Time
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		first.Do(func() { began = time.Now() })
		if d := time.Since(began); d > 300*time.Millisecond && d < 300*time.Millisecond+outage {
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})}
	go func() { _ = up.Serve(ln) }()
	defer up.Close()
	upstream := "http://" + ln.Addr().String()

	fmt.Fprintf(out, "nats-server %s, upstream %s: healthy, 503 from 300ms after the first request for %s, then healed\n\n", srv.ClientURL(), upstream, outage)
	var wg sync.WaitGroup
	var outMu sync.Mutex
	errs := make([]error, 3)
	for n := range 3 {
		cmd := start(ctx, &lineWriter{mu: &outMu, w: out}, n, srv.ClientURL(), upstream, run)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting replica %d: %w", n, err)
		}
		wg.Go(func() { errs[n] = cmd.Wait() })
	}
	wg.Wait()
	for n, err := range errs {
		if err != nil {
			return fmt.Errorf("replica %d: %w", n, err)
		}
	}
	return printTrail(ctx, out, srv.ClientURL())
}

// printTrail prints the breaker's history as the stream holds it, and
// checks that it replays.
func printTrail(ctx context.Context, out io.Writer, url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	j, err := natsjournal.New(ctx, nc)
	if err != nil {
		return err
	}
	defer j.Close()
	recs, err := j.Read(ctx, breakerName, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nthe audit trail of %q in stream %s (%s):\n", breakerName, j.Stream(), j.Subject(breakerName))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "seq\tevent\tfrom → to\twriter\treason")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s → %s\t%s\t%s\n", r.Seq, r.Event, r.From, r.To, r.Writer, reason(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fold, err := events.Replay(breakerName, recs)
	if err != nil {
		return fmt.Errorf("the trail does not replay: %w", err)
	}
	fmt.Fprintf(out, "replayed: %d records, the breaker is %s\n", fold.Seq, fold.State)
	return nil
}

func reason(r events.Transition) string {
	switch {
	case r.Reason.Operator != "":
		return r.Reason.Operator + ": " + r.Reason.Note
	case r.Reason.LastError != "":
		return fmt.Sprintf("%s, %d failures, last: %s", r.Reason.Policy, r.Reason.Failures, r.Reason.LastError)
	}
	return r.Reason.Policy
}

// runReplica is one replica: it calls the upstream through the shared
// breaker for run, printing every transition it makes or adopts.
func runReplica(ctx context.Context, out io.Writer, n int, natsURL, upstream string, run time.Duration) error {
	me := fmt.Sprintf("replica-%d", n)
	nc, err := nats.Connect(natsURL, nats.Name(me))
	if err != nil {
		return err
	}
	defer nc.Close()
	j, err := natsjournal.New(ctx, nc)
	if err != nil {
		return err
	}
	defer j.Close()
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(out, "+%.2fs %-9s  %s\n", time.Since(start).Seconds(), me, fmt.Sprintf(format, args...))
	}
	leases, err := natsjournal.NewProbeLeases(ctx, nc)
	if err != nil {
		return err
	}
	b, err := machine.New(breakerName, machine.WithJournal(j), machine.WithWriter(me),
		machine.WithFailureThreshold(3), machine.WithRecoveryTimeout(400*time.Millisecond),
		machine.WithFollow(100*time.Millisecond),
		// Only the replica holding the lease probes; a half-open period
		// whose holder is gone ends after a second.
		machine.WithProbeLease(sayLease{leases, say}), machine.WithHalfOpenTimeout(time.Second), machine.WithProbeOnTimer(),
		machine.WithSubscribers(hooks.Inline(hooks.Func(func(_ context.Context, t events.Transition) {
			how := "made"
			if t.Adopted {
				how = "adopted from " + t.Writer
			}
			say("seq %d %s: %s → %s (%s)", t.Seq, t.Event, t.From, t.To, how)
		}))))
	if err != nil {
		return err
	}
	defer b.Close(ctx)

	client := &http.Client{Timeout: time.Second}
	every := 250 * time.Millisecond // replica 0 calls most often, and trips first
	if n == 0 {
		every = 40 * time.Millisecond
	}
	var ok, failed, rejected int
	for deadline := start.Add(run); time.Now().Before(deadline); time.Sleep(every) {
		err := b.Do(ctx, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, upstream, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode >= 500 {
				return fmt.Errorf("upstream: %s", resp.Status)
			}
			return nil
		})
		switch {
		case err == nil:
			ok++
		case errors.Is(err, machine.ErrOpen):
			rejected++
		default:
			failed++
		}
	}
	if err := b.Sync(ctx); err != nil {
		return err
	}
	say("done: %d ok, %d failed, %d rejected; the breaker is %s", ok, failed, rejected, b.State())
	return nil
}

// sayLease prints the answer of the probe lease.
type sayLease struct {
	l   machine.ProbeLease
	say func(format string, args ...any)
}

func (s sayLease) Acquire(ctx context.Context, breaker string, seq uint64, writer string) (bool, error) {
	held, err := s.l.Acquire(ctx, breaker, seq, writer)
	switch {
	case err != nil:
		s.say("probe lease on half-open seq %d: %v", seq, err)
	case held:
		s.say("probe lease on half-open seq %d: held, this replica probes", seq)
	default:
		s.say("probe lease on half-open seq %d: another replica's", seq)
	}
	return held, err
}

// lineWriter passes on the output of one replica whole lines at a time,
// under a lock shared by every replica's, so that lines never interleave.
type lineWriter struct {
	mu  *sync.Mutex
	w   io.Writer
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	end := bytes.LastIndexByte(l.buf, '\n')
	if end < 0 {
		return len(p), nil
	}
	l.mu.Lock()
	_, err := l.w.Write(l.buf[:end+1])
	l.mu.Unlock()
	l.buf = append(l.buf[:0], l.buf[end+1:]...)
	return len(p), err
}
