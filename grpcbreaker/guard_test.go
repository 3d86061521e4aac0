package grpcbreaker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/grpcbreaker"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A breaker closed between its lookup and the call (a registry evicted
// it) is looked up once more, and the call goes through the new one.
func TestClosedBetweenLookupAndUse(t *testing.T) {
	old, _ := newBreaker(t, "evicted")
	if err := old.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh, _ := newBreaker(t, "evicted")
	var lookups atomic.Int64
	ic, err := grpcbreaker.New(func(string) (*machine.Breaker, error) {
		if lookups.Add(1) == 1 {
			return old, nil
		}
		return fresh, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := newScript()
	hc, _ := client(t, sc, ic)
	if err := check(context.Background(), hc, "code=Unavailable"); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v", err)
	}
	if n := lookups.Load(); n != 2 {
		t.Fatalf("%d lookups, want 2", n)
	}
	if got := countsOf(fresh); got != (counts{Failures: 1}) {
		t.Fatalf("the fresh breaker's counts = %+v", got)
	}
}

// A lookup that fails the second time fails the call.
func TestClosedThenLookupFails(t *testing.T) {
	b, _ := newBreaker(t, "closed-then-gone")
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	gone := errors.New("registry: closed")
	var lookups atomic.Int64
	ic, err := grpcbreaker.New(func(string) (*machine.Breaker, error) {
		if lookups.Add(1) == 1 {
			return b, nil
		}
		return nil, gone
	})
	if err != nil {
		t.Fatal(err)
	}
	err = ic.UnaryClient(context.Background(), "/pkg.Svc/M", nil, nil, nil, okInvoker)
	if !errors.Is(err, gone) || status.Code(err) != codes.Internal {
		t.Fatalf("err = %v", err)
	}
}

// A breaker still closed when looked up again fails the call with
// codes.Unavailable, matching machine.ErrClosed, without making it.
func TestClosedTwice(t *testing.T) {
	b, _ := newBreaker(t, "closed")
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var lookups atomic.Int64
	ic, err := grpcbreaker.New(func(string) (*machine.Breaker, error) {
		lookups.Add(1)
		return b, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := newScript()
	hc, _ := client(t, sc, ic)
	err = check(context.Background(), hc, "")
	if status.Code(err) != codes.Unavailable || !errors.Is(err, machine.ErrClosed) {
		t.Fatalf("err = %v, want Unavailable matching machine.ErrClosed", err)
	}
	var ge *grpcbreaker.GuardError
	if !errors.As(err, &ge) || ge.Key != "/grpc.health.v1.Health/Check" || ge.Method != "/grpc.health.v1.Health/Check" {
		t.Fatalf("GuardError = %+v", ge)
	}
	if n := lookups.Load(); n != 2 {
		t.Fatalf("%d lookups, want 2", n)
	}
	if n := sc.checks.Load(); n != 0 {
		t.Fatalf("the server saw %d calls", n)
	}
}

// A call that cannot be guarded fails with codes.Internal and is not
// made, on a client and on a server; no panic escapes.
func TestUnguardable(t *testing.T) {
	b, _ := newBreaker(t, "guard")
	lookupErr := errors.New("registry: no such breaker")
	for _, tc := range []struct {
		name     string
		key      grpcbreaker.KeyFunc
		breakers grpcbreaker.Breakers
		is       error
		text     string
	}{
		{"the key function panics", func(context.Context, string, string) string { panic("bad key") }, grpcbreaker.Single(b),
			nil, "the key function panicked: panic: bad key"},
		{"an empty key", func(context.Context, string, string) string { return "" }, grpcbreaker.Single(b),
			grpcbreaker.ErrNoKey, "the key function returned an empty key"},
		{"Breakers fails", grpcbreaker.ByMethod, func(string) (*machine.Breaker, error) { return nil, lookupErr },
			lookupErr, `breaker key "/grpc.health.v1.Health/Check": registry: no such breaker`},
		{"no breaker", grpcbreaker.ByMethod, func(string) (*machine.Breaker, error) { return nil, nil },
			grpcbreaker.ErrNoBreaker, "no breaker for the key"},
		{"Breakers panics", grpcbreaker.ByMethod, func(string) (*machine.Breaker, error) { panic("bad registry") },
			nil, "Breakers panicked: panic: bad registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, err := grpcbreaker.New(tc.breakers, grpcbreaker.WithKey(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			sc := newScript()
			hc, _ := client(t, sc, ic)
			err = check(context.Background(), hc, "")
			if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("client: err = %v, want Internal saying %q", err, tc.text)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("client: err = %v, want it to match %v", err, tc.is)
			}
			var pe *machine.PanicError
			if tc.is == nil && !errors.As(err, &pe) {
				t.Fatalf("client: err = %v, want a *machine.PanicError", err)
			}
			hs := server(t, sc, ic)
			err = check(context.Background(), hs, "")
			if st, _ := status.FromError(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), tc.text) {
				t.Fatalf("server: err = %v, want Internal saying %q", err, tc.text)
			}
			if n := sc.checks.Load(); n != 0 {
				t.Fatalf("%d calls were made", n)
			}
		})
	}
}

