// Command audit shows the durable file journal: a breaker whose state
// survives a crash of its process, and the audit trail it leaves.
//
// With -phase all (the default) it plays a service that crashes in the
// middle of an outage. It starts a copy of itself (-phase trip) as the
// service: that process opens the journal file, calls a failing payments
// API through the breaker "payments" until the breaker opens, and keeps
// running until it is killed with SIGKILL, as a crash would kill it: it
// never closes its journal. The program then restarts the service
// (-phase resume, in its own process) over the same journal: the breaker
// resumes open, rejects calls for the rest of its recovery timeout
// (measured from the recorded open time, not from the restart), and then
// probes the payments API, which has healed, and recovers. The sequence
// numbers carry on across the restart. Finally it prints the audit trail
// and the commands that query it.
//
// The service process dies with the program: on Linux the kernel kills it
// when its parent dies (Pdeathsig), and everywhere it stops when its
// standard input, a pipe from the program, reaches end of file. So a
// program killed early (go run ./examples/audit | head -3 kills it with
// SIGPIPE) leaves no service behind holding the journal's lock.
//
// Usage:
//
//	go run ./examples/audit [-journal FILE] [-recovery 3s] [-pause] [-phase all|trip|resume]
//
// Each run starts with a new journal, journal.jsonl in a new temporary
// directory, which it leaves for you to query; -journal names a file
// instead (a run over a journal that holds records carries on from them).
// -pause waits for Enter before the crash, so that you can look at the
// live service's journal meanwhile. The phases trip and resume need
// -journal. Query the journal with:
//
//	go run ./cmd/circuitry verify FILE
//	go run ./cmd/circuitry history FILE
//	go run ./cmd/circuitry state FILE
//
// Lines that start with a key=value word (tripped, resumed, transition,
// recovered) are for the program's tests; the others are for people.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// breakerName is the breaker the service protects its payments calls with.
const breakerName = "payments"

// errUnavailable is the payments API's answer during the outage.
var errUnavailable = errors.New("payments API: 503 Service Unavailable")

func main() {
	journal := flag.String("journal", "", "the journal `file` (default: a new one in a new temporary directory)")
	recovery := flag.Duration("recovery", 3*time.Second, "the breaker's recovery timeout (open period)")
	phase := flag.String("phase", "all", "all: the whole story; trip: the service that trips and waits to be killed; resume: the restarted service")
	pause := flag.Bool("pause", false, "wait for Enter before crashing the service (-phase all)")
	stdinEOF := flag.Bool("exit-on-stdin-eof", false, "stop when standard input reaches end of file (-phase trip; set by -phase all, so that the service dies with it)")
	flag.Parse()
	if flag.NArg() != 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	if *recovery <= 0 {
		fail(fmt.Errorf("-recovery %s must be positive", *recovery))
	}
	var err error
	switch *phase {
	case "all":
		err = all(*journal, *recovery, *pause)
	case "trip", "resume":
		if *journal == "" {
			err = fmt.Errorf("-phase %s needs -journal", *phase)
		} else if *phase == "trip" {
			err = trip(*journal, *recovery, *stdinEOF)
		} else {
			err = resume(*journal, *recovery)
		}
	default:
		err = fmt.Errorf("-phase %q: want all, trip or resume", *phase)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "audit:", err)
	os.Exit(1)
}

// service is what both phases share: the journal and the breaker over it.
type service struct {
	journal *filejournal.File
	breaker *machine.Breaker
}

// open opens the journal and builds the breaker over it; the breaker
// resumes from what the journal holds.
func open(path string, recovery time.Duration) (*service, error) {
	report := func(err error) { fmt.Fprintln(os.Stderr, "journal warning:", err) }
	j, err := filejournal.Open(path, filejournal.WithWarningHandler(report))
	if err != nil {
		return nil, err
	}
	b, err := machine.New(breakerName,
		machine.WithFailureThreshold(5),
		machine.WithRecoveryTimeout(recovery),
		machine.WithSuccessThreshold(2),
		machine.WithJournal(j),
		machine.WithSubscribers(hooks.Inline(hooks.Func(func(_ context.Context, t events.Transition) {
			fmt.Printf("transition breaker=%s seq=%d event=%s from=%s to=%s at=%s\n",
				t.Breaker, t.Seq, t.Event, t.From, t.To, t.Time.Format(time.RFC3339Nano))
		}))),
		machine.WithErrorHandler(func(err error) { fmt.Fprintln(os.Stderr, "breaker error:", err) }),
	)
	if err != nil {
		j.Close()
		return nil, err
	}
	s := b.Snapshot()
	fmt.Printf("pid %d opened %s: breaker %q is %s at seq %d\n", os.Getpid(), path, breakerName, s.State, s.Seq)
	return &service{journal: j, breaker: b}, nil
}

// trip is the service before the crash: it calls the failing payments API
// until the breaker opens, then serves until it is killed. SIGINT or
// SIGTERM stop it cleanly instead, and so does the end of its standard
// input when stdinEOF is set.
func trip(path string, recovery time.Duration, stdinEOF bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if stdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin) // returns when the parent is gone
			stop()
		}()
	}
	svc, err := open(path, recovery)
	if err != nil {
		return err
	}
	for i := 1; svc.breaker.State() != events.Open; i++ {
		err := svc.breaker.Do(ctx, func(context.Context) error { return errUnavailable })
		fmt.Printf("call %d: %v\n", i, err)
	}
	// The journal writer stores the trip on a goroutine of its own: wait
	// for it before saying the service may be killed.
	if err := svc.breaker.Sync(ctx); err != nil {
		return err
	}
	s := svc.breaker.Snapshot()
	fmt.Printf("tripped breaker=%s seq=%d at=%s open_for=%s\n", s.Breaker, s.Seq, s.Since.Format(time.RFC3339Nano), s.OpenFor)
	fmt.Printf("serving with the breaker open; kill -9 %d to crash\n", os.Getpid())
	<-ctx.Done()
	fmt.Println("stopping cleanly")
	if err := svc.breaker.Close(context.Background()); err != nil {
		return err
	}
	return svc.journal.Close()
}

