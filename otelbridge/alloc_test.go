package otelbridge_test

import (
	"context"
	"errors"
	"math"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/circuitry-go/circuitry/machine"
)

// hotPath is one call path measured by TestZeroAllocs and the benchmarks: a
// breaker set up with the bridge subscribed and observed (or not), a context
// and the protected function.
type hotPath struct {
	name    string
	sampler sdktrace.Sampler // of the rig's tracer provider; nil samples all
	span    bool             // call inside a span from the rig's tracer
	open    bool             // force the breaker open first: calls are rejected
	opts    []machine.Option
	fn      func(context.Context) error
}

func succeed(context.Context) error { return nil }
func fail(context.Context) error    { return errDependency }

var hotPaths = []hotPath{
	{name: "rejected call, unsampled span", sampler: sdktrace.NeverSample(), span: true, open: true, fn: succeed},
	{name: "rejected call, no span", open: true, fn: succeed},
	{name: "closed success", fn: succeed},
	{name: "closed success, unsampled span", sampler: sdktrace.NeverSample(), span: true, fn: succeed},
	{name: "closed failure below the threshold", opts: []machine.Option{machine.WithFailureThreshold(math.MaxInt32)}, fn: fail},
}

// setup returns the breaker and context of the path; with bridge, the
// breaker has the bridge subscribed and observed on the real SDK.
func (h hotPath) setup(t testing.TB, bridge bool) (*machine.Breaker, context.Context) {
	t.Helper()
	r := newRig(t, h.sampler)
	var b *machine.Breaker
	if bridge {
		b = r.newBreaker(t, "hot", h.opts...)
		r.observe(t, b)
	} else {
		var err error
		if b, err = machine.New("hot", append([]machine.Option{machine.WithClock(r.clock)}, h.opts...)...); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if h.open {
		if err := b.ForceOpen(ctx, machine.Override{Operator: "test", Note: "measure rejections"}); err != nil {
			t.Fatal(err)
		}
	}
	if h.span {
		c, span := r.tracer.Start(ctx, "caller")
		t.Cleanup(func() { span.End() })
		if span.IsRecording() {
			t.Fatalf("%s: the caller's span is recording", h.name)
		}
		ctx = c
	}
	return b, ctx
}

// check fails the test unless err is what the path's calls return.
func (h hotPath) check(t testing.TB, err error) {
	switch {
	case h.open:
		if !errors.Is(err, machine.ErrOpen) {
			t.Fatalf("%s: Do returned %v, want a rejection", h.name, err)
		}
	case err != h.fn(context.Background()):
		t.Fatalf("%s: Do returned %v", h.name, err)
	}
}

// TestZeroAllocs checks that, with the bridge subscribed and Observe
// registered, a call allocates nothing on each hot path: a rejection with an
// unsampled span or with none, and a success or a failure in closed.
func TestZeroAllocs(t *testing.T) {
	for _, h := range hotPaths {
		t.Run(h.name, func(t *testing.T) {
			b, ctx := h.setup(t, true)
			allocs := testing.AllocsPerRun(1000, func() { h.check(t, b.Do(ctx, h.fn)) })
			if allocs != 0 {
				t.Errorf("%v allocations per call, want 0", allocs)
			}
		})
	}
}
