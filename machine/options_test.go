package machine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

func TestInvalidOptions(t *testing.T) {
	cases := []struct {
		name   string
		bname  string
		opts   []machine.Option
		option string // the name the error must mention
		value  string // the value the error must mention
	}{
		{"zero failure threshold", "svc", []machine.Option{machine.WithFailureThreshold(0)}, "WithFailureThreshold", "0"},
		{"negative failure threshold", "svc", []machine.Option{machine.WithFailureThreshold(-3)}, "WithFailureThreshold", "-3"},
		{"failure threshold above 2^31-1", "svc", []machine.Option{machine.WithFailureThreshold(1 << 31)}, "WithFailureThreshold", "2147483648"},
		{"zero success threshold", "svc", []machine.Option{machine.WithSuccessThreshold(0)}, "WithSuccessThreshold", "0"},
		{"negative success threshold", "svc", []machine.Option{machine.WithSuccessThreshold(-1)}, "WithSuccessThreshold", "-1"},
		{"success threshold above 2^31-1", "svc", []machine.Option{machine.WithSuccessThreshold(1 << 40)}, "WithSuccessThreshold", "1099511627776"},
		{"zero probe limit", "svc", []machine.Option{machine.WithProbeLimit(0)}, "WithProbeLimit", "0"},
		{"negative probe limit", "svc", []machine.Option{machine.WithProbeLimit(-2)}, "WithProbeLimit", "-2"},
		{"probe limit above 2^31-1", "svc", []machine.Option{machine.WithProbeLimit(1 << 31)}, "WithProbeLimit", "2147483648"},
		{"zero recovery timeout", "svc", []machine.Option{machine.WithRecoveryTimeout(0)}, "WithRecoveryTimeout", "0s"},
		{"negative recovery timeout", "svc", []machine.Option{machine.WithRecoveryTimeout(-time.Second)}, "WithRecoveryTimeout", "-1s"},
		{"nil classifier", "svc", []machine.Option{machine.WithClassifier(nil)}, "WithClassifier", "nil"},
		{"nil clock", "svc", []machine.Option{machine.WithClock(nil)}, "WithClock", "nil"},
		{"nil journal", "svc", []machine.Option{machine.WithJournal(nil)}, "WithJournal", "nil"},
		{"nil subscriber", "svc", []machine.Option{machine.WithSubscribers(&recorder{}, nil)}, "WithSubscribers", "subscriber 1 = nil"},
		{"nil error handler", "svc", []machine.Option{machine.WithErrorHandler(nil)}, "WithErrorHandler", "nil"},
		{"zero queue capacity", "svc", []machine.Option{machine.WithQueueCapacity(0)}, "WithQueueCapacity", "0"},
		{"negative queue capacity", "svc", []machine.Option{machine.WithQueueCapacity(-1)}, "WithQueueCapacity", "-1"},
		{"empty name", "", nil, "name", `""`},
		{"nil option", "svc", []machine.Option{machine.WithFailureThreshold(3), nil}, "option 1", "nil"},
		{"invalid after valid", "svc", []machine.Option{machine.WithRecoveryTimeout(time.Second), machine.WithRecoveryTimeout(-time.Minute)}, "WithRecoveryTimeout", "-1m0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := machine.New(c.bname, c.opts...)
			if err == nil {
				t.Fatalf("New succeeded: %v", b.Name())
			}
			if b != nil {
				t.Fatal("New returned a breaker with its error")
			}
			if !errors.Is(err, machine.ErrInvalidOption) {
				t.Fatalf("error %v does not match ErrInvalidOption", err)
			}
			var oe *machine.OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v (%T) is not an *OptionError", err, err)
			}
			if oe.Option != c.option || oe.Value != c.value {
				t.Fatalf("OptionError{Option %q, Value %q}, want {%q, %q}", oe.Option, oe.Value, c.option, c.value)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.option) || !strings.Contains(msg, c.value) || oe.Reason == "" || !strings.Contains(msg, oe.Reason) {
				t.Fatalf("message %q does not name the option %q, the value %q and why", msg, c.option, c.value)
			}
		})
	}
}

func TestValidOptionsBoundaries(t *testing.T) {
	_, err := machine.New("svc",
		machine.WithFailureThreshold(1<<31-1),
		machine.WithSuccessThreshold(1),
		machine.WithProbeLimit(1<<31-1),
		machine.WithRecoveryTimeout(time.Nanosecond),
		machine.WithQueueCapacity(1),
		machine.WithSubscribers(),
		machine.WithSubscribers(hooks.Inline(&recorder{})),
		machine.WithClock(machine.SystemClock()),
	)
	if err != nil {
		t.Fatalf("New at the boundaries: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	if machine.DefaultFailureThreshold != 5 || machine.DefaultRecoveryTimeout != 30*time.Second || machine.DefaultSuccessThreshold != 2 {
		t.Fatal("the defaults are not the seed's 5, 30s and 2")
	}
	// A breaker with no options at all works, on the system clock and its
	// own journal.
	b, err := machine.New("plain")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_ = b.Do(context.Background(), failCall)
	}
	wantBreakerState(t, b, events.Open)
	if s := b.Snapshot(); s.Seq != 1 || s.OpenFor != 30*time.Second {
		t.Fatalf("Snapshot() = %+v", s)
	}
	if b.Name() != "plain" {
		t.Fatalf("Name() = %q", b.Name())
	}
}

func TestNilFunc(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.b.Do(ctx, nil); !errors.Is(err, machine.ErrNilFunc) {
		t.Fatalf("Do(nil) = %v, want ErrNilFunc", err)
	}
	v, err := machine.Execute[int](ctx, f.b, nil)
	if !errors.Is(err, machine.ErrNilFunc) || v != 0 {
		t.Fatalf("Execute(nil) = %d, %v, want ErrNilFunc", v, err)
	}
	// A nil function is the caller's bug, not the dependency's: nothing counts.
	if c := f.b.Counts(); c != (machine.Counts{}) {
		t.Fatalf("Counts() = %+v", c)
	}
	// Even while open, a nil function is reported as such.
	f.failN(5)
	if err := f.b.Do(ctx, nil); !errors.Is(err, machine.ErrNilFunc) {
		t.Fatalf("Do(nil) while open = %v, want ErrNilFunc", err)
	}
}
