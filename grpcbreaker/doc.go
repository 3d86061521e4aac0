// Package grpcbreaker guards gRPC calls with circuitry breakers: client
// and server interceptors, unary and streaming, that admit each call
// through its breaker, reject it with codes.Unavailable while the breaker
// is open, and report each call's outcome, classified by its status code,
// to the breaker. It is a nested module, so that the core module needs no
// gRPC.
//
// # Use
//
//	ic, err := grpcbreaker.New(registry.Get) // or grpcbreaker.Single(b)
//	conn, err := grpc.NewClient(target,
//		grpc.WithChainUnaryInterceptor(ic.UnaryClient),
//		grpc.WithChainStreamInterceptor(ic.StreamClient),
//	)
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(ic.UnaryServer),
//		grpc.ChainStreamInterceptor(ic.StreamServer),
//	)
//
// # Which breaker
//
// Each call's key names its breaker: by default its full method name,
// "/pkg.Service/Method" ([ByMethod]); [ByTarget] keys client calls by the
// connection's target instead, one breaker per dependency, and [WithKey]
// takes any function. [Breakers] turns the key into a breaker: a keyed
// registry's Get as a method value, or [Single] for one breaker. A breaker
// closed between its lookup and the call (a registry evicted it) is looked
// up once more. A call that cannot be guarded (the key function panics or
// returns "", the lookup fails, an argument is nil) is not made: its error
// is a [*GuardError] with codes.Internal (codes.Unavailable for a breaker
// still closed when looked up again); no panic of the key function or of
// Breakers escapes.
//
// # Outcomes
//
// A call's error is classified by [DefaultClassifier] unless
// [WithClassifier] says otherwise: Unavailable, DeadlineExceeded,
// ResourceExhausted, Internal, Unknown and DataLoss are failures, the
// caller's own Canceled is ignored, and the other codes, which answer the
// request, are successes. Outcomes are reported with machine.Permit.Report:
// a failure's cause, which a transition's record keeps as its last error,
// is "grpc Unavailable: <message>". A failure whose trailer holds gRPC's
// retry pushback ([PushbackKey], [Pushback]) opens the breaker at once for
// the time asked, capped by machine.WithMaxRetryAfter; [WithPushback]
// turns that off. A stream is admitted when it is created and counts once,
// when it ends ([Interceptors.StreamClient] lists how).
//
// # Rejections
//
// A rejected call's error is a [*RejectedError]: status.Code(err) is
// codes.Unavailable and its message says the breaker is open and for how
// long yet; errors.Is(err, machine.ErrOpen) holds in the process that
// rejected it. The remaining open time travels with it as a
// google.rpc.RetryInfo detail and, from a server, as the pushback trailer,
// so that a client's own breaker (with these interceptors) or gRPC's
// retries wait that long. [RetryAfter] reads it on either side.
//
// # Cost
//
// On a closed breaker the unary interceptors allocate nothing of their
// own: admission is the breaker's lock-free path, and the call option that
// reads the trailer comes from a pool. Reading the trailer makes gRPC copy
// it, one allocation per call on a real connection; WithPushback(false)
// saves it. A rejection allocates its [*RejectedError]; a failure, its
// cause. A stream allocates its wrapper and a context.AfterFunc. The
// breaker's subscribers see the context of each call (the caller's on a
// client, the request's on a server), so the OpenTelemetry bridge's span
// events land on its span.
package grpcbreaker
