package grpcbreaker_test

import (
	"context"
	"testing"

	"github.com/circuitry-go/circuitry/grpcbreaker"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// okInvoker is a unary invoker that succeeds at once, so that a benchmark
// measures the interceptor alone.
func okInvoker(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
	return nil
}

var errUnavailable = status.Error(codes.Unavailable, "down")

func downInvoker(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
	return errUnavailable
}

// TestClosedPathAllocatesNothing: on a closed breaker, the unary client
// and server interceptors allocate nothing of their own, with pushback on
// or off.
func TestClosedPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	b, _ := newBreaker(t, "alloc")
	ctx := context.Background()
	for _, pushback := range []bool{true, false} {
		ic := newInterceptors(t, b, grpcbreaker.WithPushback(pushback))
		if n := testing.AllocsPerRun(1000, func() {
			if err := ic.UnaryClient(ctx, "/pkg.Svc/M", nil, nil, nil, okInvoker); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("UnaryClient, pushback %v: %v allocations per call, want 0", pushback, n)
		}
		info := &grpc.UnaryServerInfo{FullMethod: "/pkg.Svc/M"}
		handler := func(context.Context, any) (any, error) { return nil, nil }
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := ic.UnaryServer(ctx, nil, info, handler); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("UnaryServer, pushback %v: %v allocations per call, want 0", pushback, n)
		}
	}
	if c := b.Counts(); c.Successes != 4004 { // AllocsPerRun runs once more to warm up
		t.Fatalf("successes = %d", c.Successes)
	}
}

// BenchmarkUnaryClientInterceptor measures the unary client interceptor
// alone, around an invoker that returns at once: bare is the invoker
// without it.
func BenchmarkUnaryClientInterceptor(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, call func() error) {
		b.ReportAllocs()
		for b.Loop() {
			_ = call()
		}
	}
	b.Run("bare", func(b *testing.B) {
		run(b, func() error { return okInvoker(ctx, "/pkg.Svc/M", nil, nil, nil) })
	})
	for _, pushback := range []bool{true, false} {
		name := map[bool]string{true: "closed", false: "closed-no-pushback"}[pushback]
		b.Run(name, func(b *testing.B) {
			br, _ := newBreaker(b, "bench")
			ic := newInterceptors(b, br, grpcbreaker.WithPushback(pushback))
			run(b, func() error { return ic.UnaryClient(ctx, "/pkg.Svc/M", nil, nil, nil, okInvoker) })
		})
	}
	b.Run("closed-business-error", func(b *testing.B) {
		br, _ := newBreaker(b, "bench")
		ic := newInterceptors(b, br)
		notFound := status.Error(codes.NotFound, "no such row")
		inv := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return notFound }
		run(b, func() error { return ic.UnaryClient(ctx, "/pkg.Svc/M", nil, nil, nil, inv) })
	})
	b.Run("failure", func(b *testing.B) {
		// A threshold the benchmark never reaches: every call fails and
		// is counted.
		br, _ := newBreaker(b, "bench", machine.WithFailureThreshold(1<<31-1))
		ic := newInterceptors(b, br)
		run(b, func() error { return ic.UnaryClient(ctx, "/pkg.Svc/M", nil, nil, nil, downInvoker) })
	})
	b.Run("rejected", func(b *testing.B) {
		br, _ := newBreaker(b, "bench", machine.WithFailureThreshold(1))
		ic := newInterceptors(b, br)
		_ = ic.UnaryClient(ctx, "/pkg.Svc/M", nil, nil, nil, downInvoker)
		run(b, func() error { return ic.UnaryClient(ctx, "/pkg.Svc/M", nil, nil, nil, okInvoker) })
	})
}

// BenchmarkUnaryLoopback compares a health Check on a loopback server
// without the interceptor (bare) and through it, with and without reading
// the trailer for pushback, on the same server (one connection each).
func BenchmarkUnaryLoopback(b *testing.B) {
	sc := newScript()
	bare, _ := serve(b, sc, nil)
	br, _ := newBreaker(b, "loopback")
	ic := newInterceptors(b, br)
	guarded, _ := serve(b, sc, nil, grpc.WithUnaryInterceptor(ic.UnaryClient))
	noPushback, _ := serve(b, sc, nil, grpc.WithUnaryInterceptor(newInterceptors(b, br, grpcbreaker.WithPushback(false)).UnaryClient))
	ctx := context.Background()
	req := &healthpb.HealthCheckRequest{}
	for _, tc := range []struct {
		name string
		hc   healthpb.HealthClient
	}{{"bare", bare}, {"interceptor", guarded}, {"interceptor-no-pushback", noPushback}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.hc.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
