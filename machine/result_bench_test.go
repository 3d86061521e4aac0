package machine_test

import (
	"context"
	"testing"

	"github.com/circuitry-go/circuitry/machine"
)

// BenchmarkResults measures the ways to end a call other than Do: Execute
// beside ExecuteResult (a classifier of values), Allow and Report, and
// ExecuteFallback, closed and with every call a success; and
// ExecuteFallback serving its fallback for a rejected call.
func BenchmarkResults(b *testing.B) {
	ctx := context.Background()
	value := func(context.Context) (int, error) { return 1, nil }
	classify := func(_ context.Context, v int, err error) machine.Result {
		if err != nil || v < 0 {
			return machine.Result{Outcome: machine.Failure}
		}
		return machine.Result{Outcome: machine.Success}
	}
	fallback := func(context.Context, error) (int, error) { return 0, nil }
	ok := machine.Result{Outcome: machine.Success}
	for _, bc := range []struct {
		name string
		open bool
		run  func(*machine.Breaker)
	}{
		{"Execute", false, func(br *machine.Breaker) { _, _ = machine.Execute(ctx, br, value) }},
		{"ExecuteResult", false, func(br *machine.Breaker) { _, _ = machine.ExecuteResult(ctx, br, value, classify) }},
		{"Allow-Report", false, func(br *machine.Breaker) {
			if p, err := br.Allow(ctx); err == nil {
				p.Report(ok)
			}
		}},
		{"ExecuteFallback", false, func(br *machine.Breaker) { _, _ = machine.ExecuteFallback(ctx, br, value, fallback) }},
		{"ExecuteFallback-rejected", true, func(br *machine.Breaker) { _, _ = machine.ExecuteFallback(ctx, br, value, fallback) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			br := newBenchBreaker(b)
			defer br.Close(ctx)
			if bc.open {
				forceOpen(b)(br)
			}
			b.ReportAllocs()
			for b.Loop() {
				bc.run(br)
			}
		})
	}
}
