package grpcbreaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Interceptors guards gRPC calls with breakers, on a client or a server:
// its methods are the four interceptors. It is safe for concurrent use.
type Interceptors struct {
	breakers    Breakers
	cfg         config
	badClassify atomic.Bool // a classifier panic was reported
}

// New returns the interceptors that guard each call with the breaker
// breakers returns for the call's key ([Option] lists the defaults). A nil
// breakers, a nil option or an invalid one is an error.
func New(breakers Breakers, opts ...Option) (*Interceptors, error) {
	if breakers == nil {
		return nil, errors.New("circuitry: grpcbreaker.New: nil Breakers")
	}
	ic := &Interceptors{breakers: breakers, cfg: defaults()}
	for _, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: "grpcbreaker.New option", Value: "nil", Reason: "options must not be nil"}
		}
		if err := o.apply(&ic.cfg); err != nil {
			return nil, err
		}
	}
	return ic, nil
}

// UnaryClient is a grpc.UnaryClientInterceptor: give it to
// grpc.WithUnaryInterceptor (or grpc.WithChainUnaryInterceptor). It asks
// the call's breaker to admit the call; a rejection returns a
// [*RejectedError] (codes.Unavailable) without calling. An admitted call's
// error is classified ([WithClassifier]) and reported to the breaker, with
// the pushback of the call's trailer ([WithPushback]); the error is
// returned as it was. One call is one outcome, however often gRPC's own
// retry policy retried it inside. An invoker that panics counts as a
// failure, and the panic goes on.
func (ic *Interceptors) UnaryClient(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) (err error) {
	if invoker == nil {
		return &GuardError{Method: method, Err: machine.ErrNilFunc}
	}
	p, err := ic.admit(ctx, method, targetOf(cc))
	if err != nil {
		return err
	}
	var tc *trailerCall
	if ic.cfg.pushback {
		tc = trailerCalls.Get().(*trailerCall)
		opts = tc.with(opts)
	}
	returned := false
	defer func() {
		if !returned {
			abandoned(p, recover())
		}
	}()
	err = invoker(ctx, method, req, reply, cc, opts...)
	returned = true
	if tc != nil {
		ic.finish(ctx, p, err, tc.md)
		tc.release()
	} else {
		ic.finish(ctx, p, err, nil)
	}
	return err
}

// UnaryServer is a grpc.UnaryServerInterceptor: give it to
// grpc.UnaryInterceptor (or grpc.ChainUnaryInterceptor). It guards the
// server's own handlers: the key function gets info.FullMethod and an
// empty target (by default [ByMethod]: one breaker per method). A rejection returns a [*RejectedError], which the
// client receives as codes.Unavailable with a RetryInfo detail and, with
// [WithPushback], the [PushbackKey] trailer; the handler is not called. The
// handler's returned error is classified, with the request's context, and
// returned as it was. A handler that panics counts as a failure, and the
// panic goes on.
func (ic *Interceptors) UnaryServer(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	var method string
	if info != nil {
		method = info.FullMethod
	}
	if handler == nil {
		return nil, &GuardError{Method: method, Err: machine.ErrNilFunc}
	}
	p, err := ic.admit(ctx, method, "")
	if err != nil {
		if md := ic.pushbackTrailer(err); md != nil {
			_ = grpc.SetTrailer(ctx, md) // fails only outside a gRPC server
		}
		return nil, err
	}
	returned := false
	defer func() {
		if !returned {
			abandoned(p, recover())
		}
	}()
	resp, err = handler(ctx, req)
	returned = true
	ic.finish(ctx, p, err, nil)
	return resp, err
}

// admit finds the call's breaker and asks it to admit the call. It looks
// the breaker up once more when the first one is closed.
func (ic *Interceptors) admit(ctx context.Context, method, target string) (machine.Permit, error) {
	if ctx == nil {
		return machine.Permit{}, &GuardError{Method: method, Err: machine.ErrNilContext}
	}
	key, b, err := ic.lookup(ctx, method, target, false)
	if err != nil {
		return machine.Permit{}, &GuardError{Method: method, Key: key, Err: err}
	}
	p, err := b.Allow(ctx)
	if err == nil {
		return p, nil
	}
	if err == machine.ErrClosed {
		_, b, err = ic.lookup(ctx, method, key, true)
		if err != nil {
			return machine.Permit{}, &GuardError{Method: method, Key: key, Err: err}
		}
		if p, err = b.Allow(ctx); err == nil {
			return p, nil
		}
	}
	if open, ok := err.(*machine.OpenError); ok {
		return machine.Permit{}, &RejectedError{Open: open, RetryAfter: open.RetryAfter()}
	}
	return machine.Permit{}, &GuardError{Method: method, Key: key, Err: err}
}

