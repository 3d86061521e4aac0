package machine_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock"
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
		{"no trip policy", "svc", []machine.Option{machine.WithTripPolicy()}, "WithTripPolicy", "no policy"},
		{"zero trip policy", "svc", []machine.Option{machine.WithTripPolicy(machine.ConsecutiveFailures(2), machine.TripPolicy{})}, "WithTripPolicy", "policy 1 = TripPolicy{}"},
		{"zero consecutive failures", "svc", []machine.Option{machine.WithTripPolicy(machine.ConsecutiveFailures(0))}, "ConsecutiveFailures", "0"},
		{"consecutive failures above 2^31-1", "svc", []machine.Option{machine.WithTripPolicy(machine.ConsecutiveFailures(1 << 31))}, "ConsecutiveFailures", "2147483648"},
		{"zero failure rate", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(0, 1, machine.LastCalls(10)))}, "FailureRate", "percent=0"},
		{"negative failure rate", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(-5, 1, machine.LastCalls(10)))}, "FailureRate", "percent=-5"},
		{"failure rate above 100", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(100.5, 1, machine.LastCalls(10)))}, "FailureRate", "percent=100.5"},
		{"failure rate NaN", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(math.NaN(), 1, machine.LastCalls(10)))}, "FailureRate", "percent=NaN"},
		{"zero minimum calls", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 0, machine.LastCalls(10)))}, "FailureRate", "minCalls=0"},
		{"negative minimum calls", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, -1, machine.LastDuration(time.Second, 1)))}, "FailureRate", "minCalls=-1"},
		{"minimum calls above the window", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 11, machine.LastCalls(10)))}, "FailureRate", "minCalls=11"},
		{"zero window", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.Window{}))}, "FailureRate", "w=Window{}"},
		{"window of no calls", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.LastCalls(0)))}, "LastCalls", "0"},
		{"window of negative calls", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.LastCalls(-4)))}, "LastCalls", "-4"},
		{"window of too many calls", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.LastCalls(machine.MaxWindowCalls+1)))}, "LastCalls", "1048577"},
		{"window of no time", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.LastDuration(0, 10)))}, "LastDuration", "d=0s"},
		{"window of negative time", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.LastDuration(-time.Second, 10)))}, "LastDuration", "d=-1s"},
		{"window of no buckets", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.LastDuration(time.Minute, 0)))}, "LastDuration", "buckets=0"},
		{"window of too many buckets", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.LastDuration(time.Hour, machine.MaxWindowBuckets+1)))}, "LastDuration", "buckets=1025"},
		{"buckets under a millisecond", "svc", []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 1, machine.LastDuration(5*time.Millisecond, 10)))}, "LastDuration", "d=5ms, buckets=10"},
		{"zero slow-call rate", "svc", []machine.Option{machine.WithTripPolicy(machine.SlowCallRate(0, time.Second, 1, machine.LastCalls(10)))}, "SlowCallRate", "percent=0"},
		{"zero slow-call duration", "svc", []machine.Option{machine.WithTripPolicy(machine.SlowCallRate(50, 0, 1, machine.LastCalls(10)))}, "SlowCallRate", "slowerThan=0s"},
		{"negative slow-call duration", "svc", []machine.Option{machine.WithTripPolicy(machine.SlowCallRate(50, -time.Millisecond, 1, machine.LastCalls(10)))}, "SlowCallRate", "slowerThan=-1ms"},
		{"slow-call minimum calls above the window", "svc", []machine.Option{machine.WithTripPolicy(machine.SlowCallRate(50, time.Second, 3, machine.LastCalls(2)))}, "SlowCallRate", "minCalls=3"},
		{"slow-call invalid window", "svc", []machine.Option{machine.WithTripPolicy(machine.SlowCallRate(50, time.Second, 3, machine.LastDuration(time.Second, 0)))}, "LastDuration", "buckets=0"},
		{"custom policy without a name", "svc", []machine.Option{machine.WithTripPolicy(machine.CustomPolicy("", machine.LastCalls(10), func(machine.WindowCounts) bool { return false }))}, "CustomPolicy", `name=""`},
		{"custom policy named as the breaker's", "svc", []machine.Option{machine.WithTripPolicy(machine.CustomPolicy("failure_rate", machine.LastCalls(10), func(machine.WindowCounts) bool { return false }))}, "CustomPolicy", `name="failure_rate"`},
		{"custom policy without a function", "svc", []machine.Option{machine.WithTripPolicy(machine.CustomPolicy("mine", machine.LastCalls(10), nil))}, "CustomPolicy", "fn=nil"},
		{"custom policy without a window", "svc", []machine.Option{machine.WithTripPolicy(machine.CustomPolicy("mine", machine.Window{}, func(machine.WindowCounts) bool { return false }))}, "CustomPolicy", "w=Window{}"},
		{"custom policy with an invalid window", "svc", []machine.Option{machine.WithTripPolicy(machine.CustomPolicy("mine", machine.LastCalls(0), func(machine.WindowCounts) bool { return false }))}, "LastCalls", "0"},
		{"zero backoff base", "svc", []machine.Option{machine.WithBackoff(0, 2, time.Minute)}, "WithBackoff", "0s, 2, 1m0s"},
		{"backoff factor below 1", "svc", []machine.Option{machine.WithBackoff(time.Second, 0.5, time.Minute)}, "WithBackoff", "1s, 0.5, 1m0s"},
		{"backoff factor NaN", "svc", []machine.Option{machine.WithBackoff(time.Second, math.NaN(), time.Minute)}, "WithBackoff", "1s, NaN, 1m0s"},
		{"backoff factor infinite", "svc", []machine.Option{machine.WithBackoff(time.Second, math.Inf(1), time.Minute)}, "WithBackoff", "1s, +Inf, 1m0s"},
		{"backoff max below base", "svc", []machine.Option{machine.WithBackoff(time.Minute, 2, time.Second)}, "WithBackoff", "1m0s, 2, 1s"},
		{"backoff with a recovery timeout", "svc", []machine.Option{machine.WithRecoveryTimeout(time.Second), machine.WithBackoff(time.Second, 2, time.Minute)}, "WithBackoff", "1s, 2, 1m0s"},
		{"zero jitter", "svc", []machine.Option{machine.WithJitter(0, rand.Float64)}, "WithJitter", "fraction=0"},
		{"jitter of 1", "svc", []machine.Option{machine.WithJitter(1, rand.Float64)}, "WithJitter", "fraction=1"},
		{"jitter NaN", "svc", []machine.Option{machine.WithJitter(math.NaN(), rand.Float64)}, "WithJitter", "fraction=NaN"},
		{"jitter without a source", "svc", []machine.Option{machine.WithJitter(0.1, nil)}, "WithJitter", "source=nil"},
		{"zero half-open timeout", "svc", []machine.Option{machine.WithHalfOpenTimeout(0)}, "WithHalfOpenTimeout", "0s"},
		{"negative half-open timeout", "svc", []machine.Option{machine.WithHalfOpenTimeout(-time.Second)}, "WithHalfOpenTimeout", "-1s"},
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
			if !errors.Is(err, events.ErrInvalidOption) {
				t.Fatalf("error %v does not match ErrInvalidOption", err)
			}
			var oe *events.OptionError
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
		machine.WithClock(clock.System()),
		machine.WithHalfOpenTimeout(time.Nanosecond),
		machine.WithJitter(0.999999, rand.Float64),
		machine.WithProbeOnTimer(),
		machine.WithObserveOnly(),
	)
	if err != nil {
		t.Fatalf("New at the boundaries: %v", err)
	}
	never := func(machine.WindowCounts) bool { return false }
	for _, p := range []machine.TripPolicy{
		machine.ConsecutiveFailures(1),
		machine.ConsecutiveFailures(1<<31 - 1),
		machine.FailureRate(100, 1, machine.LastCalls(1)),
		machine.FailureRate(1e-9, machine.MaxWindowCalls, machine.LastCalls(machine.MaxWindowCalls)),
		machine.FailureRate(50, 1<<40, machine.LastDuration(time.Millisecond, 1)),
		machine.FailureRate(50, 1, machine.LastDuration(machine.MaxWindowBuckets*time.Millisecond, machine.MaxWindowBuckets)),
		machine.SlowCallRate(100, time.Nanosecond, 1, machine.LastCalls(1)),
		machine.CustomPolicy("x", machine.LastCalls(1), never),
		machine.CustomPolicy("consecutive_failures_2", machine.LastDuration(time.Hour, 60), never),
	} {
		if _, err := machine.New("svc", machine.WithTripPolicy(p)); err != nil {
			t.Errorf("New: %v", err)
		}
	}
	for _, o := range []machine.Option{
		machine.WithBackoff(time.Nanosecond, 1, time.Nanosecond),
		machine.WithBackoff(time.Second, 1e300, time.Duration(math.MaxInt64)),
	} {
		if _, err := machine.New("svc", o); err != nil {
			t.Errorf("New: %v", err)
		}
	}
}

func TestDefaults(t *testing.T) {
	if machine.DefaultFailureThreshold != 5 || machine.DefaultRecoveryTimeout != 30*time.Second || machine.DefaultSuccessThreshold != 2 {
		t.Fatal("the defaults are not the seed's 5, 30s and 2")
	}
	// The default policy is 5 consecutive failures, and nothing else: no
	// window, enforcing, no timer in closed.
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
	if b.Windows() != nil || b.Mode() != machine.Enforcing {
		t.Fatalf("Windows() = %v, Mode() = %v", b.Windows(), b.Mode())
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
