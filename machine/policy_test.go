package machine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// play runs one call per letter of seq, each of which must be admitted: S
// succeeds, F fails, I is ignored (its caller gave up).
func (f *fixture) play(seq string) {
	f.t.Helper()
	for i, c := range seq {
		var err error
		switch c {
		case 'S':
			err = f.do(okCall)
		case 'F':
			if err = f.do(failCall); errors.Is(err, errDep) {
				err = nil
			}
		case 'I':
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err = f.b.Do(ctx, func(ctx context.Context) error { return ctx.Err() }); errors.Is(err, context.Canceled) {
				err = nil
			}
		default:
			f.t.Fatalf("play: unknown call %q", c)
		}
		if err != nil {
			f.t.Fatalf("play(%q): call %d (%c) returned %v", seq, i+1, c, err)
		}
	}
}

// slow returns a call that takes d on the fake clock and returns err.
func (f *fixture) slow(d time.Duration, err error) func(context.Context) error {
	return func(context.Context) error { f.clk.Advance(d); return err }
}

// wantWindows checks the counts Windows reports, policy by policy.
func (f *fixture) wantWindows(want ...machine.PolicyCounts) {
	f.t.Helper()
	got := f.b.Windows()
	for i := range got {
		got[i].Figures = events.Reason{} // asserted by TestWindowsFigures and the model
	}
	if !slices.Equal(got, want) {
		f.t.Fatalf("Windows() = %+v, want %+v", got, want)
	}
}

func counts(policy string, calls, failures, slow uint64) machine.PolicyCounts {
	return machine.PolicyCounts{Policy: policy, WindowCounts: machine.WindowCounts{Calls: calls, Failures: failures, Slow: slow}}
}

// rateCase is a sequence of calls, the call that must trip (0: none) and
// the reason it must give.
type rateCase struct {
	name   string
	policy machine.TripPolicy
	seq    string
	tripAt int
	want   events.Reason
}

func runRateCases(t *testing.T, cases []rateCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, machine.WithTripPolicy(c.policy))
			for i := range c.seq {
				f.play(c.seq[i : i+1])
				want := events.Closed
				if c.tripAt > 0 && i+1 >= c.tripAt {
					want = events.Open
				}
				if got := f.b.State(); got != want {
					t.Fatalf("after call %d of %q: state %s, want %s", i+1, c.seq, got, want)
				}
				if want == events.Open {
					break
				}
			}
			if c.tripAt == 0 {
				f.wantSteps()
				return
			}
			f.wantSteps(tripStep)
			if r := f.last().Reason; r != c.want {
				t.Fatalf("trip reason = %+v, want %+v", r, c.want)
			}
			f.noErrors()
		})
	}
}

func failureRate(failures, calls, minCalls uint64, rate, threshold float64) events.Reason {
	return events.Reason{Policy: events.PolicyFailureRate, Failures: failures, Calls: calls, Rate: rate,
		RateThreshold: threshold, MinCalls: minCalls, LastError: errDep.Error()}
}

