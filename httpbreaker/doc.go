// Package httpbreaker puts circuitry breakers where services make their
// HTTP calls: a client [Transport] with a breaker per host, and a server
// handler ([NewHandler]) that sheds load while its breaker is open.
//
// The transport keys each request (by default its scheme, host and port),
// gets that key's breaker from a [Breakers] function (a keyed registry's
// lookup, or [Single]), and sends the request only if the breaker admits
// it. The response counts by its status ([Classify]): 5xx but 501, 408 and
// 429 are failures, named in the journal by their status line, and a 429 or
// 503 with Retry-After opens the breaker for the time the server asked
// (capped by machine.WithMaxRetryAfter). A rejected request is never sent:
// the client gets the breaker's *machine.OpenError, which matches
// machine.ErrOpen and says how long the breaker stays open. The transport
// never reads a response's body.
//
//	client := &http.Client{Transport: transport} // transport from NewTransport(nil, reg.Get)
//	resp, err := client.Get("https://api.example.com/prices")
//	if errors.Is(err, machine.ErrOpen) { ... serve from cache ... }
//
// The handler answers 503 with Retry-After while its breaker is open, or
// serves a fallback handler, and counts the status its handler wrote.
package httpbreaker