// ByTarget on a server, where there is no target, is an empty key.
func TestByTargetOnAServer(t *testing.T) {
	b, _ := newBreaker(t, "no-target")
	hs := server(t, newScript(), newInterceptors(t, b, grpcbreaker.WithKey(grpcbreaker.ByTarget)))
	if err := check(context.Background(), hs, ""); status.Code(err) != codes.Internal {
		t.Fatalf("err = %v", err)
	}
}

// A classifier that panics makes the call count as ignored, reported
// once; one that returns an undeclared outcome is reported by the
// breaker.
func TestClassifierFaults(t *testing.T) {
	var mu sync.Mutex
	var reported, breakerReported []error
	b, _ := newBreaker(t, "faults", machine.WithErrorHandler(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		breakerReported = append(breakerReported, err)
	}))
	classify := func(_ context.Context, err error) machine.Result {
		if status.Code(err) == codes.NotFound {
			return machine.Result{Outcome: machine.Outcome(42)}
		}
		panic("classifier bug")
	}
	ic := newInterceptors(t, b, grpcbreaker.WithClassifier(classify), grpcbreaker.WithErrorHandler(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}))
	hc, _ := client(t, newScript(), ic)
	ctx := context.Background()
	for range 2 {
		if err := check(ctx, hc, "code=Unavailable"); status.Code(err) != codes.Unavailable {
			t.Fatalf("err = %v: the call's own error must come back", err)
		}
	}
	_ = check(ctx, hc, "code=NotFound")
	if got := countsOf(b); got != (counts{Ignored: 3}) {
		t.Fatalf("counts = %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	var pe *machine.PanicError
	if len(reported) != 1 || !errors.As(reported[0], &pe) || pe.Value != "classifier bug" {
		t.Fatalf("reported = %v, want the panic once", reported)
	}
	var ce *machine.ClassifierError
	if len(breakerReported) != 1 || !errors.As(breakerReported[0], &ce) || ce.Outcome != 42 {
		t.Fatalf("the breaker reported %v", breakerReported)
	}
}

// A call that panics counts as a failure and the panic goes on; one whose
// goroutine exits is ignored. So on every interceptor.
func TestPanicsAndGoexit(t *testing.T) {
	desc := &grpc.StreamDesc{ServerStreams: true}
	calls := map[string]func(ic *grpcbreaker.Interceptors, body func()){
		"UnaryClient": func(ic *grpcbreaker.Interceptors, body func()) {
			_ = ic.UnaryClient(context.Background(), "/fake.Svc/M", nil, nil, nil,
				func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
					body()
					return nil
				})
		},
		"StreamClient": func(ic *grpcbreaker.Interceptors, body func()) {
			_, _ = ic.StreamClient(context.Background(), desc, nil, "/fake.Svc/M",
				func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
					body()
					return nil, nil
				})
		},
		"UnaryServer": func(ic *grpcbreaker.Interceptors, body func()) {
			_, _ = ic.UnaryServer(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/fake.Svc/M"},
				func(context.Context, any) (any, error) { body(); return nil, nil })
		},
		"StreamServer": func(ic *grpcbreaker.Interceptors, body func()) {
			_ = ic.StreamServer(nil, &fakeServerStream{ctx: context.Background()}, &grpc.StreamServerInfo{FullMethod: "/fake.Svc/M"},
				func(any, grpc.ServerStream) error { body(); return nil })
		},
	}
	for name, call := range calls {
		t.Run(name+"/panic", func(t *testing.T) {
			b, _ := newBreaker(t, "panics", machine.WithFailureThreshold(1))
			ic := newInterceptors(t, b)
			func() {
				defer func() {
					if v := recover(); v != "boom" {
						t.Fatalf("recovered %v, want the panic", v)
					}
				}()
				call(ic, func() { panic("boom") })
			}()
			if got := countsOf(b); got != (counts{Failures: 1}) {
				t.Fatalf("counts = %+v", got)
			}
			if recs := records(t, b); len(recs) != 1 || recs[0].Reason.LastError != "panic: boom" {
				t.Fatalf("records = %+v", recs)
			}
		})
		t.Run(name+"/Goexit", func(t *testing.T) {
			b, _ := newBreaker(t, "goexit")
			ic := newInterceptors(t, b)
			done := make(chan struct{})
			go func() {
				defer close(done)
				call(ic, runtime.Goexit)
			}()
			<-done
			if got := countsOf(b); got != (counts{Ignored: 1}) {
				t.Fatalf("counts = %+v", got)
			}
		})
	}
}

