package hooks

import (
	"context"
	"log/slog"

	"github.com/circuitry-go/circuitry/events"
)

// SlogMessage is the message of every record written by the [Slog]
// subscriber.
const SlogMessage = "circuit breaker transition"

// Slog returns a subscriber that writes each transition to logger as one
// record with the message [SlogMessage], at level [slog.LevelWarn] when the
// breaker opens and [slog.LevelInfo] otherwise. A nil logger means
// [slog.Default], looked up at each transition, as the slog package's own
// top-level functions do.
//
// The record has these attributes, in this order:
//
//	breaker   string   the breaker's name
//	seq       uint64   the record's sequence number
//	event     string   the event, such as "trip" or "force_open"
//	from, to  string   the states, such as "closed" or "open"
//	open_for  duration how long the breaker stays open; only when to is "open"
//	writer    string   the instance that wrote the record; when known
//	adopted   bool     true when the breaker folded another writer's record
//	reason    group    every field of the reason that is set, under its name
//	                   ([events.Reason.Fields]: policy, failures, successes,
//	                   threshold, calls, slow, rate, rate_threshold,
//	                   min_calls, slower_than, last_error, operator, note),
//	                   and the group only when one of them is set
//
// The record's time is the transition's [events.Transition.Time], the time
// the journal keeps, not when the subscriber ran: a queued subscriber may run
// a moment later. The record goes to the logger's handler with the
// transition's context, so a handler sees the caller's context values (a
// trace handler, say, can read its span).
//
// The subscriber runs on the [LaneQueued] lane, because a log handler may do
// I/O; wrap it in [Inline] to log on the calling goroutine instead.
func Slog(logger *slog.Logger) Subscriber { return slogSubscriber{logger} }

type slogSubscriber struct{ logger *slog.Logger }

// Lane returns LaneQueued.
func (slogSubscriber) Lane() Lane { return LaneQueued }

// Notify logs t.
func (s slogSubscriber) Notify(ctx context.Context, t events.Transition) {
	logger := s.logger
	if logger == nil {
		logger = slog.Default()
	}
	level := slog.LevelInfo
	if t.To == events.Open {
		level = slog.LevelWarn
	}
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs,
		slog.String("breaker", t.Breaker),
		slog.Uint64("seq", t.Seq),
		slog.String("event", t.Event.String()),
		slog.String("from", t.From.String()),
		slog.String("to", t.To.String()),
	)
	if t.To == events.Open {
		attrs = append(attrs, slog.Duration("open_for", t.OpenFor))
	}
	if t.Writer != "" {
		attrs = append(attrs, slog.String("writer", t.Writer))
	}
	if t.Adopted {
		attrs = append(attrs, slog.Bool("adopted", true))
	}
	if reason := reasonAttrs(t.Reason); len(reason) > 0 {
		attrs = append(attrs, slog.GroupAttrs("reason", reason...))
	}
	r := slog.NewRecord(t.Time, level, SlogMessage, 0)
	r.AddAttrs(attrs...)
	_ = logger.Handler().Handle(ctx, r) // as Logger.LogAttrs does, a handler's error is dropped
}

// reasonAttrs returns the fields of r that are set, in the order and with
// the names of [events.Reason.Fields].
func reasonAttrs(r events.Reason) []slog.Attr {
	var attrs []slog.Attr
	for f := range r.Fields() {
		switch f.Kind {
		case events.KindCount:
			attrs = append(attrs, slog.Uint64(f.Name, f.Count))
		case events.KindPercent:
			attrs = append(attrs, slog.Float64(f.Name, f.Percent))
		case events.KindDuration:
			attrs = append(attrs, slog.Duration(f.Name, f.Duration))
		default:
			attrs = append(attrs, slog.String(f.Name, f.Text))
		}
	}
	return attrs
}
