package grpcbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/circuitry-go/circuitry/grpcbreaker"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// warmingUp is a health service that is not ready yet.
type warmingUp struct {
	healthpb.UnimplementedHealthServer
}

func (warmingUp) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return nil, status.Error(codes.Unavailable, "warming up")
}

// A client guards its calls with one breaker per method: after two
// Unavailable the breaker trips, and the third call is rejected at once,
// as codes.Unavailable that says how long to wait. The record of the trip
// names the code.
func Example() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, warmingUp{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	ctx := context.Background()
	b, err := machine.New("/grpc.health.v1.Health/Check", machine.WithFailureThreshold(2))
	if err != nil {
		panic(err)
	}
	defer b.Close(ctx)
	ic, err := grpcbreaker.New(grpcbreaker.Single(b)) // a registry's Get in a service
	if err != nil {
		panic(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(ic.UnaryClient),
		grpc.WithChainStreamInterceptor(ic.StreamClient),
	)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)

	for i := 1; i <= 3; i++ {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		wait, _ := grpcbreaker.RetryAfter(err)
		fmt.Printf("call %d: %v, rejected: %v, retry after %v\n",
			i, status.Code(err), errors.Is(err, machine.ErrOpen), wait.Round(time.Second))
	}

	if err := b.Sync(ctx); err != nil {
		panic(err)
	}
	recs, err := b.Journal().Read(ctx, b.Name(), 0)
	if err != nil {
		panic(err)
	}
	for _, r := range recs {
		fmt.Printf("%s: %s after %q\n", r.Event, r.Reason.Policy, r.Reason.LastError)
	}
	// Output:
	// call 1: Unavailable, rejected: false, retry after 0s
	// call 2: Unavailable, rejected: false, retry after 0s
	// call 3: Unavailable, rejected: true, retry after 30s
	// trip: consecutive_failures after "grpc Unavailable: warming up"
}
