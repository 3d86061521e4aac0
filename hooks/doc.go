// Package hooks is what a breaker's subscribers see: the [Subscriber]
// interface and its [Func] adapter, the two delivery lanes, the errors a
// delivery reports ([*PanicError], [*OverflowError], [ErrReentrant]), and
// the stock subscribers [Slog] (structured logging) and [Alerter] (a
// callback when a breaker flaps or stays open). The breaker's dispatcher,
// which orders delivery and isolates panics, is internal to circuitry.
//
// # Delivery guarantees
//
// Every subscriber of a breaker receives every transition exactly once, in
// sequence order, with the context of the call that caused it. A subscriber
// that panics is recovered and reported through the error handler; the
// breaker, the call and the other subscribers go on.
//
// # Two lanes
//
// A span event can only be added while the caller's span is live, yet a slow
// subscriber must never hold a call. So each subscriber runs on one of two
// lanes, each in sequence order:
//
//   - [LaneInline]: on the goroutine whose call caused the transition, after
//     the new state is published and after the breaker's transition lock is
//     released, before that call returns. When transitions of one breaker
//     follow each other closely, one goroutine may deliver several of them,
//     in order, each with the context of the call that caused it: a
//     subscriber always gets the causing call's context (and live span),
//     not always its goroutine. Only calls that cause transitions wait;
//     other calls do not. Inline subscribers must be quick. They may
//     read the breaker (State, Counts), call through it, and fire a manual
//     event on it with any context; a transition they cause is delivered
//     right after the current one, on the same goroutine (the dispatcher
//     tells its own goroutine apart, at the cost of a stack read of a
//     microsecond or two per delivery, never per call).
//   - [LaneQueued] (the default): on a dispatcher goroutine fed by a bounded
//     queue. A full queue drops the transition for this lane only, counts it
//     and reports an [*OverflowError]; the journal still holds it. A queued
//     subscriber may call the breaker too, but its Flush would wait for the
//     very delivery it is part of: it returns [ErrReentrant] at once.
//
// Stock subscribers: [Slog] and [Alerter] run queued. The OpenTelemetry
// subscriber in package otelbridge runs inline. Wrap any subscriber with
// [Inline] or [Queue] to choose.
//
// No subscriber ever runs under the breaker's transition lock or the
// finite-state machine's lock, so reading the breaker from a subscriber never
// deadlocks.
package hooks
