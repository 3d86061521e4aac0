package grpcbreaker_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/grpcbreaker"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Each code a server returns counts as DefaultClassifier says, and a
// failure's trip record names the code and the message.
func TestUnaryClientCodes(t *testing.T) {
	ctx := context.Background()
	for c, want := range defaultOutcomes {
		t.Run(c.String(), func(t *testing.T) {
			b, _ := newBreaker(t, "codes", machine.WithFailureThreshold(1))
			sc := newScript()
			hc, _ := client(t, sc, newInterceptors(t, b))
			err := check(ctx, hc, "code="+c.String()+"|msg=from the server")
			if status.Code(err) != c {
				t.Fatalf("err = %v, want code %v", err, c)
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
			recs := records(t, b)
			if want != machine.Failure {
				if len(recs) != 0 {
					t.Fatalf("records = %+v, want none", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0].Event != events.Trip {
				t.Fatalf("records = %+v, want one trip", recs)
			}
			if got, wantErr := recs[0].Reason.LastError, "grpc "+c.String()+": from the server"; got != wantErr {
				t.Fatalf("last error = %q, want %q", got, wantErr)
			}
		})
	}
}

// A caller that cancels its call is ignored: neither a success nor a
// failure.
func TestUnaryClientCallerCancelIgnored(t *testing.T) {
	b, _ := newBreaker(t, "cancel", machine.WithFailureThreshold(1))
	sc := newScript()
	hc, _ := client(t, sc, newInterceptors(t, b))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sc.blocked
		cancel()
	}()
	err := check(ctx, hc, "block")
	if status.Code(err) != codes.Canceled {
		t.Fatalf("err = %v, want Canceled", err)
	}
	if got := countsOf(b); got != (counts{Ignored: 1}) {
		t.Fatalf("counts = %+v, want one ignored", got)
	}
}

// A caller whose deadline passes counts a failure: the dependency was too
// slow.
func TestUnaryClientDeadlineFails(t *testing.T) {
	b, _ := newBreaker(t, "deadline")
	sc := newScript()
	hc, _ := client(t, sc, newInterceptors(t, b))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := check(ctx, hc, "block")
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if got := countsOf(b); got != (counts{Failures: 1}) {
		t.Fatalf("counts = %+v, want one failure", got)
	}
}

// Three Unavailable trip a breaker of threshold 3; the next call is
// rejected without reaching the server, as codes.Unavailable that is also
// machine.ErrOpen, and says for how long.
func TestUnaryClientTripsAndRejects(t *testing.T) {
	b, _ := newBreaker(t, "trip", machine.WithFailureThreshold(3))
	sc := newScript()
	hc, _ := client(t, sc, newInterceptors(t, b))
	ctx := context.Background()
	for range 3 {
		if err := check(ctx, hc, "code=Unavailable|msg=overloaded"); status.Code(err) != codes.Unavailable {
			t.Fatalf("err = %v", err)
		}
	}
	if b.State() != events.Open {
		t.Fatalf("state = %v, want open", b.State())
	}
	err := check(ctx, hc, "")
	if got := sc.checks.Load(); got != 3 {
		t.Fatalf("the server saw %d calls, want 3", got)
	}
	checkRejection(t, err, "trip", machine.DefaultRecoveryTimeout)
	recs := records(t, b)
	if len(recs) != 1 || recs[0].Reason.Policy != events.PolicyConsecutiveFailures || recs[0].Reason.LastError != "grpc Unavailable: overloaded" {
		t.Fatalf("records = %+v", recs)
	}
	if got := countsOf(b); got != (counts{Failures: 3, Rejected: 1}) {
		t.Fatalf("counts = %+v", got)
	}
}

// checkRejection checks that err is a local rejection by breaker name,
// open for d yet.
func checkRejection(t *testing.T, err error, name string, d time.Duration) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		t.Fatalf("err = %v: status %v %v, want Unavailable", err, st, ok)
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("status.Code = %v", status.Code(err))
	}
	if !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("err = %v, want it to match machine.ErrOpen", err)
	}
	var open *machine.OpenError
	if !errors.As(err, &open) || open.Breaker != name {
		t.Fatalf("errors.As(*machine.OpenError) = %+v", open)
	}
	want := `circuitry: breaker "` + name + `" is open; retry after ` + d.String()
	if st.Message() != want || err.Error() != want {
		t.Fatalf("message = %q, want %q", st.Message(), want)
	}
	if got, ok := grpcbreaker.RetryAfter(err); !ok || got != d {
		t.Fatalf("RetryAfter = %v %v, want %v", got, ok, d)
	}
	// The status's own detail says it too, as a client of a server's
	// rejection would read it.
	if got, ok := grpcbreaker.RetryAfter(st.Err()); !ok || got != d {
		t.Fatalf("RetryAfter(status) = %v %v, want %v", got, ok, d)
	}
}

