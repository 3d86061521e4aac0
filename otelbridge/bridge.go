package otelbridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// ScopeName is the instrumentation scope of the meter, the import path of
// this package.
const ScopeName = "github.com/circuitry-go/circuitry/otelbridge"

// Version returns the version of this instrumentation, reported with the
// scope.
func Version() string { return "0.1.0" }

// Instrument names, units, span event names and attribute keys.
const (
	CallsName       = "circuitry.breaker.calls"
	StateName       = "circuitry.breaker.state"
	TransitionsName = "circuitry.breaker.transitions"
	DurationName    = "circuitry.breaker.call.duration"
	// JournalErrorsName counts a breaker's failed journal appends
	// (machine.Counts.JournalErrors).
	JournalErrorsName = "circuitry.breaker.journal.errors"
	// SubscriberErrorsName counts the transitions a breaker's subscribers
	// did not get, by [KeyErrorType]: panics recovered
	// (machine.Counts.SubscriberPanics) and transitions dropped by a full
	// queue (machine.Counts.QueueDropped).
	SubscriberErrorsName = "circuitry.breaker.subscriber.errors"
	// FallbacksName counts the fallbacks machine.ExecuteFallback ran, by
	// [KeyFallbackTrigger] and [KeyFallbackResult].
	FallbacksName = "circuitry.breaker.fallbacks"

	TransitionEvent = "circuitry.breaker.transition"
	RejectedEvent   = "circuitry.breaker.rejected"
	// FallbackEvent marks the caller's span when a fallback ran, with
	// [KeyFallbackTrigger] and [KeyFallbackResult].
	FallbackEvent = "circuitry.breaker.fallback"
	// CheckpointEvent is the log record of a journal checkpoint
	// ([Bridge.Checkpoint]), with [KeyJournalSegment], [KeyJournalFile] and
	// [KeyJournalHead].
	CheckpointEvent = "circuitry.journal.checkpoint"

	// KeyJournalSegment is the number of the segment a journal sealed,
	// KeyJournalFile its file, and KeyJournalHead its head: the link hash
	// that witnesses it.
	KeyJournalSegment = attribute.Key("circuitry.journal.segment")
	KeyJournalFile    = attribute.Key("circuitry.journal.file")
	KeyJournalHead    = attribute.Key("circuitry.journal.head")

	KeyName    = attribute.Key("circuitry.breaker.name")
	KeyState   = attribute.Key("circuitry.breaker.state")
	KeyOutcome = attribute.Key("circuitry.breaker.outcome")
	KeyFrom    = attribute.Key("circuitry.breaker.from")
	KeyTo      = attribute.Key("circuitry.breaker.to")
	KeyEvent   = attribute.Key("circuitry.breaker.event")
	KeySeq     = attribute.Key("circuitry.breaker.seq")
	KeyOpenFor = attribute.Key("circuitry.breaker.open_for")
	// KeyWriter is the instance that wrote the record (events.Transition.
	// Writer), on transition span events only: one value per replica is
	// too many for a metric label.
	KeyWriter = attribute.Key("circuitry.breaker.writer")
	// KeyForced is true on every state gauge point of a breaker whose
	// current state an operator's Force* call set (the last transition was
	// force_open, force_close or force_half_open), false otherwise: it
	// tells a forced-open breaker from a tripped one without a fourth
	// state.
	KeyForced     = attribute.Key("circuitry.breaker.forced")
	KeyRetryAfter = attribute.Key("circuitry.breaker.retry_after")
	// KeyFallbackTrigger is what a fallback stood in for:
	// [FallbackTriggerRejected] or [FallbackTriggerFailure].
	KeyFallbackTrigger = attribute.Key("circuitry.breaker.fallback.trigger")
	// KeyFallbackResult is [FallbackResultServed] when the fallback
	// returned a value, [FallbackResultFailed] when it failed.
	KeyFallbackResult = attribute.Key("circuitry.breaker.fallback.result")

	// KeyMode is "enforcing" or "observe_only" (machine.Mode's names): an
	// attribute of every state gauge point, and of a transition span event
	// recorded by a breaker that only observes.
	KeyMode = attribute.Key("circuitry.breaker.mode")
	// ReasonPrefix starts the keys of a transition span event's (or log
	// record's) reason fields: ReasonPrefix + the field's name
	// (events.Field.Name), such as circuitry.breaker.reason.policy or
	// circuitry.breaker.reason.rate, for every field that is set: counts
	// as integers, percents as floats, durations in seconds, text as
	// strings, the free text (last_error, note) included, as the journal
	// holds it. Free text never goes on a metric.
	ReasonPrefix = "circuitry.breaker.reason."

	// KeyErrorType is the OpenTelemetry semantic conventions' error.type:
	// on circuitry.breaker.subscriber.errors, [ErrorTypePanic] or
	// [ErrorTypeQueueFull]. It is the one key the bridge sets outside its
	// own prefix, and [WithAttributes] refuses it too.
	KeyErrorType = attribute.Key("error.type")
)

