package grpcbreaker_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// drain reads w to its end, and then once more, and returns the messages
// read and the first error.
func drain(t *testing.T, w grpc.ServerStreamingClient[healthpb.HealthCheckResponse]) (int, error) {
	t.Helper()
	n := 0
	for {
		_, err := w.Recv()
		if err != nil {
			if _, again := w.Recv(); again == nil {
				t.Fatal("Recv after the end returned a message")
			}
			return n, err
		}
		n++
	}
}

// A stream counts once, when it ends: at io.EOF as a success, at an error
// as that error classified, with the trailer's pushback.
func TestStreamClientOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		sent         int
		code         codes.Code
		want         counts
		record       events.Transition // the trip's, when there is one
	}{
		{"EOF", "send=3", 3, codes.OK, counts{Successes: 1}, events.Transition{}},
		{"EOF at once", "", 0, codes.OK, counts{Successes: 1}, events.Transition{}},
		{"NotFound", "send=1|code=NotFound", 1, codes.NotFound, counts{Successes: 1}, events.Transition{}},
		{"Unavailable", "send=2|code=Unavailable|msg=gone", 2, codes.Unavailable, counts{Failures: 1},
			events.Transition{Reason: events.Reason{Policy: events.PolicyConsecutiveFailures, LastError: "grpc Unavailable: gone"}, OpenFor: machine.DefaultRecoveryTimeout}},
		{"pushback", "send=1|code=ResourceExhausted|msg=quota|pushback=2500", 1, codes.ResourceExhausted, counts{Failures: 1},
			events.Transition{Reason: events.Reason{Policy: events.PolicyRetryAfter, RetryAfter: 2500 * time.Millisecond, LastError: "grpc ResourceExhausted: quota"}, OpenFor: 2500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []machine.Option{}
			if tc.record.Reason.Policy == events.PolicyConsecutiveFailures {
				opts = append(opts, machine.WithFailureThreshold(1))
			}
			b, _ := newBreaker(t, "stream", opts...)
			hc, _ := client(t, newScript(), newInterceptors(t, b))
			w, err := hc.Watch(context.Background(), &healthpb.HealthCheckRequest{Service: tc.script})
			if err != nil {
				t.Fatal(err)
			}
			n, err := drain(t, w)
			if n != tc.sent {
				t.Fatalf("received %d messages, want %d", n, tc.sent)
			}
			if tc.code == codes.OK && err != io.EOF || tc.code != codes.OK && status.Code(err) != tc.code {
				t.Fatalf("the stream ended with %v, want %v", err, tc.code)
			}
			if got := countsOf(b); got != tc.want {
				t.Fatalf("counts = %+v, want %+v", got, tc.want)
			}
			recs := records(t, b)
			if tc.record.Reason.Policy == "" {
				if len(recs) != 0 {
					t.Fatalf("records = %+v, want none", recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("records = %+v, want one", recs)
			}
			r := recs[0].Reason
			if r.Policy != tc.record.Reason.Policy || r.RetryAfter != tc.record.Reason.RetryAfter ||
				r.LastError != tc.record.Reason.LastError || recs[0].OpenFor != tc.record.OpenFor {
				t.Fatalf("records = %+v, want one with %+v for %v", recs, tc.record.Reason, tc.record.OpenFor)
			}
		})
	}
}

// A caller that cancels its stream is ignored, whether or not it reads
// the stream's end.
func TestStreamClientCallerCancelIgnored(t *testing.T) {
	for _, read := range []bool{true, false} {
		name := "without reading the end"
		if read {
			name = "reading the end"
		}
		t.Run(name, func(t *testing.T) {
			b, _ := newBreaker(t, "cancel", machine.WithFailureThreshold(1))
			sc := newScript()
			hc, _ := client(t, sc, newInterceptors(t, b))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "send=1|block"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Recv(); err != nil {
				t.Fatal(err)
			}
			<-sc.blocked
			cancel()
			if read {
				if _, err := w.Recv(); status.Code(err) != codes.Canceled {
					t.Fatalf("Recv after cancel = %v, want Canceled", err)
				}
			}
			eventually(t, "the ignored stream", func() bool { return countsOf(b) == counts{Ignored: 1} })
			time.Sleep(10 * time.Millisecond)
			if got := countsOf(b); got != (counts{Ignored: 1}) {
				t.Fatalf("counts = %+v, want one ignored", got)
			}
		})
	}
}

// A stream whose caller's deadline passes fails, even when the caller
// does not read its end.
func TestStreamClientDeadlineFails(t *testing.T) {
	b, _ := newBreaker(t, "deadline")
	hc, _ := client(t, newScript(), newInterceptors(t, b))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "block"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed stream", func() bool { return countsOf(b) == counts{Failures: 1} })
}

// An open breaker rejects a stream when it is created: the server never
// sees it.
func TestStreamClientRejectedAtCreation(t *testing.T) {
	b, _ := newBreaker(t, "reject", machine.WithFailureThreshold(1))
	sc := newScript()
	hc, _ := client(t, sc, newInterceptors(t, b))
	_ = check(context.Background(), hc, "code=Unavailable")
	w, err := hc.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if w != nil {
		t.Fatalf("the stream = %v, want none", w)
	}
	checkRejection(t, err, "reject", machine.DefaultRecoveryTimeout)
	if n := sc.watches.Load(); n != 0 {
		t.Fatalf("the server saw %d streams", n)
	}
}

// fakeStream is a grpc.ClientStream whose calls return the errors given.
type fakeStream struct {
	send, recv, closeSend error
	trailer               metadata.MD
}

func (f *fakeStream) Header() (metadata.MD, error) { return nil, nil }
func (f *fakeStream) Trailer() metadata.MD         { return f.trailer }
func (f *fakeStream) CloseSend() error             { return f.closeSend }
func (f *fakeStream) Context() context.Context     { return context.Background() }
func (f *fakeStream) SendMsg(any) error            { return f.send }
func (f *fakeStream) RecvMsg(any) error            { return f.recv }

// The ends of a stream that the loopback server does not script: a
// client-streaming call's one reply, errors of SendMsg and CloseSend, a
// streamer that fails.
func TestStreamClientEnds(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "x")
	for _, tc := range []struct {
		name          string
		desc          grpc.StreamDesc
		stream        *fakeStream
		streamerErr   error
		do            func(grpc.ClientStream)
		want          counts
		wantOpenFor   time.Duration
		wantReturnErr error
	}{
		{"one reply", grpc.StreamDesc{ClientStreams: true}, &fakeStream{}, nil,
			func(s grpc.ClientStream) { _ = s.RecvMsg(nil); _ = s.RecvMsg(nil) }, counts{Successes: 1}, 0, nil},
		{"a server stream's message", grpc.StreamDesc{ServerStreams: true}, &fakeStream{}, nil,
			func(s grpc.ClientStream) { _ = s.RecvMsg(nil) }, counts{}, 0, nil},
		{"SendMsg io.EOF waits for RecvMsg", grpc.StreamDesc{ServerStreams: true}, &fakeStream{send: io.EOF}, nil,
			func(s grpc.ClientStream) { _ = s.SendMsg(nil) }, counts{}, 0, nil},
		{"SendMsg io.EOF, then RecvMsg's status", grpc.StreamDesc{ServerStreams: true}, &fakeStream{send: io.EOF, recv: unavailable}, nil,
			func(s grpc.ClientStream) { _ = s.SendMsg(nil); _ = s.RecvMsg(nil) }, counts{Failures: 1}, 0, nil},
		{"SendMsg error", grpc.StreamDesc{ClientStreams: true}, &fakeStream{send: unavailable, recv: unavailable}, nil,
			func(s grpc.ClientStream) { _ = s.SendMsg(nil); _ = s.RecvMsg(nil) }, counts{Failures: 1}, 0, nil},
		{"CloseSend error", grpc.StreamDesc{ClientStreams: true}, &fakeStream{closeSend: unavailable}, nil,
			func(s grpc.ClientStream) { _ = s.CloseSend(); _ = s.CloseSend() }, counts{Failures: 1}, 0, nil},
		{"CloseSend", grpc.StreamDesc{ClientStreams: true}, &fakeStream{}, nil,
			func(s grpc.ClientStream) { _ = s.CloseSend() }, counts{}, 0, nil},
		{"RecvMsg's trailer", grpc.StreamDesc{ServerStreams: true},
			&fakeStream{recv: unavailable, trailer: metadata.Pairs("grpc-retry-pushback-ms", "3000")}, nil,
			func(s grpc.ClientStream) { _ = s.RecvMsg(nil) }, counts{Failures: 1}, 3 * time.Second, nil},
		{"the streamer fails", grpc.StreamDesc{ServerStreams: true}, nil, unavailable,
			nil, counts{Failures: 1}, 0, unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newBreaker(t, "ends")
			ic := newInterceptors(t, b)
			streamer := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
				if tc.streamerErr != nil {
					return nil, tc.streamerErr
				}
				return tc.stream, nil
			}
			s, err := ic.StreamClient(context.Background(), &tc.desc, nil, "/fake.Svc/Method", streamer)
			if !errors.Is(err, tc.wantReturnErr) {
				t.Fatalf("StreamClient = %v, want %v", err, tc.wantReturnErr)
			}
			if tc.do != nil {
				tc.do(s)
			}
			if got := countsOf(b); got != tc.want {
				t.Fatalf("counts = %+v, want %+v", got, tc.want)
			}
			if recs := records(t, b); tc.wantOpenFor != 0 && (len(recs) != 1 || recs[0].OpenFor != tc.wantOpenFor) {
				t.Fatalf("records = %+v, want one open for %v", recs, tc.wantOpenFor)
			}
		})
	}
}
