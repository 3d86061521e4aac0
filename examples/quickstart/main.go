// Command quickstart shows a circuit breaker protecting an HTTP client from a
// flaky dependency, end to end, in a few seconds.
//
// It starts a real HTTP server on 127.0.0.1 that answers "503 Service
// Unavailable" for a while and then heals, and calls it through a
// [machine.Breaker] at a steady rate. Along the way you see the breaker trip,
// reject calls (the client serves a fallback instead), probe, re-trip while
// the outage lasts and recover once it is over. An operator then opens the
// breaker by hand for a maintenance window and closes it again.
//
// Each line of the call table shows the breaker's state after the call
// returned, and marks the calls admitted as probes. Every transition is
// logged through [hooks.Slog], with its time in the table's format, right
// after the call that caused it (the program flushes the queued subscribers
// after each transition); a flapping alert from [hooks.NewAlerter] is printed
// if the breaker opens too often. At the end the
// program prints the audit journal as a table, rebuilds the breaker's state
// from it with [events.Replay] and checks that it equals the breaker's own
// [machine.Breaker.Snapshot] (exiting with status 1 if not), and prints the
// state machine as a Mermaid diagram.
//
// Usage:
//
//	go run ./examples/quickstart [-outage 1.5s] [-recovery 500ms] [-interval 50ms] [-calls 60]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/internal/flaky"
	"github.com/circuitry-go/circuitry/machine"
)

// healthyLead is how long the dependency works before its outage starts.
const healthyLead = 200 * time.Millisecond

func main() {
	outage := flag.Duration("outage", 1500*time.Millisecond, "how long the dependency answers 503")
	recovery := flag.Duration("recovery", 500*time.Millisecond, "the breaker's recovery timeout (open period)")
	interval := flag.Duration("interval", 50*time.Millisecond, "time between two calls")
	calls := flag.Int("calls", 60, "number of calls to make (more are made if the breaker has not recovered by then)")
	flag.Parse()
	if err := run(os.Stdout, *outage, *recovery, *interval, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run plays the story, writing it to w.
func run(w io.Writer, outage, recovery, interval time.Duration, calls int) error {
	if outage <= 0 || recovery <= 0 || interval <= 0 || calls <= 0 {
		return fmt.Errorf("-outage, -recovery, -interval and -calls must be positive")
	}
	ctx := context.Background()
	start := time.Now()
	offset := func(t time.Time) string { return fmt.Sprintf("+%.2fs", t.Sub(start).Seconds()) }
	since := func() string { return offset(time.Now()) }

	// 1. The flaky dependency: a real HTTP server on an ephemeral port.
	dep, err := flaky.Start(start.Add(healthyLead), start.Add(healthyLead+outage))
	if err != nil {
		return err
	}
	defer func() {
		if err := dep.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "dependency:", err)
		}
	}()
	fmt.Fprintf(w, "dependency listening on %s: healthy, then 503 for %s from %s, then healthy again\n\n",
		dep.URL, outage, "+"+healthyLead.String())

	// 2. The breaker, its journal and its subscribers. The queued
	// subscribers (the logger, the alerter) run on their own goroutine, so
	// they write to a buffer that flush prints after the line of the call
	// that caused the transition. The log shows each transition's time as
	// the call table does, from the start of the run.
	logged := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logged, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.String(slog.TimeKey, offset(a.Value.Time()))
			}
			return a
		},
	}))
	alerter, err := hooks.NewAlerter(
		func(_ context.Context, a hooks.Alert) {
			fmt.Fprintf(logged, "%s ALERT %s: breaker %q opened %d times within %s\n", since(), a.Kind, a.Breaker, a.Opens, a.Window)
		},
		hooks.WithFlapping(2, time.Minute), // a third opening within a minute is flapping
	)
	if err != nil {
		return err
	}
	defer alerter.Close()

	journal, err := events.NewMemory(events.DefaultMemoryCapacity)
	if err != nil {
		return err
	}
	b, err := machine.New("quotes",
		machine.WithFailureThreshold(5),
		machine.WithRecoveryTimeout(recovery),
		machine.WithSuccessThreshold(2),
		machine.WithJournal(journal),
		machine.WithSubscribers(hooks.Slog(logger), alerter),
		machine.WithErrorHandler(func(err error) { fmt.Fprintln(os.Stderr, "breaker error:", err) }),
	)
	if err != nil {
		return err
	}

	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	// flush lets the queued subscribers catch up and prints what they
	// wrote, so that a transition's log line comes right after the line of
	// the call (or the operator's action) that caused it.
	flush := func() error {
		flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := b.Flush(flushCtx); err != nil {
			return fmt.Errorf("flushing subscribers: %w", err)
		}
		_, err := logged.WriteTo(w)
		return err
	}
	// call makes one call through the breaker and prints its line: when it
	// started, the breaker's state once it returned, and how it went. A call
	// the breaker admits in half-open is a probe: the function sees the
	// breaker half-open while it runs.
	call := func(label string) error {
		at, seq := since(), b.Snapshot().Seq
		probe := false
		body, err := machine.Execute(ctx, b, func(ctx context.Context) (string, error) {
			probe = b.State() == events.HalfOpen
			return flaky.Get(ctx, client, dep.URL)
		})
		var open *machine.OpenError
		var result string
		switch {
		case err == nil:
			result = "ok        " + body
		case errors.As(err, &open): // errors.Is(err, machine.ErrOpen) also matches
			result = fmt.Sprintf("rejected  (%s, retry after %s) -> fallback %s",
				open.State, open.RetryAfter().Round(time.Millisecond), fallbackQuote)
		default:
			result = "failed    " + err.Error() + " -> fallback " + fallbackQuote
		}
		kind := "call"
		if probe {
			kind = "probe"
		}
		fmt.Fprintf(w, "%-6s  %-2s  %-5s  %-11s  %s\n", at, label, kind, b.State(), result)
		if b.Snapshot().Seq != seq {
			return flush()
		}
		return nil
	}

	// 3. Call the dependency at a steady rate through the outage. If the
	// scripted calls end before the breaker has recovered (on a slow
	// machine, say), keep calling until it has, within a bound.
	tick := time.NewTicker(interval)
	defer tick.Stop()
	limit := time.Now().Add(healthyLead + outage + 10*recovery + time.Duration(calls)*interval)
	fmt.Fprintln(w, "STATE AFTER is the breaker's state once the call returned; a probe is a call")
	fmt.Fprintln(w, "admitted in half_open to test whether the dependency has recovered.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-6s  %-2s  %-5s  %-11s  %s\n", "TIME", "#", "KIND", "STATE AFTER", "RESULT")
	for i := 1; i <= calls || (b.State() != events.Closed && time.Now().Before(limit)); i++ {
		if i == calls+1 {
			fmt.Fprintf(w, "%s breaker still %s after %d calls: calling on until it recovers\n", since(), b.State(), calls)
		}
		if err := call(fmt.Sprintf("%02d", i)); err != nil {
			return err
		}
		<-tick.C
	}
	if b.State() != events.Closed {
		return fmt.Errorf("breaker did not recover (state %s): try a longer -calls or a shorter -outage", b.State())
	}

	// 4. Manual control: an operator opens the breaker for a maintenance
	// window, and closes it when the window is over.
	fmt.Fprintln(w)
	op := machine.Override{Operator: "ops@example.com", Note: "maintenance window: database failover"}
	fmt.Fprintf(w, "%s an operator opens the breaker by hand\n", since())
	if err := b.ForceOpen(ctx, op); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if err := call("--"); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s the operator closes it again\n", since())
	if err := b.ForceClose(ctx, machine.Override{Operator: "ops@example.com", Note: "maintenance window over"}); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if err := call("--"); err != nil {
		return err
	}

	if err := flush(); err != nil { // an alert may still be on its way
		return err
	}
	c := b.Counts()
	fmt.Fprintf(w, "\ncalls: %d succeeded, %d failed, %d rejected (served the fallback), %d ignored; the server saw %d requests\n",
		c.Successes, c.Failures, c.Rejected, c.Ignored, dep.Requests())

	// 6. The audit journal, and the state rebuilt from it.
	history, err := journal.Read(ctx, b.Name(), 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\naudit journal of breaker %q (%d records):\n\n", b.Name(), len(history))
	printJournal(w, history, start)

	replayed, err := events.Replay(b.Name(), history)
	if err != nil {
		return fmt.Errorf("replaying the journal: %w", err)
	}
	live := b.Snapshot()
	fmt.Fprintf(w, "\nreplayed: seq %d, %s since %s (last event %s)\n", replayed.Seq, replayed.State, replayed.Since.Format(time.TimeOnly+".000"), replayed.Event)
	if !sameSnapshot(replayed, live) {
		return fmt.Errorf("replay of the journal %+v differs from the breaker's snapshot %+v", replayed, live)
	}
	fmt.Fprintln(w, "replay of the journal equals b.Snapshot(): true")

	fmt.Fprintln(w, "\nstate machine (Mermaid):")
	fmt.Fprintln(w, b.Diagram())
	return nil
}