// Error type attribute values ([KeyErrorType]) of
// circuitry.breaker.subscriber.errors.
const (
	// ErrorTypePanic counts subscriber panics the breaker recovered.
	ErrorTypePanic = "panic"
	// ErrorTypeQueueFull counts transitions the queued lane dropped because
	// its queue was full (the journal still holds them).
	ErrorTypeQueueFull = "queue_full"
)

// Fallback attribute values ([KeyFallbackTrigger], [KeyFallbackResult]).
const (
	FallbackTriggerRejected = "rejected"
	FallbackTriggerFailure  = "failure"
	FallbackResultServed    = "served"
	FallbackResultFailed    = "failed"
)

// reservedPrefix starts every attribute key the bridge sets itself.
const reservedPrefix = "circuitry.breaker."

// Outcome attribute values; the first three are machine.Outcome's names.
const OutcomeRejected = "rejected"

// Option configures a [Bridge].
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	mp         metric.MeterProvider
	lp         log.LoggerProvider
	extra      []attribute.KeyValue
	spanEvents bool
	duration   bool
}

// WithMeterProvider sets the meter provider. Default: otel.GetMeterProvider()
// at the time of New.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) error {
		if mp == nil {
			return &events.OptionError{Option: "otelbridge.WithMeterProvider", Value: "nil", Reason: "must be a meter provider"}
		}
		c.mp = mp
		return nil
	})
}

// WithLoggerProvider sets the logger provider of the transition log
// records: a transition that gets no span event (no recording span at hand,
// or [WithSpanEvents](false)) is emitted as a log record with the span
// event's name and attributes. Default: the global logger provider
// (otel.GetLoggerProvider()) at the time of New, which emits
// nothing until a program sets one; a no-op provider turns the records
// off.
func WithLoggerProvider(lp log.LoggerProvider) Option {
	return optionFunc(func(c *config) error {
		if lp == nil {
			return &events.OptionError{Option: "otelbridge.WithLoggerProvider", Value: "nil", Reason: "must be a logger provider"}
		}
		c.lp = lp
		return nil
	})
}

// WithAttributes adds attributes to every measurement and span event, such as
// a service or region label. Their values must be bounded: a value per
// request would explode the metric streams. Keys starting with
// "circuitry.breaker.", and error.type ([KeyErrorType]), are the bridge's own
// and are refused, since one would silently replace the bridge's attribute (a
// fixed breaker name would merge every breaker into one stream). Default
// none.
func WithAttributes(kvs ...attribute.KeyValue) Option {
	return optionFunc(func(c *config) error {
		for _, kv := range kvs {
			if !kv.Valid() {
				return &events.OptionError{Option: "otelbridge.WithAttributes", Value: fmt.Sprintf("%q", kv.Key), Reason: "is not a valid attribute"}
			}
			if strings.HasPrefix(string(kv.Key), reservedPrefix) {
				return &events.OptionError{Option: "otelbridge.WithAttributes", Value: fmt.Sprintf("%q", kv.Key), Reason: fmt.Sprintf("uses the bridge's own prefix %q", reservedPrefix)}
			}
			if kv.Key == KeyErrorType {
				return &events.OptionError{Option: "otelbridge.WithAttributes", Value: fmt.Sprintf("%q", kv.Key), Reason: "is the bridge's own, on " + SubscriberErrorsName}
			}
		}
		c.extra = append(c.extra, kvs...)
		return nil
	})
}

