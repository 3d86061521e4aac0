package machine_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// TestRecoveryInASynctestBubble is how a user tests code around a breaker
// with the default clock and no real waiting: inside synctest.Test, time is
// fake and moves on at once whenever every goroutine of the bubble is
// blocked, so time.Sleep(30 * time.Second) returns as soon as the breaker's
// own timers have run. A breaker made inside the bubble arms its timers
// there; nothing needs WithClock.
func TestRecoveryInASynctestBubble(t *testing.T) {
	begun := time.Now()
	synctest.Test(t, func(t *testing.T) {
		b, err := machine.New("payments") // 5 failures trip, 30 s open, 2 probes close
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		down := errors.New("503 Service Unavailable")
		for range machine.DefaultFailureThreshold {
			_ = b.Do(ctx, func(context.Context) error { return down })
		}
		if got := b.State(); got != events.Open {
			t.Fatalf("after 5 failures: %s, want open", got)
		}

		time.Sleep(machine.DefaultRecoveryTimeout - time.Second)
		err = b.Do(ctx, func(context.Context) error { return nil })
		var open *machine.OpenError
		if !errors.As(err, &open) || open.RetryAfter() != time.Second {
			t.Fatalf("29 s after the trip: %v, want a rejection with 1s to wait", err)
		}

		time.Sleep(time.Second)
		synctest.Wait() // the open-period timer has run: the next call probes
		for i := range machine.DefaultSuccessThreshold {
			if err := b.Do(ctx, func(context.Context) error { return nil }); err != nil {
				t.Fatalf("probe %d: %v", i+1, err)
			}
		}
		if got := b.State(); got != events.Closed {
			t.Fatalf("after two probes: %s, want closed", got)
		}
	})
	// The 30 seconds were fake: the test took a moment of real time.
	if d := time.Since(begun); d > 10*time.Second {
		t.Fatalf("the bubble took %s of real time", d)
	}
}