// fallbackQuote is what the client serves when it cannot ask the dependency.
const fallbackQuote = "quote=100.00 (cached)"

// syncBuffer is a buffer that the subscribers' goroutine writes to and the
// main goroutine empties.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// WriteTo moves what the buffer holds to w.
func (b *syncBuffer) WriteTo(w io.Writer) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.WriteTo(w)
}

// printJournal writes the records as an aligned table.
func printJournal(w io.Writer, history []events.Transition, start time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME (UTC)\t\tEVENT\tFROM\tTO\tOPEN FOR\tOPERATOR / NOTE\tREASON")
	for _, t := range history {
		openFor := ""
		if t.OpenFor > 0 {
			openFor = t.OpenFor.String()
		}
		who := "-"
		if t.Reason.Operator != "" || t.Reason.Note != "" {
			who = t.Reason.Operator + ": " + t.Reason.Note
		}
		fmt.Fprintf(tw, "%d\t%s\t+%.3fs\t%s\t%s\t%s\t%s\t%s\t%s\n",
			t.Seq, t.Time.Format(time.TimeOnly+".000"), t.Time.Sub(start).Seconds(),
			t.Event, t.From, t.To, openFor, who, reason(t.Reason))
	}
	tw.Flush()
}

// reason formats the policy, its figures and the last error of a record.
func reason(r events.Reason) string {
	parts := []string{r.Policy}
	for _, f := range []struct {
		name string
		n    uint64
	}{{"failures", r.Failures}, {"successes", r.Successes}, {"threshold", r.Threshold}} {
		if f.n != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", f.name, f.n))
		}
	}
	if r.LastError != "" {
		parts = append(parts, fmt.Sprintf("last_error=%q", r.LastError))
	}
	return strings.Join(parts, " ")
}

// sameSnapshot compares two snapshots, times by instant.
func sameSnapshot(a, b events.Snapshot) bool {
	return a.Breaker == b.Breaker && a.Seq == b.Seq && a.State == b.State &&
		a.Event == b.Event && a.Since.Equal(b.Since) && a.OpenFor == b.OpenFor
}