// resume is the restarted service: the breaker resumes open, rejects calls
// for the rest of the open period, then probes the healed payments API and
// recovers.
func resume(path string, recovery time.Duration) error {
	svc, err := open(path, recovery)
	if err != nil {
		return err
	}
	defer svc.journal.Close()
	b := svc.breaker
	ctx := context.Background()
	healthy := func(context.Context) error { return nil }
	first := b.Snapshot().Seq

	now := time.Now()
	err = b.Do(ctx, healthy)
	var open *machine.OpenError
	if errors.As(err, &open) {
		fmt.Printf("resumed breaker=%s state=%s seq=%d now=%s retry_after=%s\n", breakerName, open.State, b.Snapshot().Seq, now.Format(time.RFC3339Nano), open.RetryAfter())
		fmt.Printf("the breaker is still open after the restart: the payments API is not called for another %s\n", open.RetryAfter().Round(time.Millisecond))
	} else {
		fmt.Printf("resumed breaker=%s state=%s seq=%d now=%s retry_after=0s\n", breakerName, b.State(), b.Snapshot().Seq, now.Format(time.RFC3339Nano))
	}

	// Call the (healed) payments API every 50ms until the breaker closes.
	deadline := time.Now().Add(3*recovery + 10*time.Second)
	for b.State() != events.Closed {
		if time.Now().After(deadline) {
			return fmt.Errorf("the breaker did not recover by %s (state %s)", deadline.Format(time.TimeOnly), b.State())
		}
		time.Sleep(50 * time.Millisecond)
		b.Do(ctx, healthy)
	}
	if open != nil {
		fmt.Printf("recovered breaker=%s seq=%d\n", breakerName, b.Snapshot().Seq)
	}
	if err := b.Close(ctx); err != nil { // stores what the writer has not yet
		return err
	}

	recs, err := svc.journal.Read(ctx, breakerName, 0)
	if errors.Is(err, events.ErrCompacted) {
		base, _ := svc.journal.Snapshot(ctx, breakerName)
		recs, err = svc.journal.Read(ctx, breakerName, base.Seq)
	}
	if err != nil {
		return err
	}
	fmt.Printf("\naudit trail of %q (records after seq %d were written by this process):\n\n", breakerName, first)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME (UTC)\tEVENT\tFROM\tTO\tREASON")
	for _, r := range recs {
		reason := r.Reason.Policy
		if r.Reason.LastError != "" {
			reason += fmt.Sprintf(" (last error %q)", r.Reason.LastError)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Format("15:04:05.000"), r.Event, r.From, r.To, reason)
	}
	tw.Flush()
	return nil
}

// all runs the service as a child process, kills it with SIGKILL once its
// breaker is open (after Enter, with pause), and resumes over the same
// journal: path, or a new one when path is empty.
func all(path string, recovery time.Duration, pause bool) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if path == "" {
		dir, err := os.MkdirTemp("", "circuitry-audit-")
		if err != nil {
			return err
		}
		path = filepath.Join(dir, "journal.jsonl")
	}
	child := exec.Command(exe, "-phase", "trip", "-journal", path, "-recovery", recovery.String(), "-exit-on-stdin-eof")
	child.Stderr = os.Stderr
	child.SysProcAttr = dieWithParent()
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	// The child reads this pipe until end of file, which comes when this
	// process closes it or dies. Nothing is written to it.
	in, err := child.StdinPipe()
	if err != nil {
		return err
	}
	defer in.Close()
	fmt.Printf("== starting the service (%s -phase trip) over %s\n", filepath.Base(exe), path)
	// Linux sends the parent-death signal when the thread that started the
	// child exits: keep this goroutine on its thread for good.
	runtime.LockOSThread()
	if err := child.Start(); err != nil {
		return err
	}
	tripped := false
	lines := bufio.NewScanner(out)
	for !tripped && lines.Scan() {
		line := lines.Text()
		fmt.Printf("   [service %d] %s\n", child.Process.Pid, line)
		tripped = len(line) > 8 && line[:8] == "tripped "
	}
	if !tripped {
		child.Wait()
		return errors.New("the service ended before its breaker opened")
	}
	if pause {
		fmt.Printf("== the service (pid %d) is running with its breaker open; look at %s, then press Enter to crash it\n", child.Process.Pid, path)
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	}
	fmt.Printf("== crash: killing the service with SIGKILL (it cannot close its journal)\n")
	if err := child.Process.Kill(); err != nil {
		return err
	}
	child.Wait()

	fmt.Printf("== restarting the service over the same journal\n")
	if err := resume(path, recovery); err != nil {
		return err
	}
	fmt.Printf("\nthe journal is %s; query it with:\n\n", path)
	for _, c := range []string{"verify", "history", "state"} {
		fmt.Printf("  go run ./cmd/circuitry %s %s\n", c, path)
	}
	return nil
}
