package grpcbreaker_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/grpcbreaker"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The tests call the gRPC health service (Check is unary, Watch
// server-streaming) of a scripted server: the request's service name says
// what the server does, as "|"-separated words:
//
//	code=NAME     end with that status code (a codes.Code's String); default OK
//	msg=TEXT      the status message; default "scripted"
//	pushback=V    send V in the grpc-retry-pushback-ms trailer (repeat it for two values)
//	send=N        Watch: send N messages before ending
//	block         wait for the request's ctx to be done, then end with its error
//
// A word "block" makes Check and Watch signal on script.blocked first.
type script struct {
	healthpb.UnimplementedHealthServer
	checks, watches atomic.Int64
	blocked         chan struct{}
}

func newScript() *script { return &script{blocked: make(chan struct{}, 16)} }

// codeNames maps each code's name to the code.
var codeNames = func() map[string]codes.Code {
	m := map[string]codes.Code{}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		m[c.String()] = c
	}
	return m
}()

type plan struct {
	code     codes.Code
	msg      string
	pushback []string
	send     int
	block    bool
}

func parsePlan(s string) plan {
	p := plan{msg: "scripted"}
	for w := range strings.SplitSeq(s, "|") {
		k, v, _ := strings.Cut(w, "=")
		switch k {
		case "code":
			c, ok := codeNames[v]
			if !ok {
				panic("script: no code " + v)
			}
			p.code = c
		case "msg":
			p.msg = v
		case "pushback":
			p.pushback = append(p.pushback, v)
		case "send":
			p.send, _ = strconv.Atoi(v)
		case "block":
			p.block = true
		}
	}
	return p
}

func (p plan) end(ctx context.Context, setTrailer func(metadata.MD)) error {
	if p.block {
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	if len(p.pushback) > 0 {
		md := metadata.MD{}
		for _, v := range p.pushback {
			md.Append(grpcbreaker.PushbackKey, v)
		}
		setTrailer(md)
	}
	if p.code == codes.OK {
		return nil
	}
	return status.Error(p.code, p.msg)
}

func (s *script) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	s.checks.Add(1)
	p := parsePlan(req.GetService())
	if p.block {
		s.blocked <- struct{}{}
	}
	if err := p.end(ctx, func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (s *script) Watch(req *healthpb.HealthCheckRequest, ss grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	s.watches.Add(1)
	p := parsePlan(req.GetService())
	for range p.send {
		if err := ss.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
			return err
		}
	}
	if p.block {
		s.blocked <- struct{}{}
	}
	return p.end(ss.Context(), ss.SetTrailer)
}

// serve starts a gRPC server on a loopback port with the script and the
// server options, and returns a client connection to it with the dial
// options; both are stopped at the test's end.
func serve(t testing.TB, sc *script, srvOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) (healthpb.HealthClient, *grpc.ClientConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(srvOpts...)
	healthpb.RegisterHealthServer(srv, sc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	cc, err := grpc.NewClient(lis.Addr().String(),
		append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)...)
	if err != nil {
		srv.Stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
		<-done
	})
	return healthpb.NewHealthClient(cc), cc
}

// client is a connection to a scripted server whose calls pass through
// ic's client interceptors.
func client(t testing.TB, sc *script, ic *grpcbreaker.Interceptors) (healthpb.HealthClient, *grpc.ClientConn) {
	t.Helper()
	return serve(t, sc, nil, grpc.WithUnaryInterceptor(ic.UnaryClient), grpc.WithStreamInterceptor(ic.StreamClient))
}

// server is a connection to a scripted server whose handlers are guarded
// by ic's server interceptors.
func server(t testing.TB, sc *script, ic *grpcbreaker.Interceptors) healthpb.HealthClient {
	t.Helper()
	hc, _ := serve(t, sc, []grpc.ServerOption{grpc.UnaryInterceptor(ic.UnaryServer), grpc.StreamInterceptor(ic.StreamServer)})
	return hc
}

// epoch is the fake clock's start.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// newBreaker returns a breaker on a fake clock, closed at the test's end.
func newBreaker(t testing.TB, name string, opts ...machine.Option) (*machine.Breaker, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.New(epoch)
	b, err := machine.New(name, append([]machine.Option{machine.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b, clk
}

// newInterceptors returns interceptors guarding every call with b.
func newInterceptors(t testing.TB, b *machine.Breaker, opts ...grpcbreaker.Option) *grpcbreaker.Interceptors {
	t.Helper()
	ic, err := grpcbreaker.New(grpcbreaker.Single(b), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

// records returns b's transitions, once its journal holds them all.
func records(t testing.TB, b *machine.Breaker) []events.Transition {
	t.Helper()
	ctx := context.Background()
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := b.Journal().Read(ctx, b.Name(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// check calls Check with the script s.
func check(ctx context.Context, hc healthpb.HealthClient, s string, opts ...grpc.CallOption) error {
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: s}, opts...)
	return err
}

// eventually waits up to 5s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// counts is the part of a breaker's counts the tests compare.
type counts struct{ Successes, Failures, Ignored, Rejected uint64 }

func countsOf(b *machine.Breaker) counts {
	c := b.Counts()
	return counts{c.Successes, c.Failures, c.Ignored, c.Rejected}
}
