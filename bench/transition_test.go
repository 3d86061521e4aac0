package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// BenchmarkTransition measures one trip + probe + recover round (three
// transitions, each appended to the default in-memory journal) with n
// subscribers on the default (queued) lane, including their delivery: each
// round ends with Flush.
func BenchmarkTransition(b *testing.B) {
	for _, n := range []int{0, 1, 8} {
		b.Run(fmt.Sprintf("%d-subscribers", n), func(b *testing.B) {
			subs := make([]hooks.Subscriber, n)
			for i := range subs {
				subs[i] = hooks.Func(func(context.Context, events.Transition) {})
			}
			clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			br, err := machine.New("bench", machine.WithClock(clk), machine.WithSubscribers(subs...))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				for range failureThreshold {
					_ = br.Do(ctx, failCtx)
				}
				clk.Advance(openFor)
				for range successThreshold {
					_ = br.Do(ctx, okCtx)
				}
				if err := br.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if br.State() != events.Closed {
				b.Fatalf("state %s after a round, want closed", br.State())
			}
		})
	}
}

// BenchmarkIdleBreaker reports the heap one idle breaker holds, built with
// the defaults (its own in-memory journal included), as the heap difference
// over 10,000 breakers: the metric B/breaker.
func BenchmarkIdleBreaker(b *testing.B) {
	const n = 10000
	for b.Loop() {
		keep := make([]*machine.Breaker, n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range keep {
			br, err := machine.New(fmt.Sprintf("breaker-%05d", i))
			if err != nil {
				b.Fatal(err)
			}
			keep[i] = br
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/breaker")
		runtime.KeepAlive(keep)
	}
}