// A failure whose trailer asks for 1.5s opens the breaker at once for
// 1.5s, whatever its threshold; the record says why.
func TestUnaryClientPushbackOpens(t *testing.T) {
	b, clk := newBreaker(t, "pushback")
	sc := newScript()
	hc, _ := client(t, sc, newInterceptors(t, b))
	ctx := context.Background()
	if err := check(ctx, hc, "code=Unavailable|msg=shedding|pushback=1500"); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v", err)
	}
	recs := records(t, b)
	if len(recs) != 1 {
		t.Fatalf("records = %+v, want one", recs)
	}
	r := recs[0]
	if r.Event != events.Trip || r.Reason.Policy != events.PolicyRetryAfter || r.Reason.RetryAfter != 1500*time.Millisecond ||
		r.OpenFor != 1500*time.Millisecond || r.Reason.LastError != "grpc Unavailable: shedding" {
		t.Fatalf("record = %+v", r)
	}
	checkRejection(t, check(ctx, hc, ""), "pushback", 1500*time.Millisecond)
	clk.Advance(1500 * time.Millisecond)
	if err := check(ctx, hc, ""); err != nil {
		t.Fatalf("the probe after the pushback: %v", err)
	}
	if b.State() != events.HalfOpen {
		t.Fatalf("state = %v, want half-open after one probe success", b.State())
	}
}

// A pushback on a call that counts as a success, or that is malformed,
// negative or repeated, or when pushback is off, asks nothing.
func TestUnaryClientPushbackIgnored(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, script string
		opts         []grpcbreaker.Option
		want         counts
	}{
		{"malformed", "code=Unavailable|pushback=soon", nil, counts{Failures: 1}},
		{"negative", "code=Unavailable|pushback=-1", nil, counts{Failures: 1}},
		{"repeated", "code=Unavailable|pushback=10|pushback=20", nil, counts{Failures: 1}},
		{"zero", "code=Unavailable|pushback=0", nil, counts{Failures: 1}},
		{"on a success", "code=NotFound|pushback=1500", nil, counts{Successes: 1}},
		{"pushback off", "code=Unavailable|pushback=1500", []grpcbreaker.Option{grpcbreaker.WithPushback(false)}, counts{Failures: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newBreaker(t, "ignored")
			hc, _ := client(t, newScript(), newInterceptors(t, b, tc.opts...))
			_ = check(ctx, hc, tc.script)
			if got := countsOf(b); got != tc.want {
				t.Fatalf("counts = %+v, want %+v", got, tc.want)
			}
			if b.State() != events.Closed {
				t.Fatalf("state = %v, want closed", b.State())
			}
		})
	}
}

