package otelbridge_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/circuitry-go/circuitry/machine"
)

// TestConcurrentCallsAndCollect runs calls through one breaker from several
// goroutines, each call in its own span, with bursts of failures that may
// trip the breaker, while another goroutine forces the breaker open and
// closed in turn (once every togglePace calls: the callers wait for it, so
// that both states see calls whatever the scheduler does) and another
// collects the metrics over and over. At the end the calls counter equals the calls made, by outcome; the
// transitions counter and the transition span events each equal the
// transitions the breaker made; and every rejected call's span has its
// rejected event. Run it with -race.
func TestConcurrentCallsAndCollect(t *testing.T) {
	const (
		workers   = 8
		perWorker = 400
		// togglePace is how many calls pass between two toggles.
		togglePace = 64
	)
	r := newRig(t, nil)
	b := r.newBreaker(t, "shared", machine.WithFailureThreshold(3))
	r.observe(t, b)

	var made [workers]struct{ successes, failures, rejections int64 }
	// progress counts the calls made, toggles the toggles done.
	var collections, progress, toggles atomic.Int64
	stop := make(chan struct{})
	var collector sync.WaitGroup
	collector.Go(func() {
		for {
			var rm metricdata.ResourceMetrics
			if err := r.reader.Collect(context.Background(), &rm); err != nil {
				t.Errorf("Collect: %v", err)
				return
			}
			collections.Add(1)
			select {
			case <-stop:
				return
			default:
			}
		}
	})

	var callers, toggler sync.WaitGroup
	callsDone := make(chan struct{})
	for w := range workers {
		callers.Go(func() {
			m := &made[w]
			for i := range perWorker {
				for progress.Load() >= (toggles.Load()+1)*togglePace {
					runtime.Gosched() // the toggler's turn
				}
				fail := (i+8*w)%64 < 4 // 4 failures in a row every 64 calls
				ctx, sp := r.tracer.Start(context.Background(), "call")
				err := b.Do(ctx, func(context.Context) error {
					if fail {
						return errDependency
					}
					return nil
				})
				sp.End()
				progress.Add(1)
				switch {
				case err == nil:
					m.successes++
				case errors.Is(err, machine.ErrOpen):
					m.rejections++
				case errors.Is(err, errDependency):
					m.failures++
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
		})
	}
	toggler.Go(func() {
		for i := 0; ; i++ {
			for progress.Load() < int64(i+1)*togglePace {
				select {
				case <-callsDone:
					return
				default:
					runtime.Gosched()
				}
			}
			ctx, sp := r.tracer.Start(context.Background(), "toggle")
			var err error
			if i%2 == 0 {
				err = b.ForceOpen(ctx, machine.Override{Operator: "test", Note: "toggle"})
			} else {
				err = b.ForceClose(ctx, machine.Override{Operator: "test", Note: "toggle"})
			}
			sp.End()
			if err != nil && !errors.Is(err, machine.ErrIllegalTransition) {
				t.Errorf("toggle %d: %v", i, err)
			}
			toggles.Add(1)
		}
	})
	callers.Wait()
	close(callsDone)
	toggler.Wait()
	close(stop)
	collector.Wait()
	if collections.Load() == 0 {
		t.Fatal("no collection ran")
	}

	var successes, failures, rejections int64
	for _, m := range made {
		successes += m.successes
		failures += m.failures
		rejections += m.rejections
	}
	if total := successes + failures + rejections; total != workers*perWorker {
		t.Fatalf("%d calls classified, want %d", total, workers*perWorker)
	}
	sm := r.collect(t)
	metricdatatest.AssertEqual(t, callsMetric(callPoints("shared", successes, failures, 0, rejections)...),
		mustMetric(t, sm, "circuitry.breaker.calls"), metricdatatest.IgnoreTimestamp())
	snap := b.Snapshot()
	metricdatatest.AssertEqual(t, stateMetric(statePointsOf("shared", "enforcing", snap.Event.Manual(), snap.State)...),
		mustMetric(t, sm, "circuitry.breaker.state"), metricdatatest.IgnoreTimestamp())

	transitions := int64(b.Snapshot().Seq)
	if transitions == 0 {
		t.Fatal("the breaker never changed state")
	}
	var counted int64
	for _, p := range mustMetric(t, sm, "circuitry.breaker.transitions").Data.(metricdata.Sum[int64]).DataPoints {
		counted += p.Value
	}
	if counted != transitions {
		t.Errorf("transitions counter sums to %d, the breaker made %d transitions", counted, transitions)
	}

	var transitionEvents, rejectedEvents int64
	for _, sp := range r.rec.Ended() {
		for _, ev := range sp.Events() {
			switch ev.Name {
			case "circuitry.breaker.transition":
				transitionEvents++
			case "circuitry.breaker.rejected":
				rejectedEvents++
			default:
				t.Errorf("unexpected span event %q", ev.Name)
			}
		}
	}
	if transitionEvents != transitions {
		t.Errorf("%d transition span events, the breaker made %d transitions", transitionEvents, transitions)
	}
	if rejectedEvents != rejections {
		t.Errorf("%d rejected span events, %d calls were rejected", rejectedEvents, rejections)
	}
	t.Logf("%d calls: %d successes, %d failures, %d rejections; %d transitions; %d toggles; %d collections",
		workers*perWorker, successes, failures, rejections, transitions, toggles.Load(), collections.Load())
}
