// Package otelbridge turns a breaker's transitions and calls into
// OpenTelemetry span events and metrics.
//
//	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp))
//	b, err := machine.New("payments", machine.WithSubscribers(bridge)) // the one step
//	defer b.Close(ctx)                                                  // unregisters its instruments
//
// The [Bridge] is a subscriber on the inline lane, so that it runs on the
// goroutine of the call that caused a transition while that call's span is
// still live. For each transition it adds the span event
// circuitry.breaker.transition to trace.SpanFromContext(ctx), when that span
// is recording, and counts it for circuitry.breaker.transitions. As a
// [machine.CallObserver] it adds circuitry.breaker.rejected to the span of
// every rejected call (when recording), so that a trace tells a
// short-circuited call from a failed dependency; an unsampled call pays one
// check and no allocation.
//
// Per-call counts cost nothing per call: a breaker that has the bridge as a
// subscriber registers it as a [machine.BreakerObserver] at New (and
// unregisters it at Close), and the bridge's observable instruments read
// the breaker's cumulative counters and its published state at collection
// time. [Bridge.Observe] does the same for breakers that do not have the
// bridge as a subscriber. The call duration histogram is
// opt-in ([WithCallDuration]) because it makes the breaker read its clock
// twice per call.
//
// # Instruments
//
//	name                                     kind                      unit          attributes
//	circuitry.breaker.calls                  observable counter        {call}        name, outcome
//	circuitry.breaker.state                  observable gauge (0 or 1) {state}       name, state, mode, forced
//	circuitry.breaker.journal.errors         observable counter        {error}       name
//	circuitry.breaker.subscriber.errors      observable counter        {error}       name, error.type
//	circuitry.breaker.transitions            observable counter        {transition}  name, from, to, event
//	circuitry.breaker.fallbacks              observable counter        {fallback}    name, fallback.trigger, fallback.result
//	circuitry.breaker.policy.failures        observable gauge          {call}        name, policy
//	circuitry.breaker.policy.threshold       observable gauge          {call}        name, policy
//	circuitry.breaker.policy.calls           observable gauge          {call}        name, policy
//	circuitry.breaker.policy.slow            observable gauge          {call}        name, policy
//	circuitry.breaker.policy.rate            observable gauge          %             name, policy
//	circuitry.breaker.policy.rate_threshold  observable gauge          %             name, policy
//	circuitry.breaker.policy.min_calls       observable gauge          {call}        name, policy
//	circuitry.breaker.call.duration          histogram, opt-in         s             name, outcome
//
// Attribute keys are circuitry.breaker.name, .state, .mode, .forced,
// .outcome, .from, .to, .event, .policy, .fallback.trigger and
// .fallback.result, and error.type; outcome is success, failure, ignored
// or rejected, mode is enforcing or observe_only (a breaker made with
// machine.WithObserveOnly rejects nothing: its open state is what an
// enforcing one would be in), and forced is true when an operator's Force*
// call set the current state. The units keep the names Prometheus shows,
// through the OpenTelemetry Prometheus exporter, those docs/opentelemetry.md
// gives: circuitry_breaker_state, circuitry_breaker_calls_total,
// circuitry_breaker_policy_rate_percent and so on.
//
// The policy gauges are what each trip policy sees now
// ([machine.Breaker.Policies]), named after the reason's fields: how close
// the breaker is to tripping. A rate is -1 below the policy's minimum
// calls. The transitions and fallbacks streams of a breaker with the bridge
// as a subscriber start at 0, so that a range query sees the first one.
//
// The bridge counts the transitions and fallbacks of the breakers it
// observes itself, per breaker name, and reports the counts through
// observable counters, so that a breaker's streams end when it is closed
// (or unregistered) rather than stay for the process's life, as a
// synchronous counter's would: a registry whose keys come and go would
// otherwise reach the SDK's cardinality limit, and lose new transitions to
// its overflow stream. It counts nothing for a breaker it does not observe
// (see [Bridge.Observe]); being observable, the counters carry no
// exemplars.
//
// Every transition gets a span event on the causing call's span when it is
// recording, or else a log record through the OpenTelemetry logs API
// ([WithLoggerProvider]), with the attributes of its journal record: a
// transition a timer fired leaves a trace too.
//
// The transition span event also carries the reason's policy and figures
// (with the calls, slow calls, rate and threshold rate of a window policy),
// and its free text, the last error and the operator's note. Metric values
// are bounded: breaker names, states, outcomes, events, policies and error
// types, never an error message or a note. No semantic convention for circuit breakers
// exists yet; these names follow the OpenTelemetry naming rules, and
// error.type is the semantic conventions' general attribute.
//
// The two error counters report what a breaker otherwise only sends to its
// error handler (machine.WithErrorHandler), read from [machine.Counts] like
// the calls. circuitry.breaker.journal.errors counts the appends the journal
// refused with an error other than a conflict (JournalErrors), retries
// included: the transition still happened in memory, and the breaker keeps
// the records and appends them again before its next one (or at
// [machine.Breaker.Sync]). circuitry.breaker.subscriber.errors counts the
// transitions a subscriber did not get: error.type panic for a subscriber
// panic recovered (SubscriberPanics), queue_full for a transition the queued
// lane dropped because its queue was full (QueueDropped; the journal still
// holds it). Each observed breaker reports all three streams, 0 until
// something fails.
//
// The package imports only the OpenTelemetry API. Instrument errors go to
// otel.Handle. The instrumentation scope is [ScopeName] at [Version].
package otelbridge
