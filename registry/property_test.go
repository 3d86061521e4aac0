package registry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

// model is what a registry should hold: for each key, whether its breaker
// was used since the last sweep and its consecutive failures (the
// breakers never trip: their threshold is out of reach).
type model struct {
	maxKeys int
	keys    map[string]*modelKey
	now     time.Duration // since the start
}

type modelKey struct {
	used  bool
	fails uint32
}

// quiet is what Breaker.Quiet says of a breaker that never trips.
func (k *modelKey) quiet() bool { return k.fails == 0 }

// use is a call's Get: it makes the key's breaker if the registry can hold
// it, evicting first, if full, every quiet breaker unused since the last
// sweep; it reports whether the key is held.
func (m *model) use(key string) bool {
	if k, ok := m.keys[key]; ok {
		k.used = true
		return true
	}
	if len(m.keys) >= m.maxKeys {
		for name, k := range m.keys {
			if !k.used && k.quiet() {
				delete(m.keys, name)
			}
		}
		if len(m.keys) >= m.maxKeys {
			return false
		}
	}
	m.keys[key] = &modelKey{used: true}
	return true
}

// advance moves time on by d, sweeping at every idle timeout passed: a
// quiet breaker unused since the sweep before goes, the others' marks are
// cleared.
func (m *model) advance(d time.Duration) {
	for next := (m.now/idle + 1) * idle; next <= m.now+d; next += idle {
		for name, k := range m.keys {
			switch {
			case k.used:
				k.used = false
			case k.quiet():
				delete(m.keys, name)
			}
		}
	}
	m.now += d
}

// TestRegistryModel checks a registry against the model through random
// calls, Gets, Removes and moves of the clock.
func TestRegistryModel(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e", "f"}
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		m := &model{maxKeys: rapid.IntRange(1, 4).Draw(rt, "maxKeys"), keys: make(map[string]*modelKey)}
		clk := clocktest.New(t0)
		reg, err := registry.New(
			registry.WithClock(clk),
			registry.WithIdleTimeout(idle),
			registry.WithMaxKeys(m.maxKeys),
			registry.WithErrorHandler(func(err error) { rt.Errorf("registry reported: %v", err) }),
			registry.WithBreakerOptions(machine.WithClock(clk), machine.WithFailureThreshold(1<<20)),
		)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() {
			if err := reg.Close(ctx); err != nil {
				rt.Error(err)
			}
		}()
		for step := range rapid.IntRange(1, 80).Draw(rt, "steps") {
			var what string
			switch op := rapid.IntRange(0, 4).Draw(rt, "op"); op {
			case 0, 1: // a call that succeeds or fails
				key := rapid.SampledFrom(keys).Draw(rt, "key")
				ok := op == 0
				what = fmt.Sprintf("Do(%s, ok=%v)", key, ok)
				fn := succeed
				if !ok {
					fn = fail
				}
				err := reg.Do(ctx, key, fn)
				if !m.use(key) {
					if !errors.Is(err, registry.ErrFull) {
						rt.Fatalf("step %d: %s = %v, want ErrFull", step, what, err)
					}
					break
				}
				k := m.keys[key]
				if ok {
					k.fails = 0
				} else {
					k.fails++
				}
				if want := fn(ctx); err != want {
					rt.Fatalf("step %d: %s = %v, want %v", step, what, err, want)
				}
			case 2: // a Get
				key := rapid.SampledFrom(keys).Draw(rt, "key")
				what = fmt.Sprintf("Get(%s)", key)
				b, err := reg.Get(key)
				if !m.use(key) {
					if !errors.Is(err, registry.ErrFull) {
						rt.Fatalf("step %d: %s = %v, want ErrFull", step, what, err)
					}
					break
				}
				if err != nil || b.Name() != key {
					rt.Fatalf("step %d: %s = %v, %v", step, what, b, err)
				}
			case 3:
				key := rapid.SampledFrom(keys).Draw(rt, "key")
				what = fmt.Sprintf("Remove(%s)", key)
				if err := reg.Remove(ctx, key); err != nil {
					rt.Fatalf("step %d: %s: %v", step, what, err)
				}
				delete(m.keys, key)
			case 4:
				d := time.Duration(rapid.Int64Range(1, int64(2*idle)).Draw(rt, "advance"))
				what = fmt.Sprintf("Advance(%s)", d)
				clk.Advance(d)
				m.advance(d)
			}
			if reg.Len() != len(m.keys) {
				rt.Fatalf("step %d, after %s: Len = %d, model holds %d", step, what, reg.Len(), len(m.keys))
			}
			for _, key := range keys {
				b, held := reg.Lookup(key)
				k, want := m.keys[key]
				if held != want {
					rt.Fatalf("step %d, after %s: holds %s: %v, model: %v", step, what, key, held, want)
				}
				if held && b.Counts().ConsecutiveFailures != k.fails {
					rt.Fatalf("step %d, after %s: %s has %d consecutive failures, model %d", step, what, key, b.Counts().ConsecutiveFailures, k.fails)
				}
			}
		}
	})
}