// lookup runs the key function (unless again: then target is the key) and
// Breakers, turning a panic of either into an error.
func (ic *Interceptors) lookup(ctx context.Context, method, target string, again bool) (key string, b *machine.Breaker, err error) {
	defer func() {
		if v := recover(); v != nil {
			what := "the key function"
			if key != "" {
				what = "Breakers"
			}
			b, err = nil, fmt.Errorf("%s panicked: %w", what, &machine.PanicError{Value: v})
		}
	}()
	if again {
		key = target
	} else if key = ic.cfg.key(ctx, method, target); key == "" {
		return "", nil, ErrNoKey
	}
	b, err = ic.breakers(key)
	switch {
	case err != nil:
		return key, nil, err
	case b == nil:
		return key, nil, ErrNoBreaker
	}
	return key, b, nil
}

// finish classifies the result of the call of permit p and reports it.
// md is the call's trailer, if it was read.
func (ic *Interceptors) finish(ctx context.Context, p machine.Permit, err error, md metadata.MD) {
	r := ic.classify(ctx, err)
	if r.Outcome == machine.Failure {
		if r.Cause == "" && err != nil {
			r.Cause = causeOf(statusOf(err))
		}
		if r.RetryAfter == 0 && md != nil {
			if d, ok := Pushback(md); ok {
				r.RetryAfter = d
			}
		}
	}
	p.Report(r)
}

// classify runs the classifier, turning a panic into an ignored call
// reported once.
func (ic *Interceptors) classify(ctx context.Context, err error) (r machine.Result) {
	if ic.cfg.classify == nil {
		return DefaultClassifier(ctx, err)
	}
	defer func() {
		if v := recover(); v != nil {
			r = machine.Result{Outcome: machine.Ignored}
			if ic.badClassify.CompareAndSwap(false, true) {
				ic.cfg.onError(fmt.Errorf("circuitry: grpcbreaker: the classifier panicked (reported once; such calls count as ignored): %w", &machine.PanicError{Value: v}))
			}
		}
	}()
	return ic.cfg.classify(ctx, err)
}

// abandoned ends the permit of a call that did not return: one that
// panicked with v counts as a failure, and the panic goes on; one whose
// goroutine exited (v is nil) is ignored.
func abandoned(p machine.Permit, v any) {
	if v == nil {
		p.Report(machine.Result{Outcome: machine.Ignored})
		return
	}
	perr := &machine.PanicError{Value: v}
	p.Report(machine.Result{Outcome: machine.Failure, Cause: perr.Error()})
	panic(v)
}

// pushbackTrailer is the trailer a server sends with the rejection err,
// or nil.
func (ic *Interceptors) pushbackTrailer(err error) metadata.MD {
	re, ok := err.(*RejectedError)
	if !ok || !ic.cfg.pushback {
		return nil
	}
	return metadata.Pairs(PushbackKey, pushbackValue(re.RetryAfter))
}

// targetOf is the target of a client connection, "" for none.
func targetOf(cc *grpc.ClientConn) string {
	if cc == nil {
		return ""
	}
	return cc.Target()
}

// trailerCall holds what a unary call needs to read its trailer: the
// call's options followed by grpc.Trailer(&md). Pooled, so that reading
// the trailer allocates nothing of ours; the invoker has returned, and so
// stopped using both, when it goes back.
type trailerCall struct {
	md      metadata.MD
	trailer grpc.CallOption
	opts    []grpc.CallOption
}

var trailerCalls = sync.Pool{New: func() any {
	tc := new(trailerCall)
	tc.trailer = grpc.Trailer(&tc.md)
	return tc
}}

// with returns opts followed by the trailer option.
func (tc *trailerCall) with(opts []grpc.CallOption) []grpc.CallOption {
	tc.opts = append(append(tc.opts[:0], opts...), tc.trailer)
	return tc.opts
}

// release clears tc and puts it back in the pool.
func (tc *trailerCall) release() {
	tc.md = nil
	clear(tc.opts)
	if cap(tc.opts) > 64 {
		tc.opts = nil
	}
	tc.opts = tc.opts[:0]
	trailerCalls.Put(tc)
}