// The caller's own trailer option still gets the trailer, call after
// call.
func TestUnaryClientCallerTrailer(t *testing.T) {
	b, _ := newBreaker(t, "trailer")
	hc, _ := client(t, newScript(), newInterceptors(t, b))
	var md1, md2 metadata.MD
	_ = check(context.Background(), hc, "code=NotFound|pushback=7", grpc.Trailer(&md1))
	_ = check(context.Background(), hc, "code=NotFound|pushback=8", grpc.Trailer(&md2))
	if d, _ := grpcbreaker.Pushback(md1); d != 7*time.Millisecond {
		t.Fatalf("the caller's first trailer = %v", md1)
	}
	if d, _ := grpcbreaker.Pushback(md2); d != 8*time.Millisecond {
		t.Fatalf("the caller's second trailer = %v", md2)
	}
}

// A custom classifier decides; the interceptor completes its Result with
// the cause and the pushback it left out.
func TestUnaryClientClassifier(t *testing.T) {
	b, _ := newBreaker(t, "custom", machine.WithFailureThreshold(1))
	notFoundFails := func(ctx context.Context, err error) machine.Result {
		if status.Code(err) == codes.NotFound {
			return machine.Result{Outcome: machine.Failure}
		}
		return grpcbreaker.DefaultClassifier(ctx, err)
	}
	hc, _ := client(t, newScript(), newInterceptors(t, b, grpcbreaker.WithClassifier(notFoundFails)))
	_ = check(context.Background(), hc, "code=NotFound|msg=gone|pushback=2000")
	recs := records(t, b)
	if len(recs) != 1 || recs[0].Reason.LastError != "grpc NotFound: gone" || recs[0].OpenFor != 2*time.Second {
		t.Fatalf("records = %+v", recs)
	}
}

// The breaker's subscribers see the caller's context: span events go on
// the caller's span.
func TestUnaryClientSubscribersSeeTheCallersContext(t *testing.T) {
	type key struct{}
	got := make(chan any, 1)
	sub := hooks.Inline(hooks.Func(func(ctx context.Context, _ events.Transition) { got <- ctx.Value(key{}) }))
	b, _ := newBreaker(t, "ctx", machine.WithFailureThreshold(1), machine.WithSubscribers(sub))
	hc, _ := client(t, newScript(), newInterceptors(t, b))
	_ = check(context.WithValue(context.Background(), key{}, "the caller's"), hc, "code=Internal")
	if v := <-got; v != "the caller's" {
		t.Fatalf("the subscriber's ctx holds %v", v)
	}
}

// ByTarget keys client calls by the connection's target.
func TestUnaryClientByTarget(t *testing.T) {
	b, _ := newBreaker(t, "target")
	keys := make(chan string, 2)
	ic, err := grpcbreaker.New(func(key string) (*machine.Breaker, error) {
		keys <- key
		return b, nil
	}, grpcbreaker.WithKey(grpcbreaker.ByTarget))
	if err != nil {
		t.Fatal(err)
	}
	hc, cc := client(t, newScript(), ic)
	if err := check(context.Background(), hc, ""); err != nil {
		t.Fatal(err)
	}
	if k := <-keys; k != cc.Target() || !strings.HasPrefix(k, "127.0.0.1:") {
		t.Fatalf("key = %q, want the target %q", k, cc.Target())
	}
}

// By default a call's key is its full method name.
func TestClientKeysByMethod(t *testing.T) {
	b, _ := newBreaker(t, "method")
	keys := make(chan string, 2)
	ic, err := grpcbreaker.New(func(key string) (*machine.Breaker, error) {
		keys <- key
		return b, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hc, _ := client(t, newScript(), ic)
	ctx := context.Background()
	if err := check(ctx, hc, ""); err != nil {
		t.Fatal(err)
	}
	if k := <-keys; k != "/grpc.health.v1.Health/Check" {
		t.Fatalf("key = %q", k)
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != io.EOF {
		t.Fatalf("Recv = %v, want io.EOF", err)
	}
	if k := <-keys; k != "/grpc.health.v1.Health/Watch" {
		t.Fatalf("key = %q", k)
	}
}
