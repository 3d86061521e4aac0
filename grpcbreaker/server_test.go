package grpcbreaker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/grpcbreaker"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The server interceptor counts what its handlers return as the client
// interceptor counts what the server returns.
func TestUnaryServerCodes(t *testing.T) {
	ctx := context.Background()
	for c, want := range defaultOutcomes {
		t.Run(c.String(), func(t *testing.T) {
			b, _ := newBreaker(t, "server-codes")
			hc := server(t, newScript(), newInterceptors(t, b))
			if err := check(ctx, hc, "code="+c.String()); status.Code(err) != c {
				t.Fatalf("err = %v, want %v", err, c)
			}
			var wantCounts counts
			switch want {
			case machine.Success:
				wantCounts.Successes = 1
			case machine.Failure:
				wantCounts.Failures = 1
			}
			if got := countsOf(b); got != wantCounts {
				t.Fatalf("counts = %+v, want %+v", got, wantCounts)
			}
		})
	}
}

// A client that cancels leaves the handler's outcome ignored: the
// request's context is done.
func TestUnaryServerClientCancelIgnored(t *testing.T) {
	b, _ := newBreaker(t, "server-cancel", machine.WithFailureThreshold(1))
	sc := newScript()
	hc := server(t, sc, newInterceptors(t, b))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sc.blocked
		cancel()
	}()
	if err := check(ctx, hc, "block"); status.Code(err) != codes.Canceled {
		t.Fatalf("err = %v", err)
	}
	eventually(t, "the ignored call", func() bool { return countsOf(b) == counts{Ignored: 1} })
}

// A tripped server rejects calls before its handler runs: its client gets
// codes.Unavailable that says for how long, in the status's RetryInfo and
// in the pushback trailer.
func TestUnaryServerRejects(t *testing.T) {
	for _, pushback := range []bool{true, false} {
		t.Run(map[bool]string{true: "pushback", false: "no pushback"}[pushback], func(t *testing.T) {
			b, _ := newBreaker(t, "server", machine.WithFailureThreshold(2))
			sc := newScript()
			hc := server(t, sc, newInterceptors(t, b, grpcbreaker.WithPushback(pushback)))
			ctx := context.Background()
			for range 2 {
				_ = check(ctx, hc, "code=Internal")
			}
			var md metadata.MD
			err := check(ctx, hc, "", grpc.Trailer(&md))
			checkRemoteRejection(t, err, md, "server", pushback)
			if n := sc.checks.Load(); n != 2 {
				t.Fatalf("the handler ran %d times, want 2", n)
			}
			if got := countsOf(b); got != (counts{Failures: 2, Rejected: 1}) {
				t.Fatalf("counts = %+v", got)
			}
		})
	}
}

// checkRemoteRejection checks that err and the trailer md are a server's
// rejection by breaker name, open for the default recovery timeout yet.
func checkRemoteRejection(t *testing.T, err error, md metadata.MD, name string, pushback bool) {
	t.Helper()
	d := machine.DefaultRecoveryTimeout
	st, _ := status.FromError(err)
	if st.Code() != codes.Unavailable || st.Message() != `circuitry: breaker "`+name+`" is open; retry after `+d.String() {
		t.Fatalf("status = %v", st)
	}
	if errors.Is(err, machine.ErrOpen) {
		t.Fatal("a remote rejection matches machine.ErrOpen: it has crossed the wire as a status")
	}
	if got, ok := grpcbreaker.RetryAfter(err); !ok || got != d {
		t.Fatalf("RetryAfter = %v %v, want %v", got, ok, d)
	}
	got, ok := grpcbreaker.Pushback(md)
	if pushback && (!ok || got != d) || !pushback && ok {
		t.Fatalf("the trailer's pushback = %v %v (trailer %v), want %v", got, ok, md, pushback)
	}
}

