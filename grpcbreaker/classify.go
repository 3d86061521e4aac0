package grpcbreaker

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Classifier decides how a finished call counts: ctx is the call's context
// (the caller's on a client, the request's on a server) and err the call's
// error, nil on success; status.FromError(err) gives its code. It runs on
// the call path of every call: keep it quick.
//
// The interceptors complete what it returns: a failure without a Cause
// gets "grpc <Code>: <message>", and one without a RetryAfter gets the
// server's pushback, if any (see [WithPushback]). A classifier that panics
// makes the call count as ignored, reported once to the error handler
// ([WithErrorHandler]); one that returns an undeclared Outcome is reported
// by the breaker, as machine.Permit.Report does.
type Classifier func(ctx context.Context, err error) machine.Result

// DefaultClassifier counts a call by its status code:
//
//   - OK is a success.
//   - Unavailable, DeadlineExceeded, ResourceExhausted, Internal, Unknown
//     and DataLoss are failures: the dependency is down, slow, overloaded
//     or broken. DataLoss is the server's fault, like Internal (gRPC maps
//     both to HTTP 500), so it counts against the server.
//   - Canceled is ignored when the caller's own ctx is done (the caller
//     gave up; the dependency did not fail), and a failure otherwise.
//   - Every other code (InvalidArgument, NotFound, AlreadyExists,
//     PermissionDenied, Unauthenticated, FailedPrecondition, Aborted,
//     OutOfRange, Unimplemented) is a success: the dependency answered,
//     and the answer is about the request, not the dependency's health.
//
// An error that is not a gRPC status is a context error (Canceled or
// DeadlineExceeded, as status.FromContextError maps it) or Unknown. A
// failure's Cause is "grpc <Code>: <message>", the message cut to 256
// bytes.
func DefaultClassifier(ctx context.Context, err error) machine.Result {
	if err == nil {
		return machine.Result{Outcome: machine.Success}
	}
	st := statusOf(err)
	switch st.Code() {
	case codes.Canceled:
		if ctx != nil && ctx.Err() != nil {
			return machine.Result{Outcome: machine.Ignored}
		}
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Internal, codes.Unknown, codes.DataLoss:
	default:
		return machine.Result{Outcome: machine.Success}
	}
	return machine.Result{Outcome: machine.Failure, Cause: causeOf(st)}
}

// statusOf is the status of err: its own, or a context error's.
func statusOf(err error) *status.Status {
	if st, ok := status.FromError(err); ok {
		return st
	}
	return status.FromContextError(err)
}

// maxCauseMessage bounds the status message a cause keeps.
const maxCauseMessage = 256

// causeOf is a failure's cause for a transition record: "grpc <Code>:
// <message>", the message clipped at a rune boundary.
func causeOf(st *status.Status) string {
	msg := st.Message()
	if len(msg) > maxCauseMessage {
		cut := maxCauseMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	if msg == "" {
		return "grpc " + st.Code().String()
	}
	return "grpc " + st.Code().String() + ": " + msg
}

// PushbackKey is the trailer of gRPC's retry pushback: a server sends it
// with a failure to say how many milliseconds the client should wait
// before calling again.
const PushbackKey = "grpc-retry-pushback-ms"

// Pushback returns the wait a trailer asks for in [PushbackKey]: one value,
// a non-negative decimal number of milliseconds. A missing, repeated,
// malformed or negative value (gRPC's "do not retry") asks nothing: ok is
// false. A value too large for a time.Duration is the largest one; the
// breaker caps what it grants (machine.WithMaxRetryAfter).
func Pushback(md metadata.MD) (d time.Duration, ok bool) {
	v := md[PushbackKey]
	if len(v) != 1 {
		return 0, false
	}
	ms, err := strconv.ParseInt(v[0], 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange) && ms > 0:
		return math.MaxInt64, true
	case err != nil || ms < 0:
		return 0, false
	case ms > math.MaxInt64/int64(time.Millisecond):
		return math.MaxInt64, true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// pushbackValue is the trailer value that asks for d: whole milliseconds,
// rounded up.
func pushbackValue(d time.Duration) string {
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	return strconv.FormatInt(int64(ms), 10)
}
