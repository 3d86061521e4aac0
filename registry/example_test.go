package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

// A breaker per host: one host's outage opens its breaker only.
func Example() {
	ctx := context.Background()
	reg, err := registry.New(registry.WithBreakerOptions(machine.WithFailureThreshold(2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close(ctx)

	refused := errors.New("connection refused")
	for _, host := range []string{"a.example", "b.example", "a.example", "a.example", "b.example"} {
		err := reg.Do(ctx, host, func(ctx context.Context) error {
			if host == "a.example" {
				return refused // a.example is down
			}
			return nil
		})
		switch {
		case errors.Is(err, machine.ErrOpen):
			fmt.Println(host, "rejected: fall back")
		case err != nil:
			fmt.Println(host, "failed:", err)
		default:
			fmt.Println(host, "ok")
		}
	}
	keys := reg.Keys()
	slices.Sort(keys)
	for _, host := range keys {
		b, _ := reg.Lookup(host)
		fmt.Printf("%s is %s\n", b.Name(), b.State())
	}
	// Output:
	// a.example failed: connection refused
	// b.example ok
	// a.example failed: connection refused
	// a.example rejected: fall back
	// b.example ok
	// a.example is open
	// b.example is closed
}

// Idle breakers are evicted, but only quiet ones: the open breaker stays,
// and an evicted one made again resumes from the shared journal.
func ExampleWithIdleTimeout() {
	ctx := context.Background()
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	journal, err := events.NewMemory(64)
	if err != nil {
		fmt.Println(err)
		return
	}
	reg, err := registry.New(
		registry.WithClock(clk),
		registry.WithIdleTimeout(time.Minute),
		registry.WithBreakerOptions(
			machine.WithClock(clk),
			machine.WithJournal(journal),
			machine.WithFailureThreshold(1),
			machine.WithRecoveryTimeout(time.Hour),
		),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close(ctx)

	quiet, _ := reg.Get("quiet.example")
	op := machine.Override{Operator: "ops", Note: "a maintenance window, over"}
	_ = quiet.ForceOpen(ctx, op)
	_ = quiet.ForceClose(ctx, op)
	_ = reg.Do(ctx, "down.example", func(context.Context) error { return errors.New("timeout") })

	clk.Advance(2 * time.Minute) // two sweeps: unused for a whole round
	fmt.Println("held:", reg.Keys())

	again, _ := reg.Get("quiet.example")
	fmt.Println("made again:", again != quiet, "state", again.State(), "seq", again.Snapshot().Seq)
	// Output:
	// held: [down.example]
	// made again: true state closed seq 2
}
