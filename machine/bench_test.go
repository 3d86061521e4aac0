package machine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/machine"
)

var errBench = errors.New("dependency failed")

func newBenchBreaker(b *testing.B, opts ...machine.Option) *machine.Breaker {
	b.Helper()
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	br, err := machine.New("bench", append([]machine.Option{machine.WithClock(clk)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func succeed(context.Context) error { return nil }

func forceOpen(b *testing.B) func(*machine.Breaker) {
	return func(br *machine.Breaker) {
		if err := br.ForceOpen(context.Background(), machine.Override{Operator: "bench", Note: "open for the benchmark"}); err != nil {
			b.Fatal(err)
		}
	}
}
func fail(context.Context) error { return errBench }

// BenchmarkDo measures one call through Do in each state, on one goroutine
// and in parallel. Closed failures use a policy that never trips: a
// threshold too high to reach, or (closed-window-calls-failure) a custom
// policy that every failure evaluates and that always says no.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name  string
		opts  []machine.Option
		setup func(*machine.Breaker)
		fn    func(context.Context) error
	}{
		{name: "closed-success", fn: succeed},
		{name: "closed-failure", opts: []machine.Option{machine.WithFailureThreshold(1<<31 - 1)}, fn: fail},
		{name: "open-reject", setup: forceOpen(b), fn: succeed},
		// The policies, on the system clock where they read it: the fake
		// clock takes a mutex.
		{name: "closed-window-calls", opts: []machine.Option{
			machine.WithTripPolicy(machine.FailureRate(50, 100, machine.LastCalls(100))),
		}, fn: succeed},
		{name: "closed-window-calls-failure", opts: []machine.Option{
			machine.WithTripPolicy(machine.CustomPolicy("never", machine.LastCalls(100), func(c machine.WindowCounts) bool { return c.Failures > c.Calls })),
		}, fn: fail},
		{name: "closed-window-time", opts: []machine.Option{
			machine.WithClock(clock.System()),
			machine.WithTripPolicy(machine.FailureRate(50, 100, machine.LastDuration(10*time.Second, 10))),
		}, fn: succeed},
		{name: "closed-slow-calls", opts: []machine.Option{
			machine.WithClock(clock.System()),
			machine.WithTripPolicy(machine.SlowCallRate(50, time.Second, 100, machine.LastCalls(100))),
		}, fn: succeed},
		{name: "open-observe-only", opts: []machine.Option{machine.WithObserveOnly()}, setup: forceOpen(b), fn: succeed},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			br := newBenchBreaker(b, c.opts...)
			if c.setup != nil {
				c.setup(br)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = br.Do(ctx, c.fn)
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			br := newBenchBreaker(b, c.opts...)
			if c.setup != nil {
				c.setup(br)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = br.Do(ctx, c.fn)
				}
			})
		})
	}
}

// BenchmarkExecute measures the generic form in closed.
func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	br := newBenchBreaker(b)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = machine.Execute(ctx, br, func(context.Context) (int, error) { return 1, nil })
	}
}

// BenchmarkAllow measures the two-step form in closed.
func BenchmarkAllow(b *testing.B) {
	ctx := context.Background()
	br := newBenchBreaker(b)
	b.ReportAllocs()
	for b.Loop() {
		p, err := br.Allow(ctx)
		if err == nil {
			p.Done(nil)
		}
	}
}

// BenchmarkDoWhileAppendHangs is BenchmarkDo/closed-success with the
// journal writer stuck in an append that does not return: calls do not
// notice (compare the two in one run).
func BenchmarkDoWhileAppendHangs(b *testing.B) {
	h := newHangingJournal(newMemory(b))
	defer h.unblock()
	br := newBenchBreaker(b, machine.WithJournal(h), machine.WithJournalTimeout(time.Hour))
	for _, control := range []func(context.Context, machine.Override) error{br.ForceOpen, br.ForceClose} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if err := control(ctx, machine.Override{Operator: "bench", Note: "a record the journal never takes"}); !errors.Is(err, context.DeadlineExceeded) {
			b.Fatalf("manual control with a hanging journal: %v", err)
		}
		cancel()
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = br.Do(ctx, succeed)
	}
}
