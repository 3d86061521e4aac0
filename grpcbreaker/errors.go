package grpcbreaker

import (
	"errors"
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ErrNoKey is matched by the error of a call whose key function returned
// an empty key.
var ErrNoKey = errors.New("circuitry: grpcbreaker: the key function returned an empty key")

// ErrNoBreaker is matched by the error of a call for whose key [Breakers]
// returned neither a breaker nor an error.
var ErrNoBreaker = errors.New("circuitry: grpcbreaker: no breaker for the key")

// RejectedError is the error of a call its breaker rejected: the call was
// not made. Its gRPC status (what status.FromError, status.Code and a
// server's reply see) is codes.Unavailable, with a message that says the
// breaker is open and for how long yet, and a google.rpc.RetryInfo detail
// whose retry_delay is RetryAfter; a server's rejection also sends it in
// the [PushbackKey] trailer (see [WithPushback]). [RetryAfter] reads it back
// from either side of a connection. errors.Is(err, machine.ErrOpen) holds,
// and errors.As gives the breaker's [*machine.OpenError].
type RejectedError struct {
	// Open is the breaker's rejection.
	Open *machine.OpenError
	// RetryAfter is how long the caller should wait before calling again,
	// as of the rejection: Open.RetryAfter() then.
	RetryAfter time.Duration
}

func (e *RejectedError) Error() string {
	d := e.RetryAfter
	if d > time.Millisecond {
		d = d.Round(time.Millisecond)
	}
	if e.Open.State == events.HalfOpen {
		return fmt.Sprintf("circuitry: breaker %q is half-open and all probe slots are taken; retry after %s", e.Open.Breaker, d)
	}
	return fmt.Sprintf("circuitry: breaker %q is open; retry after %s", e.Open.Breaker, d)
}

// Unwrap returns the breaker's [*machine.OpenError].
func (e *RejectedError) Unwrap() error { return e.Open }

// GRPCStatus returns the rejection's status: codes.Unavailable, the error's
// text, and a RetryInfo detail of RetryAfter.
func (e *RejectedError) GRPCStatus() *status.Status {
	st := status.New(codes.Unavailable, e.Error())
	if ds, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)}); err == nil {
		return ds
	}
	return st
}

// RetryAfter returns how long a rejection asks its caller to wait: the
// [*RejectedError] or [*machine.OpenError] of a call rejected in this
// process, or the google.rpc.RetryInfo detail of a status error, such as a
// server's rejection received by its client. ok is false when err carries
// none. (A server's rejection also carries it in the [PushbackKey] trailer,
// which a unary caller reads with grpc.Trailer and [Pushback].)
func RetryAfter(err error) (d time.Duration, ok bool) {
	if err == nil {
		return 0, false
	}
	if re, isRe := errors.AsType[*RejectedError](err); isRe {
		return re.RetryAfter, true
	}
	if oe, isOe := errors.AsType[*machine.OpenError](err); isOe {
		return oe.RetryAfter(), true
	}
	st, isSt := status.FromError(err)
	if !isSt {
		return 0, false
	}
	for _, detail := range st.Details() {
		if ri, isRi := detail.(*errdetails.RetryInfo); isRi && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

// GuardError is the error of a call that could not be guarded, and so was
// not made: the key function panicked or returned an empty key
// ([ErrNoKey]), [Breakers] failed or returned no breaker ([ErrNoBreaker]),
// the breaker was closed even when looked up again (machine.ErrClosed), or
// an argument was nil (machine.ErrNilContext, machine.ErrNilFunc). Its gRPC
// status is codes.Unavailable when the breaker was closed (a service
// shutting down), else codes.Internal: a fault of the program, not of the
// dependency. A panic of the key function or of Breakers is recovered into
// Err, a wrapped [*machine.PanicError].
type GuardError struct {
	// Method is the call's full method name.
	Method string
	// Key is the call's key, if the key function gave one.
	Key string
	// Err is why the call could not be guarded.
	Err error
}

func (e *GuardError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("circuitry: grpcbreaker: %s was not called: %v", e.Method, e.Err)
	}
	return fmt.Sprintf("circuitry: grpcbreaker: %s was not called: breaker key %q: %v", e.Method, e.Key, e.Err)
}

// Unwrap returns why the call could not be guarded.
func (e *GuardError) Unwrap() error { return e.Err }

// Code is the error's gRPC code: codes.Unavailable when the breaker was
// closed, else codes.Internal.
func (e *GuardError) Code() codes.Code {
	if errors.Is(e.Err, machine.ErrClosed) {
		return codes.Unavailable
	}
	return codes.Internal
}

// GRPCStatus returns the error's status: [GuardError.Code] and the error's
// text.
func (e *GuardError) GRPCStatus() *status.Status { return status.New(e.Code(), e.Error()) }
