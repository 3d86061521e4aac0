package machine_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// failingJournal fails every append, as a disk that stays full does.
type failingJournal struct{ events.Journal }

func (failingJournal) Append(context.Context, events.Transition) error { return errFull }

// TestDroppedBreakersAreCollected: breakers whose journal always fails used
// to stay reachable for ever from their append-retry timers (2,000 of them
// held 6.5 MB after GC). Timers hold a breaker weakly: a breaker its owner
// dropped is collected, and what it could not store is reported then.
func TestDroppedBreakersAreCollected(t *testing.T) {
	const n = 2000
	clk := clocktest.New(t0)
	j := failingJournal{newMemory(t)}
	var mu sync.Mutex
	collected := map[string]bool{}
	report := func(err error) {
		var ue *machine.UnstoredError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "garbage collected") {
			return // the JournalError of each failed append
		}
		mu.Lock()
		defer mu.Unlock()
		if ue.FirstSeq != 1 || ue.LastSeq != 1 || !errors.Is(err, errFull) {
			t.Errorf("collected breaker %s reported %v, want seq 1 unstored for %v", ue.Breaker, err, errFull)
		}
		collected[ue.Breaker] = true
	}
	func() {
		for i := range n {
			b, err := machine.New(fmt.Sprintf("b%d", i), machine.WithClock(clk), machine.WithJournal(j), machine.WithErrorHandler(report))
			if err != nil {
				t.Fatal(err)
			}
			// Made, and not stored: the manual control says so.
			if err := b.ForceOpen(context.Background(), operator); !errors.As(err, new(*machine.JournalError)) {
				t.Fatalf("ForceOpen with a failing journal = %v, want a JournalError", err)
			}
			machine.Settle(b) // the writer has armed its retry timer
		}
	}()
	if got := clk.Pending(); got != 2*n {
		t.Fatalf("%d timers pending, want an open timer and a retry timer per breaker", got)
	}
	// Cleanups run after a collection, on a goroutine of the runtime's:
	// collect until every breaker is reported, with a watchdog.
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		mu.Lock()
		got := len(collected)
		mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d dropped breakers collected", got, n)
		}
		runtime.Gosched()
	}
	clk.Advance(time.Hour) // the timers of collected breakers do nothing
}
