package hooks

import (
	"context"
	"fmt"

	"github.com/circuitry-go/circuitry/events"
)

// Subscriber receives the transitions of a breaker, each exactly once, in
// sequence order, with the context of the call that caused it (for a manual
// event, the operator's context; for a transition fired by a timer,
// context.Background()): the very value the caller passed, on both lanes.
// The context carries the caller's span and values but may already be
// cancelled: a subscriber that does I/O should not depend on its deadline.
//
// A subscriber runs on one of two lanes (see [Lane]); a plain Subscriber runs
// on the queued lane. Notify must not retain ctx after it returns.
type Subscriber interface {
	Notify(ctx context.Context, t events.Transition)
}

// Func adapts a function to a [Subscriber] on the queued lane.
type Func func(ctx context.Context, t events.Transition)

// Notify calls f(ctx, t).
func (f Func) Notify(ctx context.Context, t events.Transition) { f(ctx, t) }

// Lane says where a subscriber runs.
type Lane uint8

const (
	// LaneQueued subscribers run on a dispatcher goroutine, fed by a bounded
	// queue: they never hold a call, however slow. When the queue is full the
	// transition is dropped for the queued lane, counted and reported (the
	// journal still holds it). This is the default lane.
	LaneQueued Lane = iota
	// LaneInline subscribers run on the goroutine whose call caused the
	// transition (or on one delivering an earlier or later transition of
	// the same breaker at the same moment, with the causing call's
	// context), after the new state is published and outside the breaker's
	// transition lock, before that call returns: only calls that cause
	// transitions wait for them. They must be quick. Use this lane for work
	// that needs the caller's live span, such as adding a span event.
	LaneInline
)

// String returns "queued" or "inline".
func (l Lane) String() string {
	switch l {
	case LaneQueued:
		return "queued"
	case LaneInline:
		return "inline"
	}
	return fmt.Sprintf("Lane(%d)", uint8(l))
}

// Laned is implemented by a subscriber that chooses its lane.
type Laned interface {
	Subscriber
	Lane() Lane
}

// LaneOf returns the lane s runs on: s.Lane() when s implements [Laned],
// [LaneQueued] otherwise.
func LaneOf(s Subscriber) Lane {
	if l, ok := s.(Laned); ok {
		return l.Lane()
	}
	return LaneQueued
}

// Inline returns a subscriber that runs s on the [LaneInline] lane.
func Inline(s Subscriber) Subscriber { return onLane{s, LaneInline} }

// Queue returns a subscriber that runs s on the [LaneQueued] lane, whatever
// lane s asks for.
func Queue(s Subscriber) Subscriber { return onLane{s, LaneQueued} }

type onLane struct {
	Subscriber
	lane Lane
}

func (o onLane) Lane() Lane { return o.lane }

// Unwrap returns the wrapped subscriber, so that what it can do besides
// Notify (see [Unwrapper]) is found through the wrapper.
func (o onLane) Unwrap() Subscriber { return o.Subscriber }

// Unwrapper is implemented by a subscriber that wraps another, such as
// those [Inline] and [Queue] return, or a user's filter. A breaker looks
// through Unwrap for the capabilities of the wrapped subscriber (the
// OpenTelemetry bridge's rejection span events and call durations, say), so
// that wrapping a subscriber never silently drops them.
type Unwrapper interface {
	Unwrap() Subscriber
}
