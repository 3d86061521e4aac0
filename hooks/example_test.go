package hooks_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
)

func ExampleSlog() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // drop the time, for stable output
			}
			return a
		},
	}))
	s := hooks.Slog(logger)

	ctx := context.Background()
	s.Notify(ctx, events.Transition{
		Breaker: "payments", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open,
		OpenFor: 30 * time.Second,
		Reason: events.Reason{
			Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5,
			LastError: "connection refused",
		},
	})
	s.Notify(ctx, events.Transition{
		Breaker: "payments", Seq: 2, Event: events.ForceClose, From: events.Open, To: events.Closed,
		Reason: events.Reason{Policy: events.PolicyManual, Operator: "alice", Note: "upstream fixed"},
	})
	// Output:
	// level=WARN msg="circuit breaker transition" breaker=payments seq=1 event=trip from=closed to=open open_for=30s reason.policy=consecutive_failures reason.failures=5 reason.threshold=5 reason.last_error="connection refused"
	// level=INFO msg="circuit breaker transition" breaker=payments seq=2 event=force_close from=open to=closed reason.policy=manual reason.operator=alice reason.note="upstream fixed"
}

func ExampleNewAlerter() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktest.New(start) // a real service leaves out WithAlertClock
	alerter, err := hooks.NewAlerter(
		func(ctx context.Context, a hooks.Alert) {
			fmt.Printf("+%s %s: %s (opens %d, open since +%s)\n",
				clock.Now().Sub(start), a.Breaker, a.Kind, a.Opens, a.OpenSince.Sub(start))
		},
		hooks.WithFlapping(2, 10*time.Minute), // a third opening within 10 minutes
		hooks.WithStuckOpen(5*time.Minute),    // open for 5 minutes
		hooks.WithAlertClock(clock),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer alerter.Close()

	ctx := context.Background()
	notify := func(seq uint64, e events.Event, from, to events.State) {
		alerter.Notify(ctx, events.Transition{Breaker: "payments", Seq: seq, Event: e, From: from, To: to})
	}
	// Opens three times within ten minutes: flapping.
	notify(1, events.Trip, events.Closed, events.Open)
	clock.Advance(time.Minute)
	notify(2, events.Probe, events.Open, events.HalfOpen)
	notify(3, events.Retrip, events.HalfOpen, events.Open)
	clock.Advance(time.Minute)
	notify(4, events.Probe, events.Open, events.HalfOpen)
	notify(5, events.Retrip, events.HalfOpen, events.Open)
	// Then stays open: stuck open five minutes after the last open.
	clock.Advance(time.Hour)

	_, err = hooks.NewAlerter(func(context.Context, hooks.Alert) {}, hooks.WithFlapping(3, 0))
	fmt.Println(err)
	// Output:
	// +2m0s payments: flapping (opens 3, open since +2m0s)
	// +7m0s payments: stuck_open (opens 0, open since +2m0s)
	// circuitry: hooks.WithFlapping(3, 0s): window must be positive
}