// The stream server interceptor counts what the stream handler returns,
// and rejects streams before the handler runs.
func TestStreamServerTripsAndRejects(t *testing.T) {
	b, _ := newBreaker(t, "server-stream", machine.WithFailureThreshold(2))
	sc := newScript()
	hc := server(t, sc, newInterceptors(t, b))
	ctx := context.Background()
	for _, s := range []string{"send=2", "send=1|code=Unavailable", "code=DataLoss"} {
		w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: s})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = drain(t, w)
	}
	if got := countsOf(b); got != (counts{Successes: 1, Failures: 2}) || b.State() != events.Open {
		t.Fatalf("counts = %+v, state %v", got, b.State())
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "send=5"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := drain(t, w)
	if n != 0 {
		t.Fatalf("received %d messages from a rejected stream", n)
	}
	checkRemoteRejection(t, err, w.Trailer(), "server-stream", true)
	if got := sc.watches.Load(); got != 3 {
		t.Fatalf("the handler ran %d times, want 3", got)
	}
}

// The pushback a server sends with its rejection opens its client's
// breaker for that long: the two breakers agree on when to try again.
func TestServerPushbackOpensTheClientsBreaker(t *testing.T) {
	sb, _ := newBreaker(t, "server", machine.WithFailureThreshold(1))
	cb, _ := newBreaker(t, "client")
	sc := newScript()
	hc, _ := serve(t, sc,
		[]grpc.ServerOption{grpc.UnaryInterceptor(newInterceptors(t, sb).UnaryServer)},
		grpc.WithUnaryInterceptor(newInterceptors(t, cb).UnaryClient))
	ctx := context.Background()
	_ = check(ctx, hc, "code=Unavailable")
	_ = check(ctx, hc, "") // the server rejects it
	recs := records(t, cb)
	if len(recs) != 1 || recs[0].Reason.Policy != events.PolicyRetryAfter || recs[0].OpenFor != machine.DefaultRecoveryTimeout ||
		recs[0].Reason.LastError != `grpc Unavailable: circuitry: breaker "server" is open; retry after 30s` {
		t.Fatalf("the client's records = %+v", recs)
	}
	err := check(ctx, hc, "") // the client rejects it
	checkRejection(t, err, "client", machine.DefaultRecoveryTimeout)
	if n := sc.checks.Load(); n != 1 {
		t.Fatalf("the handler ran %d times", n)
	}
}

// fakeServerStream is a grpc.ServerStream on ctx that keeps its trailer.
type fakeServerStream struct {
	grpc.ServerStream
	ctx     context.Context
	trailer metadata.MD
}

func (f *fakeServerStream) Context() context.Context  { return f.ctx }
func (f *fakeServerStream) SetTrailer(md metadata.MD) { f.trailer = metadata.Join(f.trailer, md) }

// A stream handler's error is counted with the stream's context.
func TestStreamServerInProcess(t *testing.T) {
	b, _ := newBreaker(t, "in-process", machine.WithFailureThreshold(1))
	ic := newInterceptors(t, b)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	info := &grpc.StreamServerInfo{FullMethod: "/fake.Svc/Stream"}
	canceled := func(any, grpc.ServerStream) error { return status.Error(codes.Canceled, "client went away") }
	if err := ic.StreamServer(nil, &fakeServerStream{ctx: done}, info, canceled); status.Code(err) != codes.Canceled {
		t.Fatal(err)
	}
	if got := countsOf(b); got != (counts{Ignored: 1}) {
		t.Fatalf("counts = %+v", got)
	}
	down := func(any, grpc.ServerStream) error { return status.Error(codes.Unavailable, "down") }
	_ = ic.StreamServer(nil, &fakeServerStream{ctx: context.Background()}, info, down)
	ss := &fakeServerStream{ctx: context.Background()}
	err := ic.StreamServer(nil, ss, info, down)
	checkRejection(t, err, "in-process", machine.DefaultRecoveryTimeout)
	if d, ok := grpcbreaker.Pushback(ss.trailer); !ok || d != machine.DefaultRecoveryTimeout {
		t.Fatalf("the trailer = %v", ss.trailer)
	}
	if got := countsOf(b); got != (counts{Failures: 1, Ignored: 1, Rejected: 1}) {
		t.Fatalf("counts = %+v", got)
	}
}
