package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	eapache "github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/sony/gobreaker/v2"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/machine"
)

// All breakers are configured as alike as their APIs allow: trip on 5
// consecutive failures, stay open 30 s, close after 2 half-open successes.
// Where they differ:
//   - gobreaker closes after MaxRequests (2) consecutive half-open successes
//     and admits at most that many probes; its default ReadyToTrip is "more
//     than 5", so ours says ">= 5".
//   - failsafe-go's WithFailureThreshold(5) counts consecutive failures and
//     WithSuccessThreshold(2) consecutive half-open successes, like ours.
//   - eapache's breaker opens after 5 errors "without an error-free period
//     of at least timeout" (not strictly consecutive) and has no
//     configurable probe limit; it fits every scenario but the cycle, whose
//     open-to-half-open step runs on a timer goroutine of its own.
//
// The closed-rate-window scenarios trip on a failure rate of 50% over the
// last 10 s in 10 buckets of 1 s, once 20 calls are in the window; 1 call in
// 10 fails, so none trips. Where they differ:
//   - circuitry: FailureRate(50, 20, LastDuration(10s, 10)) on the system
//     clock, which it reads once per call (the monotonic clock only);
//     buckets are atomic words, no lock. circuitry-calls is
//     FailureRate(50, 20, LastCalls(100)) over the last 100 calls instead:
//     no clock read at all. Both evaluate the policy on each failure.
//   - gobreaker: Interval 10s with BucketPeriod 1s (its rolling window) and a
//     ReadyToTrip of Requests >= 20 and TotalFailures/Requests >= 0.5, which
//     it calls on each failure; it takes its mutex and reads time.Now twice
//     per call.
//   - failsafe-go: WithFailureRateThreshold(0.5, 20, 10s), its time-based
//     stats in 10 buckets, under its mutex.
//   - eapache has no rate window and sits these out.
const (
	failureThreshold = 5
	openFor          = 30 * time.Second
	successThreshold = 2
)

var errDependency = errors.New("dependency failed")

// pad is captured by every call closure below, so that no closure is 32
// bytes: RunParallel writes its *testing.PB, of 32 bytes, on every
// iteration, and a closure of the same size class often shares its cache
// line, which made each call miss (circuitry's closed-success-parallel
// measured 10-13 ns instead of 4.8, from run to run). It costs nothing per
// call and applies to every library alike.
type pad [64]byte

// The protected functions: identical work for every library.
func ok() error                     { return nil }
func fail() error                   { return errDependency }
func okCtx(context.Context) error   { return nil }
func failCtx(context.Context) error { return errDependency }

// A library under test: how to make a breaker in closed state, and how to
// make one that is open, each returning a call function whose argument says
// whether the protected function fails.
type library struct {
	name       string
	closed     func(b *testing.B) func(fail bool) error
	open       func(b *testing.B) func(fail bool) error
	cycle      func(b *testing.B) func()                // one trip + probe + recover round; nil if it does not fit
	rateWindow func(b *testing.B) func(fail bool) error // closed, tripping on a failure rate; nil if it does not fit
}

// The rate-window configuration, the same for every library.
const (
	ratePercent  = 50
	rateMinCalls = 20
	ratePeriod   = 10 * time.Second
	rateBuckets  = 10
	rateCalls    = 100 // circuitry-calls: the last 100 calls
)

func newCircuitryRate(b *testing.B, w machine.Window) func(bool) error {
	br, err := machine.New("bench",
		machine.WithTripPolicy(machine.FailureRate(ratePercent, rateMinCalls, w)),
		machine.WithRecoveryTimeout(openFor),
		machine.WithSuccessThreshold(successThreshold),
		machine.WithClock(clock.System()))
	if err != nil {
		b.Fatal(err)
	}
	return circuitryCall(br)
}

func newGobreakerRate() *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         "bench",
		MaxRequests:  successThreshold,
		Interval:     ratePeriod,
		BucketPeriod: ratePeriod / rateBuckets,
		Timeout:      openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.Requests >= rateMinCalls && float64(c.TotalFailures)*100 >= ratePercent*float64(c.Requests)
		},
	})
}