// WithSpanEvents turns the span events on or off. Default on.
func WithSpanEvents(on bool) Option {
	return optionFunc(func(c *config) error { c.spanEvents = on; return nil })
}

// WithCallDuration turns on the circuitry.breaker.call.duration histogram,
// which makes each breaker the bridge subscribes to read its clock twice per
// admitted call. Default off. Its bucket boundaries, in seconds, are those
// the OpenTelemetry semantic conventions advise for request durations: 0.005,
// 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5 and 10 (a
// view in the SDK can change them).
func WithCallDuration(on bool) Option {
	return optionFunc(func(c *config) error { c.duration = on; return nil })
}

// durationBounds are the call duration histogram's bucket boundaries in
// seconds. The SDK's default boundaries (0, 5, 10, 25, ... 10000) suit
// milliseconds and would put nearly every call in one bucket.
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Bridge is a subscriber that records a breaker's transitions and calls as
// OpenTelemetry span events and metrics. One Bridge may serve many breakers.
// It is safe for concurrent use.
type Bridge struct {
	cfg              config
	meter            metric.Meter
	logger           log.Logger
	transitions      metric.Int64ObservableCounter // read from tallies
	calls            metric.Int64ObservableCounter
	state            metric.Int64ObservableGauge
	journalErrors    metric.Int64ObservableCounter
	subscriberErrors metric.Int64ObservableCounter
	fallbacks        metric.Int64ObservableCounter // read from tallies
	duration         metric.Float64Histogram
	figures          []gauge // one per entry of figures
	extra            []attribute.KeyValue

	omu       sync.Mutex
	observing map[*machine.Breaker]bool // the breakers this bridge observes
	tallies   sync.Map                  // breaker name -> *tally, of the observed breakers; written under omu
}

// New returns a bridge. Instrument creation errors are sent to otel.Handle
// and the affected instrument records nothing; New fails only for an invalid
// option.
func New(opts ...Option) (*Bridge, error) {
	cfg := config{spanEvents: true}
	for i, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: fmt.Sprintf("otelbridge.New option %d", i), Value: "nil", Reason: "must not be nil"}
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	if cfg.lp == nil {
		cfg.lp = otel.GetLoggerProvider()
	}
	b := &Bridge{cfg: cfg, extra: cfg.extra}
	b.meter = cfg.mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version()))
	b.logger = cfg.lp.Logger(ScopeName, log.WithInstrumentationVersion(Version()))
	var err, errs error
	b.transitions, err = b.meter.Int64ObservableCounter(TransitionsName,
		metric.WithUnit("{transition}"),
		metric.WithDescription("Transitions of circuit breakers between states."))
	errs = errors.Join(errs, err)
	b.calls, err = b.meter.Int64ObservableCounter(CallsName,
		metric.WithUnit("{call}"),
		metric.WithDescription("Calls through circuit breakers, by outcome: success, failure, ignored or rejected."))
	errs = errors.Join(errs, err)
	b.state, err = b.meter.Int64ObservableGauge(StateName,
		metric.WithUnit("{state}"),
		metric.WithDescription("Circuit breaker state: 1 for the current state, 0 for the others."))
	errs = errors.Join(errs, err)
	b.journalErrors, err = b.meter.Int64ObservableCounter(JournalErrorsName,
		metric.WithUnit("{error}"),
		metric.WithDescription("Journal appends that failed; the breaker kept the records and retries them."))
	errs = errors.Join(errs, err)
	b.subscriberErrors, err = b.meter.Int64ObservableCounter(SubscriberErrorsName,
		metric.WithUnit("{error}"),
		metric.WithDescription("Transitions a subscriber did not get: panics recovered, and transitions dropped by a full queue."))
	errs = errors.Join(errs, err)
	b.fallbacks, err = b.meter.Int64ObservableCounter(FallbacksName,
		metric.WithUnit("{fallback}"),
		metric.WithDescription("Fallbacks served in place of rejected or failed calls, and fallbacks that failed."))
	errs = errors.Join(errs, err)
	b.figures, err = b.figureGauges()
	errs = errors.Join(errs, err)
	var counted []metric.Observable
	for _, c := range []metric.Int64ObservableCounter{b.transitions, b.fallbacks} {
		if c != nil {
			counted = append(counted, c)
		}
	}
	if len(counted) > 0 {
		// One callback for the bridge's life reads the tallies of every
		// breaker it observes: two breakers of one name share their
		// streams, reported once.
		if _, err := b.meter.RegisterCallback(b.observeTallies, counted...); err != nil {
			errs = errors.Join(errs, fmt.Errorf("circuitry.breaker.transitions and circuitry.breaker.fallbacks callback: %w", err))
		}
	}
	if cfg.duration {
		b.duration, err = b.meter.Float64Histogram(DurationName,
			metric.WithUnit("s"),
			metric.WithDescription("Duration of calls admitted by circuit breakers, by outcome."),
			metric.WithExplicitBucketBoundaries(durationBounds...))
		errs = errors.Join(errs, err)
	}
	if errs != nil {
		otel.Handle(errs)
	}
	return b, nil
}