func TestFailureRateOverLastCalls(t *testing.T) {
	runRateCases(t, []rateCase{
		{"exactly at the threshold trips", machine.FailureRate(50, 4, machine.LastCalls(4)), "SSFF", 4, failureRate(2, 4, 4, 50, 50)},
		{"one failure below the threshold stays closed", machine.FailureRate(50, 4, machine.LastCalls(4)), "SSSFSSSF", 0, events.Reason{}},
		{"2 of 3 is below 66.7%: it trips at 3 of 3", machine.FailureRate(66.7, 3, machine.LastCalls(3)), "SFFF", 4, failureRate(3, 3, 3, 100, 66.7)},
		{"2 of 3 is above 66.6%: it trips", machine.FailureRate(66.6, 3, machine.LastCalls(3)), "SFF", 3, failureRate(2, 3, 3, 200.0/3, 66.6)},
		{"below the minimum calls nothing trips", machine.FailureRate(50, 4, machine.LastCalls(10)), "FFF", 0, events.Reason{}},
		{"at the minimum calls it trips", machine.FailureRate(50, 4, machine.LastCalls(10)), "FFFF", 4, failureRate(4, 4, 4, 100, 50)},
		// A success never trips: the policy is evaluated when a failure is
		// recorded, so the minimum reached by a success waits for the next
		// failure.
		{"the minimum reached by a success trips on the next failure", machine.FailureRate(50, 4, machine.LastCalls(10)), "FFFSF", 5, failureRate(4, 5, 4, 80, 50)},
		// 100% over the last 3 calls: only once the success has left.
		{"the oldest call leaves the window", machine.FailureRate(100, 3, machine.LastCalls(3)), "FSFFF", 5, failureRate(3, 3, 3, 100, 100)},
		{"a ring that wraps many times keeps exact counts", machine.FailureRate(75, 8, machine.LastCalls(8)),
			"SFSFSFSF" + "SSSSSSSS" + "SFSFSFSF" + "SFFFFFF", 29, failureRate(6, 8, 8, 75, 75)},
		{"ignored calls are not counted", machine.FailureRate(100, 2, machine.LastCalls(2)), "FIIF", 4, failureRate(2, 2, 2, 100, 100)},
		{"a window of one", machine.FailureRate(100, 1, machine.LastCalls(1)), "SF", 2, failureRate(1, 1, 1, 100, 100)},
	})
}