func newFailsafeRate() circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureRateThreshold(ratePercent/100.0, rateMinCalls, ratePeriod).
		WithDelay(openFor).
		WithSuccessThreshold(successThreshold).
		Build()
}

func newCircuitry(b *testing.B) (*machine.Breaker, *clocktest.Clock) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	br, err := machine.New("bench",
		machine.WithFailureThreshold(failureThreshold),
		machine.WithRecoveryTimeout(openFor),
		machine.WithSuccessThreshold(successThreshold),
		machine.WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	return br, clk
}

func circuitryCall(br *machine.Breaker) func(bool) error {
	ctx := context.Background()
	var p pad
	return func(f bool) error {
		_ = p
		if f {
			return br.Do(ctx, failCtx)
		}
		return br.Do(ctx, okCtx)
	}
}

func newGobreaker(timeout time.Duration) *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "bench",
		MaxRequests: successThreshold,
		Timeout:     timeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failureThreshold },
	})
}

func gobreakerCall(cb *gobreaker.CircuitBreaker[struct{}]) func(bool) error {
	okT := func() (struct{}, error) { return struct{}{}, nil }
	failT := func() (struct{}, error) { return struct{}{}, errDependency }
	var p pad
	return func(f bool) error {
		_ = p
		if f {
			_, err := cb.Execute(failT)
			return err
		}
		_, err := cb.Execute(okT)
		return err
	}
}

func newFailsafe(delay time.Duration) circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureThreshold(failureThreshold).
		WithDelay(delay).
		WithSuccessThreshold(successThreshold).
		Build()
}

// failsafePermitCall uses failsafe-go's standalone permit API.
func failsafePermitCall(cb circuitbreaker.CircuitBreaker[any]) func(bool) error {
	var p pad
	return func(f bool) error {
		_ = p
		if !cb.TryAcquirePermit() {
			return circuitbreaker.ErrOpen
		}
		var err error
		if f {
			err = fail()
		} else {
			err = ok()
		}
		cb.RecordError(err)
		return err
	}
}

// failsafeExecutorCall uses failsafe-go's executor, its documented way.
func failsafeExecutorCall(cb circuitbreaker.CircuitBreaker[any]) func(bool) error {
	ex := failsafe.With[any](cb)
	var p pad
	return func(f bool) error {
		_ = p
		if f {
			return ex.Run(fail)
		}
		return ex.Run(ok)
	}
}

func eapacheCall(br *eapache.Breaker) func(bool) error {
	var p pad
	return func(f bool) error {
		_ = p
		if f {
			return br.Run(fail)
		}
		return br.Run(ok)
	}
}

func libraries() []library {
	return []library{
		{
			name: "circuitry",
			closed: func(b *testing.B) func(bool) error {
				br, _ := newCircuitry(b)
				return circuitryCall(br)
			},
			open: func(b *testing.B) func(bool) error {
				br, _ := newCircuitry(b)
				if err := br.ForceOpen(context.Background(), machine.Override{Operator: "bench", Note: "open for the benchmark"}); err != nil {
					b.Fatal(err)
				}
				return circuitryCall(br)
			},
			// Time: the injected fake clock jumps the open period.
			cycle: func(b *testing.B) func() {
				br, clk := newCircuitry(b)
				call := circuitryCall(br)
				return func() {
					for range failureThreshold {
						_ = call(true)
					}
					clk.Advance(openFor)
					for range successThreshold {
						_ = call(false)
					}
				}
			},
			rateWindow: func(b *testing.B) func(bool) error {
				return newCircuitryRate(b, machine.LastDuration(ratePeriod, rateBuckets))
			},
		},
		{
			name: "circuitry-calls",
			rateWindow: func(b *testing.B) func(bool) error {
				return newCircuitryRate(b, machine.LastCalls(rateCalls))
			},
		},
		{
			name:   "gobreaker",
			closed: func(*testing.B) func(bool) error { return gobreakerCall(newGobreaker(openFor)) },
			open: func(b *testing.B) func(bool) error {
				call := gobreakerCall(newGobreaker(time.Hour))
				tripBy(b, call)
				return call
			},
			// Time: gobreaker reads the wall clock and cannot be given
			// another, so the open period is 1 ns: the next call probes.
			cycle: func(*testing.B) func() {
				call := gobreakerCall(newGobreaker(time.Nanosecond))
				return func() {
					for range failureThreshold {
						_ = call(true)
					}
					for range successThreshold {
						_ = call(false)
					}
				}
			},
			rateWindow: func(*testing.B) func(bool) error { return gobreakerCall(newGobreakerRate()) },
		},
		failsafeLibrary("failsafe-permit", failsafePermitCall),
		failsafeLibrary("failsafe-executor", failsafeExecutorCall),
		{
			name: "eapache",
			closed: func(*testing.B) func(bool) error {
				return eapacheCall(eapache.New(failureThreshold, successThreshold, openFor))
			},
			open: func(b *testing.B) func(bool) error {
				call := eapacheCall(eapache.New(failureThreshold, successThreshold, time.Hour))
				tripBy(b, call)
				return call
			},
		},
	}
}