// Lane puts the bridge on the inline lane: a span event can only be added
// while the caller's span is live.
func (b *Bridge) Lane() hooks.Lane { return hooks.LaneInline }

// Notify records a transition: it counts it for the transitions counter
// when the bridge observes a breaker of that name (see
// [Bridge.ObserveBreaker] and [Bridge.Observe]; a transition of a breaker
// the bridge does not observe is not counted), and adds the transition's
// attributes (those of its journal record) as a span event on the causing
// call's span when it is recording, or else as a log record through the
// logger provider (see [WithLoggerProvider]): a transition fired by a
// timer, adopted from another writer, or caused by a call without a
// sampled span leaves a trace too.
func (b *Bridge) Notify(ctx context.Context, t events.Transition) {
	if tl := b.tallyOf(t.Breaker); tl != nil {
		if i := edgeIndex(&t); i >= 0 {
			tl.transitions[i].Add(1)
		}
	}
	var span trace.Span
	if b.cfg.spanEvents {
		if s := trace.SpanFromContext(ctx); s.IsRecording() {
			span = s
		}
	}
	sev := severity(t)
	if span == nil && (b.logger == nil || !b.logger.Enabled(ctx, log.EnabledParameters{Severity: sev, EventName: TransitionEvent})) {
		return
	}
	attrs := b.attrs(
		KeyName.String(t.Breaker),
		KeyFrom.String(t.From.String()),
		KeyTo.String(t.To.String()),
		KeyEvent.String(t.Event.String()),
	)
	ev := transitionAttrs(attrs, t)
	if span != nil {
		span.AddEvent(TransitionEvent, trace.WithAttributes(ev...))
		return
	}
	var rec log.Record
	rec.SetEventName(TransitionEvent)
	rec.SetTimestamp(t.Time)
	rec.SetSeverity(sev)
	rec.SetSeverityText(sev.String())
	rec.SetBody(attribute.StringValue(fmt.Sprintf("circuit breaker %s: %s -> %s (%s)", t.Breaker, t.From, t.To, t.Event)))
	rec.AddAttributes(ev...)
	b.logger.Emit(ctx, rec)
}

// Checkpoint witnesses a journal's checkpoint outside the journal: it emits
// a log record (event [CheckpointEvent], severity info) through the logger
// provider, with the sealed segment's number, its file and its head, so
// that the head lands in the logs pipeline, where whoever edits the
// journal's files cannot reach it. Give it to the file journal's
// checkpoint handler:
//
//	filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) {
//		bridge.Checkpoint(context.Background(), c.Sealed, c.Path, c.Head)
//	})
//
// `circuitry verify -head HEAD` then proves that the journal still holds,
// unchanged, every record up to that checkpoint.
func (b *Bridge) Checkpoint(ctx context.Context, segment uint64, file, head string) {
	if b.logger == nil || !b.logger.Enabled(ctx, log.EnabledParameters{Severity: log.SeverityInfo, EventName: CheckpointEvent}) {
		return
	}
	var rec log.Record
	rec.SetEventName(CheckpointEvent)
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(log.SeverityInfo)
	rec.SetSeverityText(log.SeverityInfo.String())
	rec.SetBody(attribute.StringValue(fmt.Sprintf("journal checkpoint: segment %d sealed, head %s", segment, head)))
	rec.AddAttributes(KeyJournalSegment.Int64(int64(segment)), KeyJournalFile.String(file), KeyJournalHead.String(head))
	b.logger.Emit(ctx, rec)
}

