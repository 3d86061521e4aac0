// Package machine is the circuit breaker: a [Breaker] whose three states
// (closed, open, half-open) and every legal transition between them are a
// looplab/fsm machine built from [events.Table], whose every transition is a
// typed record appended to a journal and delivered to subscribers, and whose
// per-call path takes no lock.
//
// # Use
//
//	b, err := machine.New("payments",
//		machine.WithFailureThreshold(5),
//		machine.WithRecoveryTimeout(30*time.Second),
//		machine.WithSuccessThreshold(2),
//		machine.WithSubscribers(hooks.Slog(logger)),
//	)
//	err = b.Do(ctx, func(ctx context.Context) error { return call(ctx) })
//	v, err := machine.Execute(ctx, b, fetch)
//	if errors.Is(err, machine.ErrOpen) { /* fall back */ }
//
// Trip on rates over a window instead, back off while the dependency stays
// down, and bound half-open:
//
//	w := machine.LastDuration(time.Minute, 12) // 12 buckets of 5s
//	b, err := machine.New("payments",
//		machine.WithTripPolicy(
//			machine.FailureRate(50, 20, w),                 // 50% of at least 20 calls failed
//			machine.SlowCallRate(80, 2*time.Second, 20, w), // 80% took over 2s
//		),
//		machine.WithBackoff(10*time.Second, 2, 5*time.Minute),
//		machine.WithJitter(0.2, rand.Float64),
//		machine.WithHalfOpenTimeout(time.Minute),
//	)
//
// # Semantics
//
//   - Closed: every call runs. Its trip policies ([WithTripPolicy]) fire
//     trip when any says so: by default [WithFailureThreshold] consecutive
//     failures (a success resets the count); also, or instead, a failure
//     rate or a slow-call rate over the last N calls or the last period of
//     time ([FailureRate], [SlowCallRate], [LastCalls], [LastDuration]), or
//     a function of the window's counts ([CustomPolicy]). A window policy
//     is evaluated when a failure or a slow call is recorded.
//   - Open: every call is rejected with an [*OpenError] (matching [ErrOpen])
//     until the open period has passed: the recovery timeout, or the
//     backoff's period for this many consecutive opens ([WithBackoff]),
//     spread by [WithJitter], or what an operator chose. Then the next call
//     fires probe, or the timer does ([WithProbeOnTimer]).
//   - Half-open: at most [WithProbeLimit] probes run at once; the rest are
//     rejected as if open. [WithSuccessThreshold] successes fire recover;
//     any failure fires retrip, and so does [WithHalfOpenTimeout] when the
//     probes have not decided in time. A probe that is ignored (its caller
//     gave up) or exits its goroutine frees its slot; a probe that panics is
//     a failure. Across a fleet that shares the breaker, [WithProbeLease]
//     lets only one process probe each half-open period.
//   - A breaker made [WithObserveOnly] runs all of this, journals and
//     delivers every transition (marked observe-only: "would trip"), but
//     rejects no call; it counts the calls it would have rejected.
//   - Every transition starts a new generation with fresh counters and, in
//     closed, empty windows. The outcome of a call admitted in an older
//     generation is counted in [Counts] but never moves the state.
//   - A [Classifier] decides what counts: by default nil is a success, the
//     caller's own [context.Canceled] is ignored, anything else is a failure.
//     A panic is a failure, and is re-raised.
//   - Operators move the breaker with [Breaker.ForceOpen],
//     [Breaker.ForceClose] and [Breaker.ForceHalfOpen]: fsm events like any
//     other, recorded with who asked and why.
//
// # Event sourcing
//
// Each transition is folded and published at once, delivered to the
// subscribers, and appended to the journal ([WithJournal]) by a writer
// goroutine, in order, so that no call waits on journal I/O (each append is
// bounded by [WithJournalTimeout]). A breaker created over a journal that
// already holds its transitions resumes from their fold; an open breaker
// stays open until its recorded open period ends. An append that fails does
// not stop the transition: it is reported to the error handler
// ([WithErrorHandler]) as a [*JournalError], counted, and appended again by a
// timer, the next transition, [Breaker.Sync] or [Breaker.Close]. When another
// writer sharing the journal stored a record at the same sequence number
// first, the breaker adopts the journal's history, and its subscribers get
// those records marked adopted; [WithFollow] folds other writers' records as
// they are stored. Manual controls wait for their record to be stored,
// bounded by their context; Sync waits for the writer.
//
// # Concurrency and locks
//
// Calls in closed and open read an atomically published snapshot and update
// per-P counters (see counters.go: no locked instruction per call); they
// take no lock and allocate nothing. With the
// default policy they read no clock: a time window reads it once per call
// and a slow-call policy (or call timing) twice. Windows are updated with
// atomic operations only (see [LastCalls] and [LastDuration]). The first
// call after an open period, admissions in half-open, outcomes of probes,
// and outcomes that make a policy fire take the breaker's transition lock,
// which covers no I/O. Under that lock the breaker fires the fsm event (with
// [context.WithoutCancel], so a cancelled caller cannot wedge the fsm),
// folds the record and hands it to the journal writer, publishes the new
// snapshot and enqueues the record for the subscribers. The only user code
// that runs under it is the clock's Now, AfterFunc and Timer.Stop, and the
// [WithJitter] source: none of them may call back into the breaker, and a
// clock must not run a timer function inside AfterFunc or Stop. The journal
// is called by the writer goroutine (and by Sync, New and the follower)
// outside the lock. A journal or jitter source that panics is recovered and
// reported; if anything else
// panics under the lock (a clock), the lock is released, the breaker is put
// back in the state of its fold, and the panic goes on to the caller: no
// panic leaves a breaker locked.
//
// Timers hold their breaker weakly: a breaker that its owner drops is
// garbage collected even while its open period or an append retry is
// pending, and transitions it could not store are reported to the error
// handler then (an [*UnstoredError]).
// Subscribers and the error handler run after it is released (see package
// hooks for the two delivery lanes), so they may call [Breaker.State],
// [Breaker.Counts] and [Breaker.Snapshot]. The open-period timer takes no
// lock: it flags the snapshot so that the next call probes. With
// [WithProbeOnTimer] it then fires probe, and the [WithHalfOpenTimeout]
// timer fires retrip: both take the transition lock on the timer's
// goroutine, check that the breaker is still in the period they were armed
// for, and deliver to the inline subscribers there, with
// context.Background().
package machine