// failsafeLibrary is failsafe-go called through call: its standalone permit
// API or its executor, which are set up and driven alike.
func failsafeLibrary(name string, call func(circuitbreaker.CircuitBreaker[any]) func(bool) error) library {
	return library{
		name:   name,
		closed: func(*testing.B) func(bool) error { return call(newFailsafe(openFor)) },
		open: func(*testing.B) func(bool) error {
			cb := newFailsafe(openFor)
			cb.Open()
			return call(cb)
		},
		// Time: failsafe-go has no clock to inject; its open period is ended
		// by its own HalfOpen control, which is what elapsing does.
		cycle: func(*testing.B) func() {
			cb := newFailsafe(openFor)
			c := call(cb)
			return func() {
				for range failureThreshold {
					_ = c(true)
				}
				cb.HalfOpen()
				for range successThreshold {
					_ = c(false)
				}
			}
		},
		rateWindow: func(*testing.B) func(bool) error { return call(newFailsafeRate()) },
	}
}

// tripBy opens a breaker with consecutive failures and checks it rejects.
func tripBy(b *testing.B, call func(bool) error) {
	for range failureThreshold {
		_ = call(true)
	}
	if err := call(false); err == nil {
		b.Fatal("breaker did not open after consecutive failures")
	}
}

// BenchmarkCompare runs each scenario for each library, in one run:
// BenchmarkCompare/<scenario>/<library>.
func BenchmarkCompare(b *testing.B) {
	for _, sc := range []struct {
		name     string
		open     bool
		rate     bool
		parallel bool
		mixed    bool
	}{
		{name: "closed-success"},
		{name: "closed-mixed", mixed: true},
		{name: "open-reject", open: true},
		{name: "closed-success-parallel", parallel: true},
		{name: "open-reject-parallel", open: true, parallel: true},
		{name: "closed-rate-window", rate: true, mixed: true},
		{name: "closed-rate-window-parallel", rate: true, mixed: true, parallel: true},
	} {
		b.Run(sc.name, func(b *testing.B) {
			for _, lib := range libraries() {
				mk := lib.closed
				switch {
				case sc.open:
					mk = lib.open
				case sc.rate:
					mk = lib.rateWindow
				}
				if mk == nil {
					continue
				}
				b.Run(lib.name, func(b *testing.B) {
					call := mk(b)
					b.ReportAllocs()
					if sc.parallel {
						b.RunParallel(func(pb *testing.PB) {
							i := 0
							for pb.Next() {
								i++
								_ = call(sc.mixed && i%10 == 0)
							}
						})
						return
					}
					i := 0
					for b.Loop() {
						i++
						// closed-mixed: 1 call in 10 fails, never 5 in a row.
						_ = call(sc.mixed && i%10 == 0)
					}
				})
			}
		})
	}
	b.Run("cycle", func(b *testing.B) {
		for _, lib := range libraries() {
			if lib.cycle == nil {
				continue
			}
			b.Run(lib.name, func(b *testing.B) {
				round := lib.cycle(b)
				b.ReportAllocs()
				for b.Loop() {
					round()
				}
			})
		}
	})
}