// severity is a transition log record's severity: warn for a transition
// to open, info for the others.
func severity(t events.Transition) log.Severity {
	if t.To == events.Open {
		return log.SeverityWarn
	}
	return log.SeverityInfo
}

// transitionAttrs returns attrs followed by the rest of the transition's
// record: its sequence number, every reason field that is set, the open
// period, the writer and the mode.
func transitionAttrs(attrs []attribute.KeyValue, t events.Transition) []attribute.KeyValue {
	ev := append(attrs[:len(attrs):len(attrs)], KeySeq.Int64(int64(t.Seq)))
	for f := range t.Reason.Fields() {
		key := attribute.Key(ReasonPrefix + f.Name)
		switch f.Kind {
		case events.KindCount:
			ev = append(ev, key.Int64(int64(f.Count)))
		case events.KindPercent:
			ev = append(ev, key.Float64(f.Percent))
		case events.KindDuration:
			ev = append(ev, key.Float64(f.Duration.Seconds()))
		default:
			ev = append(ev, key.String(f.Text))
		}
	}
	if t.To == events.Open {
		ev = append(ev, KeyOpenFor.Float64(t.OpenFor.Seconds()))
	}
	if t.Writer != "" {
		ev = append(ev, KeyWriter.String(t.Writer))
	}
	if t.ObserveOnly {
		ev = append(ev, KeyMode.String(machine.ObserveOnly.String()))
	}
	return ev
}

// CallRejected adds the rejected span event to the caller's span when it is
// recording. It allocates nothing when the span is not recording.
func (b *Bridge) CallRejected(ctx context.Context, err *machine.OpenError) {
	if !b.cfg.spanEvents {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(RejectedEvent, trace.WithAttributes(b.attrs(
		KeyName.String(err.Breaker),
		KeyState.String(err.State.String()),
		KeyRetryAfter.Float64(err.RetryAfter().Seconds()),
	)...))
}

// FallbackDone counts a fallback that ran for the fallbacks counter, when
// the bridge observes a breaker of that name (as [Bridge.Notify] counts
// transitions), and adds the fallback span event to the caller's span when
// it is recording.
func (b *Bridge) FallbackDone(ctx context.Context, breaker string, rejected bool, err error) {
	if tl := b.tallyOf(breaker); tl != nil {
		tl.fallbacks[fallbackIndex(rejected, err != nil)].Add(1)
	}
	if !b.cfg.spanEvents {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	trigger, result := FallbackTriggerFailure, FallbackResultServed
	if rejected {
		trigger = FallbackTriggerRejected
	}
	if err != nil {
		result = FallbackResultFailed
	}
	span.AddEvent(FallbackEvent, trace.WithAttributes(b.attrs(KeyName.String(breaker), KeyFallbackTrigger.String(trigger), KeyFallbackResult.String(result))...))
}

// TimesCalls reports whether the duration histogram is on.
func (b *Bridge) TimesCalls() bool { return b.cfg.duration }

// CallFinished records an admitted call's duration, when the histogram is on.
func (b *Bridge) CallFinished(ctx context.Context, breaker string, o machine.Outcome, d time.Duration) {
	if b.duration == nil {
		return
	}
	b.duration.Record(ctx, d.Seconds(), metric.WithAttributes(b.attrs(
		KeyName.String(breaker),
		KeyOutcome.String(o.String()),
	)...))
}

func (b *Bridge) attrs(kvs ...attribute.KeyValue) []attribute.KeyValue {
	if len(b.extra) == 0 {
		return kvs
	}
	return append(append(make([]attribute.KeyValue, 0, len(kvs)+len(b.extra)), kvs...), b.extra...)
}

var (
	_ hooks.Laned          = (*Bridge)(nil)
	_ machine.CallObserver = (*Bridge)(nil)
	_ machine.CallTimer    = (*Bridge)(nil)

	_ machine.FallbackObserver = (*Bridge)(nil)
)
