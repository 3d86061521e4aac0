package machine_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// A breaker protects calls to a dependency: after five consecutive failures
// it opens and rejects calls without making them.
func ExampleNew() {
	b, err := machine.New("payments")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	unavailable := errors.New("503 Service Unavailable")
	for range 5 {
		err = b.Do(ctx, func(context.Context) error { return unavailable })
	}
	fmt.Println(err)
	fmt.Println(b.State())

	calls := 0
	err = b.Do(ctx, func(context.Context) error { calls++; return nil })
	fmt.Println(errors.Is(err, machine.ErrOpen), calls)
	// Output:
	// 503 Service Unavailable
	// open
	// true 0
}

// Execute is Do for a function that returns a value.
func ExampleExecute() {
	b, _ := machine.New("users")
	name, err := machine.Execute(context.Background(), b, func(context.Context) (string, error) {
		return "ada", nil
	})
	fmt.Println(name, err)
	// Output:
	// ada <nil>
}

// Allow and Done protect code that cannot be wrapped in a function.
func ExampleBreaker_Allow() {
	b, _ := machine.New("inventory", machine.WithFailureThreshold(1))
	ctx := context.Background()

	p, err := b.Allow(ctx)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	p.Done(errors.New("connection reset")) // the result of the call made by hand
	fmt.Println(b.State())

	_, err = b.Allow(ctx)
	fmt.Println(errors.Is(err, machine.ErrOpen))
	// Output:
	// open
	// true
}

// A rejected call's error says how long until the breaker tries again.
func ExampleOpenError() {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b, _ := machine.New("search",
		machine.WithClock(clk),
		machine.WithFailureThreshold(1),
		machine.WithRecoveryTimeout(30*time.Second),
	)
	ctx := context.Background()
	_ = b.Do(ctx, func(context.Context) error { return errors.New("timeout") })

	clk.Advance(10 * time.Second)
	err := b.Do(ctx, func(context.Context) error { return nil })
	var oe *machine.OpenError
	if errors.As(err, &oe) {
		fmt.Println(oe.Breaker, oe.State, oe.RetryAfter())
	}

	clk.Advance(20 * time.Second)
	err = b.Do(ctx, func(context.Context) error { return nil })
	fmt.Println(err, b.State())
	// Output:
	// search open 20s
	// <nil> half_open
}

// An operator opens a breaker by hand; the journal records who and why.
func ExampleBreaker_ForceOpen() {
	b, _ := machine.New("billing")
	ctx := context.Background()
	err := b.ForceOpen(ctx, machine.Override{
		Operator: "alice",
		Note:     "provider maintenance until 02:00",
		OpenFor:  time.Hour,
	})
	fmt.Println(err, b.State())

	snap := b.Snapshot()
	fmt.Println(snap.Seq, snap.Event, snap.OpenFor)

	err = b.ForceHalfOpen(ctx, machine.Override{Operator: "alice", Note: "maintenance over"})
	fmt.Println(err, b.State())
	// Output:
	// <nil> open
	// 1 force_open 1h0m0s
	// <nil> half_open
}

// Diagram renders the state machine as Mermaid, from the current state.
func ExampleBreaker_Diagram() {
	b, _ := machine.New("payments")
	fmt.Print(b.Diagram())
	// Output:
	// stateDiagram-v2
	//     [*] --> closed
	//     closed --> open: force_open
	//     closed --> open: trip
	//     half_open --> closed: force_close
	//     half_open --> open: force_open
	//     half_open --> closed: recover
	//     half_open --> open: retrip
	//     open --> closed: force_close
	//     open --> half_open: force_half_open
	//     open --> half_open: probe
}

// A failure-rate policy trips on half of the last ten calls failing, once
// there are four; the journal says why, with the figures.
func ExampleFailureRate() {
	b, _ := machine.New("search", machine.WithTripPolicy(
		machine.FailureRate(50, 4, machine.LastCalls(10)),
	))
	ctx := context.Background()
	timeout := errors.New("timeout")
	for _, fails := range []bool{false, true, false, true} {
		_ = b.Do(ctx, func(context.Context) error {
			if fails {
				return timeout
			}
			return nil
		})
	}
	fmt.Println(b.State())
	_ = b.Sync(ctx) // the journal writer has stored every transition
	recs, _ := b.Journal().Read(ctx, "search", 0)
	r := recs[0].Reason
	fmt.Printf("%s: %d of %d calls failed (%v%%, threshold %v%%)\n", r.Policy, r.Failures, r.Calls, r.Rate, r.RateThreshold)
	// Output:
	// open
	// failure_rate: 2 of 4 calls failed (50%, threshold 50%)
}

// With a backoff, each re-trip keeps the breaker open longer; recovering
// starts again from the base.
func ExampleWithBackoff() {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b, _ := machine.New("inventory",
		machine.WithClock(clk),
		machine.WithFailureThreshold(1),
		machine.WithBackoff(time.Second, 2, 5*time.Second),
	)
	ctx := context.Background()
	down := func(context.Context) error { return errors.New("connection refused") }
	_ = b.Do(ctx, down) // trips
	for range 3 {
		clk.Advance(b.Snapshot().OpenFor)
		_ = b.Do(ctx, down) // the probe fails: re-trips
	}
	_ = b.Sync(ctx) // the journal writer has stored every transition
	recs, _ := b.Journal().Read(ctx, "inventory", 0)
	for _, r := range recs {
		if r.To == events.Open {
			fmt.Print(r.OpenFor, " ")
		}
	}
	fmt.Println()
	// Output:
	// 1s 2s 4s 5s
}

// A breaker that only observes trips as it would, and records it, but lets
// every call through: a way to calibrate policies on live traffic.
func ExampleWithObserveOnly() {
	b, _ := machine.New("ledger", machine.WithObserveOnly(), machine.WithFailureThreshold(2))
	ctx := context.Background()
	for range 2 {
		_ = b.Do(ctx, func(context.Context) error { return errors.New("503") })
	}
	fmt.Println(b.State(), b.Mode())

	err := b.Do(ctx, func(context.Context) error { return nil }) // runs
	fmt.Println(err, b.Counts().WouldReject)

	_ = b.Sync(ctx) // the journal writer has stored every transition
	recs, _ := b.Journal().Read(ctx, "ledger", 0)
	fmt.Println(recs[0].Event, "observe_only:", recs[0].ObserveOnly)
	// Output:
	// open observe_only
	// <nil> 1
	// trip observe_only: true
}
