// Command http shows a client service with a breaker per upstream host.
//
// It starts two upstreams on 127.0.0.1: inventory, which is healthy, and
// pricing, which answers its first three requests with "503 Service
// Unavailable", the next with "429 Too Many Requests" and "Retry-After: 1",
// and every later one with "200 OK". The client sends a request to each
// every 50ms through one http.Client whose transport
// ([httpbreaker.NewTransport]) takes each host's breaker from a registry
// ([registry.Registry]): pricing's breaker trips on the third 503 and
// rejects its requests without sending them, probes after its open period,
// re-opens for the one second the 429 asked for, and recovers; inventory's
// breaker never moves. At the end it prints each host's audit trail from
// the journal the registry's breakers share.
//
// Usage:
//
//	go run ./examples/http [-run 3s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/httpbreaker"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

func main() {
	run := flag.Duration("run", 3*time.Second, "how long the client sends requests")
	flag.Parse()
	if err := story(context.Background(), os.Stdout, *run); err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
}

// serve starts h on a loopback port and returns its URL and a stop
// function.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// pricing answers by the number of requests it has had.
func pricing() http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch k := n.Add(1); {
		case k <= 3:
			http.Error(w, "pricing database down", http.StatusServiceUnavailable)
		case k == 4:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			fmt.Fprintln(w, `{"eur": 9.99}`)
		}
	})
}

func story(ctx context.Context, out io.Writer, run time.Duration) error {
	inventoryURL, stopInventory, err := serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, `{"in_stock": 12}`)
	}))
	if err != nil {
		return err
	}
	defer stopInventory()
	pricingURL, stopPricing, err := serve(pricing())
	if err != nil {
		return err
	}
	defer stopPricing()
	fmt.Fprintf(out, "inventory %s: healthy\npricing   %s: 503, 503, 503, then 429 with Retry-After: 1, then 200\n\n", inventoryURL, pricingURL)

	journal, err := events.NewMemory(events.DefaultMemoryCapacity)
	if err != nil {
		return err
	}
	start := time.Now()
	reg, err := registry.New(registry.WithBreakerOptions(
		machine.WithJournal(journal),
		machine.WithFailureThreshold(3),
		machine.WithRecoveryTimeout(300*time.Millisecond),
		machine.WithSubscribers(hooks.Inline(hooks.Func(func(_ context.Context, t events.Transition) {
			fmt.Fprintf(out, "+%.1fs %s: %s → %s (%s)\n", time.Since(start).Seconds(), t.Breaker, t.From, t.To, t.Reason.Policy)
		}))),
	))
	if err != nil {
		return err
	}
	defer reg.Close(ctx)
	transport, err := httpbreaker.NewTransport(nil, reg.Get)
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}

	counts := map[string]*[3]int{inventoryURL: {}, pricingURL: {}} // ok, failed, rejected
	for deadline := start.Add(run); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, url := range []string{inventoryURL, pricingURL} {
			c := counts[url]
			resp, err := client.Get(url)
			switch {
			case errors.Is(err, machine.ErrOpen):
				c[2]++ // never sent: the breaker of the host is open
			case err != nil:
				return err
			default:
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					c[0]++
				} else {
					c[1]++
				}
			}
		}
	}
	fmt.Fprintln(out)
	for _, url := range []string{inventoryURL, pricingURL} {
		c := counts[url]
		fmt.Fprintf(out, "%s: %d ok, %d failed, %d rejected without being sent\n", url, c[0], c[1], c[2])
	}
	return printTrails(ctx, out, reg, journal)
}

// printTrails prints each host's breaker's records.
func printTrails(ctx context.Context, out io.Writer, reg *registry.Registry, journal *events.Memory) error {
	keys := reg.Keys()
	slices.Sort(keys)
	for _, key := range keys {
		b, ok := reg.Lookup(key)
		if ok {
			if err := b.Sync(ctx); err != nil {
				return err
			}
		}
		recs, err := journal.Read(ctx, key, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\nthe audit trail of %s: %d records\n", key, len(recs))
		if len(recs) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "seq\tevent\tfrom → to\topen for\treason")
		for _, r := range recs {
			open := ""
			if r.OpenFor > 0 {
				open = r.OpenFor.String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s → %s\t%s\t%s\n", r.Seq, r.Event, r.From, r.To, open, reason(r.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func reason(r events.Reason) string {
	s := r.Policy
	if r.RetryAfter > 0 {
		s += fmt.Sprintf(", the server asked %s", r.RetryAfter)
	}
	if r.LastError != "" {
		s += ", last: " + r.LastError
	}
	return s
}