func TestFailureRateOverLastDuration(t *testing.T) {
	w := machine.LastDuration(10*time.Second, 10) // 1s buckets
	// At t0 two failures, at t0+9.5s two successes: 4 calls, 2 failed.
	setup := func(t *testing.T) *fixture {
		f := newFixture(t, machine.WithTripPolicy(machine.FailureRate(50, 4, w)))
		f.play("FF")
		f.clk.Advance(9500 * time.Millisecond)
		f.play("SS")
		f.wantWindows(counts(events.PolicyFailureRate, 4, 2, 0))
		f.wantState(events.Closed) // a success never trips
		return f
	}
	t.Run("a nanosecond before its bucket rolls over, a call still counts", func(t *testing.T) {
		f := setup(t)
		f.clk.Advance(500*time.Millisecond - time.Nanosecond)
		f.play("F") // 5 calls, 3 failed: 60%
		f.wantState(events.Open)
		if r := f.last().Reason; r != failureRate(3, 5, 4, 60, 50) {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("when its bucket rolls over, a call leaves the window", func(t *testing.T) {
		f := setup(t)
		f.clk.Advance(500 * time.Millisecond) // t0+10s: the bucket of t0 is gone
		f.wantWindows(counts(events.PolicyFailureRate, 2, 0, 0))
		f.play("F") // 3 calls: below the minimum
		f.wantState(events.Closed)
		f.play("F") // 4 calls, 2 failed
		f.wantState(events.Open)
		if r := f.last().Reason; r != failureRate(2, 4, 4, 50, 50) {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("a window idle for longer than its length is empty", func(t *testing.T) {
		f := setup(t)
		f.clk.Advance(time.Hour)
		f.wantWindows(counts(events.PolicyFailureRate, 0, 0, 0))
		f.play("FFF")
		f.wantState(events.Closed)
		f.wantWindows(counts(events.PolicyFailureRate, 3, 3, 0))
	})
	t.Run("buckets are reused round the ring", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(machine.FailureRate(100, 5, machine.LastDuration(5*time.Second, 5))))
		// One call a second for a minute: each bucket is reused 12 times,
		// and the window holds the last 5 calls.
		for i := range 60 {
			if i == 57 {
				f.play("F")
			} else {
				f.play("S")
			}
			f.clk.Advance(time.Second)
		}
		f.wantWindows(counts(events.PolicyFailureRate, 4, 1, 0)) // t0+60s: the calls of t0+56s..59s
		f.play("FFFF")
		f.wantState(events.Closed) // 8 calls, 5 failed
		f.clk.Advance(3 * time.Second)
		f.play("F") // the calls of t0+59s..63s: S, then 5 F
		f.wantState(events.Closed)
		f.clk.Advance(time.Second)
		f.play("F") // t0+60s..64s: 6 F of 6
		f.wantState(events.Open)
		if r := f.last().Reason; r.Calls != 6 || r.Failures != 6 {
			t.Fatalf("reason = %+v", r)
		}
	})
}

func TestSlowCallRate(t *testing.T) {
	slowReason := func(slow, calls, failures uint64, rate float64) events.Reason {
		return events.Reason{Policy: events.PolicySlowCallRate, Failures: failures, Calls: calls, Slow: slow, Rate: rate,
			RateThreshold: 50, MinCalls: 2, SlowerThan: time.Second}
	}
	t.Run("a call of exactly slowerThan is not slow; a nanosecond more is", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(machine.SlowCallRate(50, time.Second, 2, machine.LastCalls(4))))
		for range 2 {
			if err := f.do(f.slow(time.Second, nil)); err != nil {
				t.Fatal(err)
			}
		}
		f.wantWindows(counts(events.PolicySlowCallRate, 2, 0, 0))
		if err := f.do(f.slow(time.Second+time.Nanosecond, nil)); err != nil { // 1 of 3
			t.Fatal(err)
		}
		f.wantState(events.Closed)
		if err := f.do(f.slow(time.Second+time.Nanosecond, nil)); err != nil { // 2 of 4: 50%
			t.Fatal(err)
		}
		f.wantState(events.Open)
		f.wantSteps(tripStep)
		if r := f.last().Reason; r != slowReason(2, 4, 0, 50) {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("a slow failure is slow and failed", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(
			machine.SlowCallRate(50, time.Second, 2, machine.LastCalls(4)),
			machine.FailureRate(100, 4, machine.LastCalls(4)), // shares the window
		))
		_ = f.do(f.slow(2*time.Second, errDep)) // below the minimum calls
		f.wantState(events.Closed)
		f.wantWindows(counts(events.PolicySlowCallRate, 1, 1, 1), counts(events.PolicyFailureRate, 1, 1, 1))
		_ = f.do(f.slow(3*time.Second, nil)) // 2 slow of 2; a slow success evaluates the policies
		f.wantState(events.Open)
		if r := f.last().Reason; r != slowReason(2, 2, 1, 100) {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("a permit held across time is timed from Allow to Done", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(machine.SlowCallRate(50, time.Second, 2, machine.LastCalls(4))))
		ctx := context.Background()
		p1, err := f.b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(500 * time.Millisecond)
		p2, err := f.b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(700 * time.Millisecond)
		p2.Done(nil) // 700ms
		p1.Done(nil) // 1.2s: slow
		f.wantState(events.Open)
		if r := f.last().Reason; r != slowReason(1, 2, 0, 50) {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("slow calls in half-open are probes like any other", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(machine.SlowCallRate(50, time.Second, 1, machine.LastCalls(4))))
		_ = f.do(f.slow(2*time.Second, nil))
		f.wantState(events.Open)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		_ = f.do(f.slow(2*time.Second, nil))
		_ = f.do(f.slow(2*time.Second, nil))
		f.wantState(events.Closed)
		f.wantSteps(tripStep, probeStep, recoverStep)
	})
}

func TestCustomPolicy(t *testing.T) {
	t.Run("trips when its function says so, with its name", func(t *testing.T) {
		var seen []machine.WindowCounts
		f := newFixture(t, machine.WithTripPolicy(machine.CustomPolicy("two_failures", machine.LastCalls(10), func(c machine.WindowCounts) bool {
			seen = append(seen, c)
			return c.Failures >= 2
		})))
		f.play("SSFS")
		f.wantState(events.Closed)
		f.play("F")
		f.wantState(events.Open)
		want := []machine.WindowCounts{{Calls: 3, Failures: 1}, {Calls: 5, Failures: 2}} // evaluated on failures only
		if !slices.Equal(seen, want) {
			t.Fatalf("the function saw %+v, want %+v", seen, want)
		}
		if r := f.last().Reason; r != (events.Reason{Policy: "two_failures", Failures: 2, Calls: 5, LastError: errDep.Error()}) {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("sees slow calls through a slow-call policy over an equal window", func(t *testing.T) {
		var got machine.WindowCounts
		custom := func(w machine.Window) machine.TripPolicy {
			return machine.CustomPolicy("watch", w, func(c machine.WindowCounts) bool { got = c; return false })
		}
		f := newFixture(t, machine.WithTripPolicy(
			custom(machine.LastCalls(8)),
			machine.SlowCallRate(100, time.Second, 8, machine.LastCalls(8)),
		))
		_ = f.do(f.slow(2*time.Second, nil))
		if got != (machine.WindowCounts{Calls: 1, Slow: 1}) {
			t.Fatalf("custom policy saw %+v", got)
		}
		g := newFixture(t, machine.WithTripPolicy(
			custom(machine.LastCalls(9)),
			machine.SlowCallRate(100, time.Second, 8, machine.LastCalls(8)),
		))
		_ = g.do(g.slow(2*time.Second, errDep))
		if got != (machine.WindowCounts{Calls: 1, Failures: 1}) {
			t.Fatalf("custom policy over another window saw %+v", got)
		}
	})
}

func TestTripPolicyCombinations(t *testing.T) {
	t.Run("WithTripPolicy replaces the default", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(machine.FailureRate(100, 10, machine.LastCalls(10))))
		f.play("FFFFFFFFF") // 9 consecutive failures
		f.wantState(events.Closed)
		if c := f.b.Counts(); c.ConsecutiveFailures != 0 {
			t.Fatalf("ConsecutiveFailures = %d without that policy, want 0, as documented", c.ConsecutiveFailures)
		}
		f.play("F")
		f.wantState(events.Open)
	})
	t.Run("ConsecutiveFailures is WithFailureThreshold", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(machine.ConsecutiveFailures(3)))
		f.play("FFSFF")
		f.wantState(events.Closed)
		f.wantCounts(consecutive(2))
		f.play("F")
		f.wantState(events.Open)
		if r := f.last().Reason; r != (events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 3, Threshold: 3, LastError: errDep.Error()}) {
			t.Fatalf("reason = %+v", r)
		}
		if f.b.Windows() != nil {
			t.Fatalf("Windows() = %v without window policies", f.b.Windows())
		}
	})
	t.Run("with WithFailureThreshold, the lowest consecutive threshold trips", func(t *testing.T) {
		f := newFixture(t, machine.WithFailureThreshold(4), machine.WithTripPolicy(machine.ConsecutiveFailures(6), machine.FailureRate(100, 10, machine.LastCalls(10))))
		f.play("FFF")
		f.wantState(events.Closed)
		f.play("F")
		f.wantState(events.Open)
		if r := f.last().Reason; r.Policy != events.PolicyConsecutiveFailures || r.Threshold != 4 {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("when two fire on one call, the reason names consecutive failures first", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(machine.FailureRate(100, 3, machine.LastCalls(3)), machine.ConsecutiveFailures(3)))
		f.play("FFF")
		if r := f.last().Reason; r.Policy != events.PolicyConsecutiveFailures {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("then the others in the order given", func(t *testing.T) {
		f := newFixture(t, machine.WithTripPolicy(
			machine.CustomPolicy("first", machine.LastCalls(5), func(c machine.WindowCounts) bool { return c.Failures >= 2 }),
			machine.FailureRate(100, 2, machine.LastCalls(2)),
		))
		f.play("FF")
		if r := f.last().Reason; r.Policy != "first" {
			t.Fatalf("reason = %+v", r)
		}
	})
	t.Run("policies given in two options add up", func(t *testing.T) {
		f := newFixture(t,
			machine.WithTripPolicy(machine.FailureRate(100, 5, machine.LastCalls(5))),
			machine.WithTripPolicy(machine.CustomPolicy("any", machine.LastDuration(time.Minute, 6), func(machine.WindowCounts) bool { return false })),
		)
		f.play("SF")
		f.wantWindows(counts(events.PolicyFailureRate, 2, 1, 0), counts("any", 2, 1, 0))
	})
}

// TestWindowsResetOnTransitions: each closed period starts with empty
// windows, and an outcome admitted in an earlier one lands in none.
func TestWindowsResetOnTransitions(t *testing.T) {
	for _, w := range []machine.Window{machine.LastCalls(10), machine.LastDuration(time.Minute, 6)} {
		t.Run(w.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, machine.WithTripPolicy(machine.FailureRate(50, 4, w)), machine.WithSuccessThreshold(1))
			late, err := f.b.Allow(ctx) // admitted in the first closed period
			if err != nil {
				t.Fatal(err)
			}
			f.play("SFSF")
			f.wantState(events.Open)
			f.wantWindows(counts(events.PolicyFailureRate, 0, 0, 0)) // no window outside closed
			f.clk.Advance(machine.DefaultRecoveryTimeout)
			f.play("S") // probe, recover
			f.wantState(events.Closed)
			f.wantWindows(counts(events.PolicyFailureRate, 0, 0, 0))
			late.Done(errDep)
			f.wantWindows(counts(events.PolicyFailureRate, 0, 0, 0))
			if c := f.b.Counts(); c.Failures != 3 {
				t.Fatalf("Failures = %d: the late outcome counts in Counts", c.Failures)
			}
			f.play("FSF") // 3 calls: below the minimum, though 2 failed
			f.wantState(events.Closed)
			f.play("F")
			f.wantState(events.Open)
			if err := f.b.ForceClose(ctx, operator); err != nil {
				t.Fatal(err)
			}
			f.wantWindows(counts(events.PolicyFailureRate, 0, 0, 0))
			f.wantSteps(tripStep, probeStep, recoverStep, tripStep, step{events.ForceClose, events.Open, events.Closed})
		})
	}
}

func TestWindowString(t *testing.T) {
	for w, want := range map[machine.Window]string{
		machine.LastCalls(100):                   "LastCalls(100)",
		machine.LastDuration(10*time.Second, 10): "LastDuration(10s, 10)",
		{}:                                       "Window{}",
		machine.LastDuration(time.Millisecond, 1): "LastDuration(1ms, 1)",
	} {
		if got := w.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// TestRateWindowsAllocateNothingPerCall: recording in a window and
// evaluating the policies allocate nothing.
func TestRateWindowsAllocateNothingPerCall(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		policy machine.TripPolicy
	}{
		{"count window", machine.FailureRate(50, 100, machine.LastCalls(100))},
		{"time window", machine.FailureRate(50, 100, machine.LastDuration(10*time.Second, 10))},
		{"slow calls", machine.SlowCallRate(50, time.Second, 100, machine.LastCalls(100))},
		{"custom", machine.CustomPolicy("never", machine.LastCalls(100), func(machine.WindowCounts) bool { return false })},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := machine.New("alloc", machine.WithTripPolicy(c.policy))
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				i++
				if i%10 == 0 {
					_ = b.Do(ctx, failCall)
				} else {
					_ = b.Do(ctx, okCall)
				}
			})
			if allocs != 0 || b.State() != events.Closed {
				t.Fatalf("%v allocations per call (state %s)", allocs, b.State())
			}
		})
	}
}

// TestWindowsFigures: Windows gives each policy's figures on its counts, as
// the reason of its trip would: how close the breaker is to tripping.
func TestWindowsFigures(t *testing.T) {
	f := newFixture(t, machine.WithTripPolicy(
		machine.FailureRate(50, 4, machine.LastCalls(10)),
		machine.SlowCallRate(80, time.Second, 2, machine.LastCalls(10)),
		machine.CustomPolicy("never", machine.LastCalls(10), func(machine.WindowCounts) bool { return false }),
	))
	f.play("SF")
	_ = f.do(f.slow(2*time.Second, nil))
	got := f.b.Windows()
	want := []events.Reason{
		{Failures: 1, Calls: 3, Slow: 1, Rate: 100.0 / 3, RateThreshold: 50, MinCalls: 4},
		{Failures: 1, Calls: 3, Slow: 1, Rate: 100.0 / 3, RateThreshold: 80, MinCalls: 2, SlowerThan: time.Second},
		{Failures: 1, Calls: 3, Slow: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("Windows() = %+v", got)
	}
	for i := range want {
		if got[i].Figures != want[i] {
			t.Errorf("policy %s: Figures = %+v, want %+v", got[i].Policy, got[i].Figures, want[i])
		}
	}
}
