package registry_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

// benchKeys is how many breakers the benchmarks' registry holds.
const benchKeys = 10000

// newBenchRegistry returns a registry holding benchKeys breakers, with
// their keys. Its sweeper is on a fake clock that never moves.
func newBenchRegistry(b *testing.B) (*registry.Registry, []string) {
	b.Helper()
	clk := clocktest.New(t0)
	reg, err := registry.New(registry.WithClock(clk), registry.WithMaxKeys(benchKeys),
		registry.WithBreakerOptions(machine.WithClock(clk)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Close(context.Background()) })
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("host-%05d.example", i)
		if _, err := reg.Get(keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	return reg, keys
}

// BenchmarkRegistry measures the call path through a registry of 10,000
// breakers, going through the keys in turn: Get, Do and Execute of a
// closed breaker's successful call, on one goroutine and in parallel (each
// goroutine from its own place among the keys).
func BenchmarkRegistry(b *testing.B) {
	ctx := context.Background()
	ops := []struct {
		name string
		op   func(reg *registry.Registry, key string) error
	}{
		{"Get", func(reg *registry.Registry, key string) error { _, err := reg.Get(key); return err }},
		{"Do", func(reg *registry.Registry, key string) error { return reg.Do(ctx, key, succeed) }},
		{"Execute", func(reg *registry.Registry, key string) error {
			_, err := registry.Execute(ctx, reg, key, func(context.Context) (int, error) { return 1, nil })
			return err
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			reg, keys := newBenchRegistry(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := o.op(reg, keys[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
		b.Run(o.name+"-parallel", func(b *testing.B) {
			reg, keys := newBenchRegistry(b)
			b.ReportAllocs()
			var goroutines atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(goroutines.Add(1)*1237) % len(keys) // a place of its own among the keys
				for pb.Next() {
					if err := o.op(reg, keys[i]); err != nil {
						b.Error(err)
						return
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkMake measures making a key's breaker on its first Get, and
// removing it, with the machine defaults: machine.New is most of it.
func BenchmarkMake(b *testing.B) {
	ctx := context.Background()
	reg, err := registry.New(registry.WithIdleTimeout(0))
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Get("host.example"); err != nil {
			b.Fatal(err)
		}
		if err := reg.Remove(ctx, "host.example"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegistryOneKey is BenchmarkRegistry/Do with one key: the
// registry's own cost on a call, with the breaker in the cache (compare
// machine's BenchmarkDo/closed-success).
func BenchmarkRegistryOneKey(b *testing.B) {
	ctx := context.Background()
	reg, err := registry.New(registry.WithIdleTimeout(0))
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if err := reg.Do(ctx, "host.example", succeed); err != nil {
			b.Fatal(err)
		}
	}
}