// New refuses nil and invalid options; the interceptors refuse what gRPC
// never passes them as nil.
func TestNilArguments(t *testing.T) {
	b, _ := newBreaker(t, "nil")
	if ic, err := grpcbreaker.New(nil); ic != nil || err == nil {
		t.Fatalf("New(nil) = %v, %v", ic, err)
	}
	for name, opt := range map[string]grpcbreaker.Option{
		"nil option":            nil,
		"WithKey(nil)":          grpcbreaker.WithKey(nil),
		"WithClassifier(nil)":   grpcbreaker.WithClassifier(nil),
		"WithErrorHandler(nil)": grpcbreaker.WithErrorHandler(nil),
	} {
		if _, err := grpcbreaker.New(grpcbreaker.Single(b), opt); !errors.Is(err, events.ErrInvalidOption) {
			t.Errorf("%s: err = %v, want an *events.OptionError", name, err)
		}
	}

	ic := newInterceptors(t, b)
	ctx := context.Background()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	streamer := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
		return &fakeStream{}, nil
	}
	unary := func(context.Context, any) (any, error) { return "ok", nil }
	stream := func(any, grpc.ServerStream) error { return nil }
	ss := &fakeServerStream{ctx: ctx}
	desc := &grpc.StreamDesc{ServerStreams: true}
	var nilCtx context.Context
	for _, tc := range []struct {
		name string
		err  error
		is   error
	}{
		{"UnaryClient nil ctx", ic.UnaryClient(nilCtx, "/m", nil, nil, nil, invoker), machine.ErrNilContext},
		{"UnaryClient nil invoker", ic.UnaryClient(ctx, "/m", nil, nil, nil, nil), machine.ErrNilFunc},
		{"StreamClient nil ctx", second(ic.StreamClient(nilCtx, desc, nil, "/m", streamer)), machine.ErrNilContext},
		{"StreamClient nil streamer", second(ic.StreamClient(ctx, desc, nil, "/m", nil)), machine.ErrNilFunc},
		{"StreamClient nil desc", second(ic.StreamClient(ctx, nil, nil, "/m", streamer)), nil},
		{"UnaryServer nil ctx", second(ic.UnaryServer(nilCtx, nil, &grpc.UnaryServerInfo{FullMethod: "/m"}, unary)), machine.ErrNilContext},
		{"UnaryServer nil info", second(ic.UnaryServer(ctx, nil, nil, unary)), grpcbreaker.ErrNoKey},
		{"UnaryServer nil handler", second(ic.UnaryServer(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/m"}, nil)), machine.ErrNilFunc},
		{"StreamServer nil stream", ic.StreamServer(nil, nil, &grpc.StreamServerInfo{FullMethod: "/m"}, stream), nil},
		{"StreamServer nil info", ic.StreamServer(nil, ss, nil, stream), grpcbreaker.ErrNoKey},
		{"StreamServer nil handler", ic.StreamServer(nil, ss, &grpc.StreamServerInfo{FullMethod: "/m"}, nil), machine.ErrNilFunc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ge *grpcbreaker.GuardError
			if !errors.As(tc.err, &ge) || status.Code(tc.err) != codes.Internal {
				t.Fatalf("err = %v, want a *GuardError with codes.Internal", tc.err)
			}
			if tc.is != nil && !errors.Is(tc.err, tc.is) {
				t.Fatalf("err = %v, want it to match %v", tc.err, tc.is)
			}
		})
	}
	if got := countsOf(b); got != (counts{}) {
		t.Fatalf("counts = %+v: nothing should count", got)
	}
	// A nil connection has no target; a nil request and reply are gRPC's
	// business.
	if err := ic.UnaryClient(ctx, "/m", nil, nil, nil, invoker); err != nil {
		t.Fatal(err)
	}
	if _, ok := grpcbreaker.RetryAfter(nil); ok {
		t.Fatal("RetryAfter(nil) is ok")
	}
	if _, ok := grpcbreaker.RetryAfter(errors.New("x")); ok {
		t.Fatal("RetryAfter of a plain error is ok")
	}
	if _, ok := grpcbreaker.RetryAfter(status.Error(codes.Unavailable, "x")); ok {
		t.Fatal("RetryAfter of a status without RetryInfo is ok")
	}
}

// The default error handler logs through slog.Default.
func TestDefaultErrorHandler(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	b, _ := newBreaker(t, "slog")
	ic := newInterceptors(t, b, grpcbreaker.WithClassifier(func(context.Context, error) machine.Result { panic("oops") }))
	_ = ic.UnaryClient(context.Background(), "/pkg.Svc/M", nil, nil, nil, okInvoker)
	if got := buf.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "the classifier panicked") || !strings.Contains(got, "oops") {
		t.Fatalf("logged %q", got)
	}
}

