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
// Every transition is logged through [hooks.Slog]; a flapping alert from
// [hooks.NewAlerter] is printed if the breaker opens too often. At the end the
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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/examples/internal/flaky"
	"github.com/circuitry-go/circuitry/hooks"
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
	if err := run(*outage, *recovery, *interval, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(outage, recovery, interval time.Duration, calls int) error {
	if outage <= 0 || recovery <= 0 || interval <= 0 || calls <= 0 {
		return fmt.Errorf("-outage, -recovery, -interval and -calls must be positive")
	}
	ctx := context.Background()
	start := time.Now()
	since := func() string { return fmt.Sprintf("+%.2fs", time.Since(start).Seconds()) }

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
	fmt.Printf("dependency listening on %s: healthy, then 503 for %s from %s, then healthy again\n\n",
		dep.URL, outage, "+"+healthyLead.String())

	// 2. The breaker, its journal and its subscribers.
	logger := slog.New(slog.NewTextHandler(os.Stdout, nil))
	alerter, err := hooks.NewAlerter(hooks.AlertConfig{
		MaxOpens: 2, // a third opening within the window is flapping
		Window:   time.Minute,
		OnAlert: func(_ context.Context, a hooks.Alert) {
			fmt.Printf("%s ALERT %s: breaker %q opened %d times within %s\n", since(), a.Kind, a.Breaker, a.Opens, a.Window)
		},
	})
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
	quote := func(ctx context.Context) string {
		body, err := machine.Execute(ctx, b, func(ctx context.Context) (string, error) {
			return flaky.Get(ctx, client, dep.URL)
		})
		var open *machine.OpenError
		switch {
		case err == nil:
			return "ok        " + body
		case errors.As(err, &open): // errors.Is(err, machine.ErrOpen) also matches
			return fmt.Sprintf("rejected  (%s, retry after %s) -> fallback %s",
				open.State, open.RetryAfter().Round(time.Millisecond), fallbackQuote)
		default:
			return "failed    " + err.Error() + " -> fallback " + fallbackQuote
		}
	}

	// 3. Call the dependency at a steady rate through the outage; each line
	// shows the breaker's state after the call. If the scripted calls end
	// before the breaker has recovered (on a slow machine, say), keep
	// calling until it has, within a bound.
	tick := time.NewTicker(interval)
	defer tick.Stop()
	limit := time.Now().Add(healthyLead + outage + 10*recovery + time.Duration(calls)*interval)
	fmt.Printf("%-6s %-7s  %-9s  %s\n", "time", "call", "state", "result")
	for i := 1; i <= calls || (b.State() != events.Closed && time.Now().Before(limit)); i++ {
		if i == calls+1 {
			fmt.Printf("%s breaker still %s after %d calls: calling on until it recovers\n", since(), b.State(), calls)
		}
		at, result := since(), quote(ctx)
		fmt.Printf("%s call %02d  %-9s  %s\n", at, i, b.State(), result)
		<-tick.C
	}
	if b.State() != events.Closed {
		return fmt.Errorf("breaker did not recover (state %s): try a longer -calls or a shorter -outage", b.State())
	}

	// 4. Manual control: an operator opens the breaker for a maintenance
	// window, and closes it when the window is over.
	fmt.Println()
	op := machine.Override{Operator: "ops@example.com", Note: "maintenance window: database failover"}
	if err := b.ForceOpen(ctx, op); err != nil {
		return err
	}
	at, result := since(), quote(ctx)
	fmt.Printf("%s call --  %-9s  %s\n", at, b.State(), result)
	if err := b.ForceClose(ctx, machine.Override{Operator: "ops@example.com", Note: "maintenance window over"}); err != nil {
		return err
	}
	at, result = since(), quote(ctx)
	fmt.Printf("%s call --  %-9s  %s\n", at, b.State(), result)

	// 5. Let the queued subscribers (the logger, the alerter) catch up.
	flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Flush(flushCtx); err != nil {
		return fmt.Errorf("flushing subscribers: %w", err)
	}

	c := b.Counts()
	fmt.Printf("\ncalls: %d succeeded, %d failed, %d rejected (served the fallback), %d ignored; the server saw %d requests\n",
		c.Successes, c.Failures, c.Rejected, c.Ignored, dep.Requests())

	// 6. The audit journal, and the state rebuilt from it.
	history, err := journal.Read(ctx, b.Name(), 0)
	if err != nil {
		return err
	}
	fmt.Printf("\naudit journal of breaker %q (%d records):\n\n", b.Name(), len(history))
	printJournal(os.Stdout, history, start)

	replayed, err := events.Replay(b.Name(), history)
	if err != nil {
		return fmt.Errorf("replaying the journal: %w", err)
	}
	live := b.Snapshot()
	fmt.Printf("\nreplayed: seq %d, %s since %s (last event %s)\n", replayed.Seq, replayed.State, replayed.Since.Format(time.TimeOnly+".000"), replayed.Event)
	if !sameSnapshot(replayed, live) {
		return fmt.Errorf("replay of the journal %+v differs from the breaker's snapshot %+v", replayed, live)
	}
	fmt.Println("replay of the journal equals b.Snapshot(): true")

	fmt.Println("\nstate machine (Mermaid):")
	fmt.Println(b.Diagram())
	return nil
}

// fallbackQuote is what the client serves when it cannot ask the dependency.
const fallbackQuote = "quote=100.00 (cached)"

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
