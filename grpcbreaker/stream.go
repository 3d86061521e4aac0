package grpcbreaker

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// errNilStreamDesc and errNilServerStream are the errors of a stream
// interceptor called without what gRPC always gives it.
var (
	errNilStreamDesc   = errors.New("circuitry: grpcbreaker: nil *grpc.StreamDesc")
	errNilServerStream = errors.New("circuitry: grpcbreaker: nil grpc.ServerStream")
)

// StreamClient is a grpc.StreamClientInterceptor: give it to
// grpc.WithStreamInterceptor (or grpc.WithChainStreamInterceptor). It asks
// the call's breaker to admit the stream when the stream is created: a
// rejection fails NewStream with a [*RejectedError] (codes.Unavailable),
// and so does the generated client's method. An admitted stream counts
// once, when it ends:
//
//   - RecvMsg returns io.EOF (or, on a stream whose server sends one
//     message, returns it): the outcome of a nil error, a success by
//     default;
//   - RecvMsg returns another error, or SendMsg or CloseSend one other
//     than io.EOF (gRPC's SendMsg returns io.EOF when the server ended
//     the stream; its status then comes from RecvMsg): that error,
//     classified, with the trailer's pushback on a RecvMsg error;
//   - the caller's ctx is done first: its error as a status
//     (codes.Canceled, ignored by default; codes.DeadlineExceeded, a
//     failure), classified on the goroutine context.AfterFunc starts;
//   - creating the stream fails: that error, classified.
//
// A stream that is dropped without any of these (neither read to its end
// nor cancelled, which gRPC documents as a leak) is never counted; while
// the breaker is half-open, it holds a probe slot until
// machine.WithHalfOpenTimeout, if set, ends the period.
func (ic *Interceptors) StreamClient(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	switch {
	case streamer == nil:
		return nil, &GuardError{Method: method, Err: machine.ErrNilFunc}
	case desc == nil:
		return nil, &GuardError{Method: method, Err: errNilStreamDesc}
	}
	p, err := ic.admit(ctx, method, targetOf(cc))
	if err != nil {
		return nil, err
	}
	returned := false
	defer func() {
		if !returned {
			abandoned(p, recover())
		}
	}()
	cs, err := streamer(ctx, desc, cc, method, opts...)
	returned = true
	if err != nil {
		ic.finish(ctx, p, err, nil)
		return nil, err
	}
	s := &clientStream{ClientStream: cs, ic: ic, ctx: ctx, p: p, serverStreams: desc.ServerStreams}
	s.stop = context.AfterFunc(ctx, s.cancelled)
	return s, nil
}

// clientStream is an admitted client stream: it reports the stream's
// outcome once, when the stream ends.
type clientStream struct {
	grpc.ClientStream
	ic            *Interceptors
	ctx           context.Context // the caller's
	p             machine.Permit
	serverStreams bool
	stop          func() bool // stops watching ctx
	ended         atomic.Bool
}

// SendMsg sends m; an error other than io.EOF ends the stream.
func (s *clientStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil && err != io.EOF {
		s.end(err, false)
	}
	return err
}

// RecvMsg receives into m; io.EOF, another error, or the one message of a
// stream whose server sends one, ends the stream.
func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	switch {
	case err == io.EOF:
		s.end(nil, false)
	case err != nil:
		s.end(err, true)
	case !s.serverStreams:
		s.end(nil, false)
	}
	return err
}

// CloseSend closes the sending side; an error ends the stream (gRPC's
// CloseSend returns none).
func (s *clientStream) CloseSend() error {
	err := s.ClientStream.CloseSend()
	if err != nil {
		s.end(err, false)
	}
	return err
}

// cancelled ends the stream when the caller's ctx is done first. It runs
// on the goroutine of context.AfterFunc, and so never reads s.stop.
func (s *clientStream) cancelled() {
	if s.ended.CompareAndSwap(false, true) {
		s.ic.finish(s.ctx, s.p, status.FromContextError(s.ctx.Err()).Err(), nil)
	}
}

// end reports the stream's outcome, the first time the stream ends. With
// trailer, the stream's trailer is read for its pushback.
func (s *clientStream) end(err error, trailer bool) {
	if !s.ended.CompareAndSwap(false, true) {
		return
	}
	s.stop()
	var md metadata.MD
	if trailer && s.ic.cfg.pushback {
		md = s.ClientStream.Trailer()
	}
	s.ic.finish(s.ctx, s.p, err, md)
}

// StreamServer is a grpc.StreamServerInterceptor: give it to
// grpc.StreamInterceptor (or grpc.ChainStreamInterceptor). It guards the
// server's own stream handlers as [Interceptors.UnaryServer] guards unary
// ones: a rejection returns a [*RejectedError] before the handler runs
// (with the [PushbackKey] trailer, with [WithPushback]), and the handler's
// returned error is the stream's outcome, classified with the stream's
// context.
func (ic *Interceptors) StreamServer(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	var method string
	if info != nil {
		method = info.FullMethod
	}
	switch {
	case handler == nil:
		return &GuardError{Method: method, Err: machine.ErrNilFunc}
	case ss == nil:
		return &GuardError{Method: method, Err: errNilServerStream}
	}
	ctx := ss.Context()
	p, err := ic.admit(ctx, method, "")
	if err != nil {
		if md := ic.pushbackTrailer(err); md != nil {
			ss.SetTrailer(md)
		}
		return err
	}
	returned := false
	defer func() {
		if !returned {
			abandoned(p, recover())
		}
	}()
	err = handler(srv, ss)
	returned = true
	ic.finish(ctx, p, err, nil)
	return err
}