// The invoker gets the caller's options, then the trailer option, however
// many there are.
func TestCallOptionsPassThrough(t *testing.T) {
	b, _ := newBreaker(t, "options")
	ic := newInterceptors(t, b)
	for _, n := range []int{0, 3, 100, 2} {
		opts := make([]grpc.CallOption, n)
		for i := range opts {
			opts[i] = grpc.EmptyCallOption{}
		}
		var got []grpc.CallOption
		inv := func(_ context.Context, _ string, _, _ any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
			got = append(got, opts...)
			return nil
		}
		if err := ic.UnaryClient(context.Background(), "/pkg.Svc/M", nil, nil, nil, inv, opts...); err != nil {
			t.Fatal(err)
		}
		if len(got) != n+1 {
			t.Fatalf("%d options, want %d", len(got), n+1)
		}
		if _, ok := got[n].(grpc.TrailerCallOption); !ok {
			t.Fatalf("the last option is %T, want the trailer", got[n])
		}
	}
}

// A half-open breaker whose probe slots are taken rejects as such.
func TestHalfOpenRejection(t *testing.T) {
	b, clk := newBreaker(t, "half-open", machine.WithFailureThreshold(1), machine.WithProbeLimit(1))
	ic := newInterceptors(t, b)
	ctx := context.Background()
	_ = ic.UnaryClient(ctx, "/pkg.Svc/M", nil, nil, nil, downInvoker)
	clk.Advance(machine.DefaultRecoveryTimeout)
	probe, err := b.Allow(ctx) // takes the one probe slot
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Done(nil)
	err = ic.UnaryClient(ctx, "/pkg.Svc/M", nil, nil, nil, okInvoker)
	want := `circuitry: breaker "half-open" is half-open and all probe slots are taken; retry after 1ms`
	if status.Code(err) != codes.Unavailable || err.Error() != want || !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if d, ok := grpcbreaker.RetryAfter(err); !ok || d != machine.MinRetryAfter {
		t.Fatalf("RetryAfter = %v %v", d, ok)
	}
	// RetryAfter reads a breaker's own rejection too.
	err = b.Do(ctx, func(context.Context) error { return nil })
	if d, ok := grpcbreaker.RetryAfter(err); !ok || d != machine.MinRetryAfter {
		t.Fatalf("RetryAfter(%v) = %v %v", err, d, ok)
	}
}

func second[T any](_ T, err error) error { return err }
