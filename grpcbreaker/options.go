package grpcbreaker

import (
	"context"
	"log/slog"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// Breakers returns the breaker that guards the calls of key. A keyed
// registry plugs in as a method value (registry.Get, say, of type
// func(string) (*machine.Breaker, error)); one breaker for every call plugs
// in with [Single].
//
// An error makes the call fail without being made (a [*GuardError]); so
// does a nil breaker. When the breaker returned turns out to be closed
// (machine.ErrClosed: a registry may close a breaker it evicts between the
// lookup and the call), Breakers is asked once more for the same key.
type Breakers func(key string) (*machine.Breaker, error)

// Single returns the [Breakers] that guards every call with b.
func Single(b *machine.Breaker) Breakers {
	return func(string) (*machine.Breaker, error) { return b, nil }
}

// KeyFunc names the breaker of a call, for [Breakers]: method is the full
// method name ("/pkg.Service/Method") and target, on the client, the
// target the connection was created with (grpc.ClientConn.Target); on the
// server target is empty (read the request's metadata from ctx if you need
// its authority). An empty key, or a panic, makes the call fail without
// being made (a [*GuardError] with codes.Internal).
type KeyFunc func(ctx context.Context, method, target string) string

// ByMethod keys a call by its full method name, "/pkg.Service/Method": one
// breaker per method. It is the default.
func ByMethod(_ context.Context, method, _ string) string { return method }

// ByTarget keys a client call by its connection's target: one breaker per
// dependency, whatever the method. On a server, where there is no target,
// every call fails with [ErrNoKey]: key server calls by method, or with a
// function of your own.
func ByTarget(_ context.Context, _, target string) string { return target }

// Option configures [New]. Options are applied in order, after the
// defaults; an invalid value makes New return an *events.OptionError
// naming the option. The defaults, all in one place, each applying when
// its option is not given:
//
//	option            default
//	WithKey           ByMethod: one breaker per full method name, "/pkg.Service/Method"
//	WithClassifier    DefaultClassifier: Unavailable, DeadlineExceeded, ResourceExhausted,
//	                  Internal, Unknown and DataLoss are failures; the caller's own
//	                  Canceled is ignored; every other code is a success
//	WithPushback      true: a client failure whose trailer holds grpc-retry-pushback-ms
//	                  opens its breaker for that long; a server rejection sends the
//	                  rest of the open period in that trailer
//	WithErrorHandler  log through slog.Default at level Error
//
// The key function, [Breakers] and the classifier run on the call path of
// every call: keep them quick.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	key      KeyFunc
	classify Classifier // nil: DefaultClassifier, called without a guard
	pushback bool
	onError  func(error)
}

func defaults() config {
	return config{key: ByMethod, pushback: true, onError: func(err error) {
		slog.Default().Error("circuitry: grpcbreaker error", "error", err)
	}}
}

// WithKey sets the function that names the breaker of each call. Default
// [ByMethod]; [ByTarget] keys client calls by dependency instead.
func WithKey(f KeyFunc) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "grpcbreaker.WithKey", Value: "nil", Reason: "must be a function"}
		}
		c.key = f
		return nil
	})
}

// WithClassifier sets the function that decides how a finished call
// counts (see [Classifier]). Default [DefaultClassifier].
func WithClassifier(f Classifier) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "grpcbreaker.WithClassifier", Value: "nil", Reason: "must be a function"}
		}
		c.classify = f
		return nil
	})
}

// WithPushback turns gRPC's retry pushback on or off, both ways. On (the
// default), a failure whose trailer holds [PushbackKey] (see [Pushback])
// gives its Result a RetryAfter, which opens the client's breaker at once
// for that long (capped by machine.WithMaxRetryAfter), unless the
// classifier set one; and a server's rejection sends the rest of its open
// period in that trailer, which gRPC's own retries honour too. Reading the
// trailer of a unary call costs the call a grpc.Trailer call option
// (taken from a pool) and gRPC's copy of the trailer.
func WithPushback(on bool) Option {
	return optionFunc(func(c *config) error {
		c.pushback = on
		return nil
	})
}

// WithErrorHandler sets the function that receives what the interceptors
// cannot return to a caller: a classifier that panicked (the call counts as
// ignored; reported once per [Interceptors]). Default: log through
// slog.Default at level Error.
func WithErrorHandler(f func(error)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "grpcbreaker.WithErrorHandler", Value: "nil", Reason: "must be a function"}
		}
		c.onError = f
		return nil
	})
}
