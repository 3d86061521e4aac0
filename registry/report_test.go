package registry_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

// stubborn is a breaker observer whose stop function fails: the Close of
// every breaker it observes returns its error.
type stubborn struct{}

func (stubborn) Notify(context.Context, events.Transition) {}
func (stubborn) Lane() hooks.Lane                          { return hooks.LaneInline }
func (stubborn) ObserveBreaker(*machine.Breaker) (func() error, error) {
	return func() error { return errors.New("instruments stuck") }, nil
}

// TestEvictionReportsCloseErrors checks that what an evicted breaker's
// Close returns goes to the error handler, naming the key, and that a
// panicking handler does not stop the sweeper.
func TestEvictionReportsCloseErrors(t *testing.T) {
	const want = `circuitry: registry: closing the evicted breaker of key "a": instruments stuck`
	for _, panics := range []bool{false, true} {
		var got []string
		var mu sync.Mutex
		r := newRig(t, registry.WithBreakerOptions(machine.WithSubscribers(stubborn{})),
			registry.WithErrorHandler(func(err error) {
				mu.Lock()
				got = append(got, err.Error())
				mu.Unlock()
				if panics {
					panic("handler bug")
				}
			}))
		evictA(t, r)
		mu.Lock()
		if len(got) != 1 || got[0] != want {
			t.Errorf("panicking handler %v: reported %q, want %q", panics, got, want)
		}
		mu.Unlock()
		// Close returns b's error; the rig's cleanup then finds it closed.
		if err := r.reg.Close(context.Background()); err == nil || !strings.Contains(err.Error(), "instruments stuck") {
			t.Errorf("Close = %v, want b's error", err)
		}
	}
}

// evictA makes breakers for a and b, and sweeps until a, unused, is
// evicted and b, used, is not.
func evictA(t *testing.T, r *rig) {
	t.Helper()
	r.get(t, "a")
	r.get(t, "b")
	r.sweep()
	r.get(t, "b")
	r.sweep()
	if r.held("a") || !r.held("b") {
		t.Fatalf("held: %q, want b", r.reg.Keys())
	}
}

// TestDefaultErrorHandlerLogs checks that without an error handler the
// registry logs what it reports through slog.Default.
func TestDefaultErrorHandlerLogs(t *testing.T) {
	var logged bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	clk := clocktest.New(t0)
	reg, err := registry.New(registry.WithClock(clk), registry.WithIdleTimeout(idle),
		registry.WithBreakerOptions(machine.WithSubscribers(stubborn{})))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Get("a"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * idle)
	if _, ok := reg.Lookup("a"); ok {
		t.Fatal("a was not evicted")
	}
	if s := logged.String(); !strings.Contains(s, "circuitry: registry error") || !strings.Contains(s, "instruments stuck") {
		t.Errorf("logged %q", s)
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestErrorTexts(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&registry.FullError{Key: "c.example", MaxKeys: 2},
			`circuitry: registry is full: it holds 2 breakers, none of them quiet and unused since the last sweep; key "c.example" refused`},
		{&registry.KeyError{Key: "k", Len: 1, Err: errors.New("no reason")},
			`circuitry: registry key "k" cannot name a breaker: no reason`},
		{&registry.KeyError{Key: "k", Len: 1, Named: true, Err: &events.TextError{Field: "name", Value: "xx", Len: 300, Reason: "is too long"}},
			`circuitry: registry key "k": its breaker name "xx"… (300 bytes) is too long`},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q,\nwant      %q", got, c.want)
		}
	}
}

// gate is a breaker observer that holds machine.New until released, so
// that a test can act while a registry makes a breaker.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Notify(context.Context, events.Transition) {}
func (g *gate) Lane() hooks.Lane                          { return hooks.LaneInline }
func (g *gate) ObserveBreaker(*machine.Breaker) (func() error, error) {
	g.entered <- struct{}{}
	<-g.release
	return func() error { return nil }, nil
}

// TestCloseWhileABreakerIsBeingMade checks that Close waits for a breaker
// being made and closes it, and that its maker's Get, like the Gets
// waiting for it, returns ErrClosed.
func TestCloseWhileABreakerIsBeingMade(t *testing.T) {
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	r := newRig(t, registry.WithBreakerOptions(machine.WithSubscribers(g)))
	errs := make(chan error, 2)
	go func() { _, err := r.reg.Get("a"); errs <- err }()
	<-g.entered // the maker is in machine.New
	go func() { _, err := r.reg.Get("a"); errs <- err }()
	closed := make(chan error, 1)
	go func() { closed <- r.reg.Close(context.Background()) }()
	select {
	case err := <-closed:
		close(g.release)
		t.Fatalf("Close returned (%v) before the breaker being made was", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(g.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := r.c.open.Load(); n != 0 || r.reg.Len() != 0 {
		t.Errorf("after Close: %d breakers open, Len %d", n, r.reg.Len())
	}
	for range 2 {
		if err := <-errs; err != registry.ErrClosed {
			t.Errorf("Get = %v, want ErrClosed", err)
		}
	}
}
