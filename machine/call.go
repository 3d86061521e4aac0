package machine

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/circuitry-go/circuitry/events"
)

// Permit is an admitted call, returned by [Breaker.Allow]. Report its result
// with [Permit.Done] exactly once. A Permit is a small value: passing it
// around allocates nothing.
type Permit struct {
	b     *Breaker
	ctx   context.Context
	tag   uint64        // the generation admitted in, with probeTag set for a probe
	start time.Duration // since b.epoch on the clock; set only when calls are timed (b.clocked)
}

// probeTag marks the permit of a half-open probe. Generations never reach
// it. (Keeping the permit at five words keeps Allow's return cheap.)
const probeTag = 1 << 63

func (p *Permit) gen() uint64 { return p.tag &^ probeTag }
func (p *Permit) probe() bool { return p.tag&probeTag != 0 }

// Allow asks the breaker to admit a call, for code that cannot be wrapped in
// a function; most callers use [Breaker.Do] or [Execute]. It returns a Permit
// whose Done must be called with the call's error, or an error matching
// [ErrOpen] (an [*OpenError]) when the call is rejected.
//
// In closed and open, Allow reads one atomic snapshot and takes no lock. The
// first call after an open period takes the transition lock to fire the
// probe event; in half-open, admission takes the lock to count probe slots.
// When Allow causes a transition, the inline subscribers run on the calling
// goroutine before it returns. A breaker that only observes admits every
// call (see [WithObserveOnly]).
func (b *Breaker) Allow(ctx context.Context) (Permit, error) {
	// Small enough to be inlined: the caller builds the permit in its own
	// frame, instead of copying it back from Allow's.
	if s := b.snap.Load(); s.state == events.Closed && !b.clocked && ctx != nil {
		return Permit{b: b, ctx: ctx, tag: s.gen}, nil
	}
	return b.admit(ctx)
}

// admit decides on every call but a closed breaker's without call timing,
// which Allow and Do decide inline: in closed with call timing it admits;
// in open it rejects until the open period is over, then fires probe and
// admits from half-open; in half-open it takes a probe slot or rejects. A
// breaker that only observes admits what it would reject (observed). It is
// the one place where admission is decided.
func (b *Breaker) admit(ctx context.Context) (Permit, error) {
	if ctx == nil {
		return Permit{}, ErrNilContext
	}
	fired := false // this call moved the breaker to half-open
	for attempt := 0; ; attempt++ {
		s := b.snap.Load()
		switch {
		case s.state == stateShut:
			return Permit{}, ErrClosed
		case s.state == events.Closed:
			return b.permit(ctx, s.gen), nil
		case s.state == events.Open && !s.due:
			return Permit{}, b.reject(ctx, s)
		case s.state == events.Open && !s.over: // only observes
			return b.observed(ctx, s)
		case s.state == events.Open && attempt < maxProbeAttempts:
			// The open period is over: this call fires probe, and is
			// admitted from half-open (or from whatever state another
			// writer moved the breaker to).
			err := b.transition(ctx, func(cur *snapshot) (move, bool) {
				return move{ev: events.Probe, reason: events.Reason{Policy: events.PolicyOpenTimeout}}, cur == s
			})
			b.noteErr(err)
			if err != nil && !errors.Is(err, events.ErrConflict) {
				return b.refuse(ctx, s)
			}
			fired = err == nil
		case s.state == events.Open:
			return b.refuse(ctx, s)
		default: // half-open
			if b.takeProbeSlot(s) {
				p := b.permit(ctx, s.gen)
				p.tag |= probeTag
				return p, nil
			}
			if fired && b.cfg.lease != nil {
				// The call that moved the breaker to half-open waits
				// for the probe lease's answer (within ctx and the
				// lease's own deadline) rather than be refused while
				// the request is under way: with little traffic, the
				// next call may come after the period is over.
				b.awaitLease(ctx, s.gen)
				fired = false
				continue
			}
			return b.refuse(ctx, s)
		}
	}
}

// permit admits a call in generation gen, timing it when calls are timed.
func (b *Breaker) permit(ctx context.Context, gen uint64) Permit {
	p := Permit{b: b, ctx: ctx, tag: gen}
	if b.clocked {
		p.start = b.since()
	}
	return p
}

// takeProbeSlot takes one of half-open generation s.gen's probe slots, if
// one is free and the breaker is still in that generation.
func (b *Breaker) takeProbeSlot(s *snapshot) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.snap.Load() != s || b.probes.Load() >= uint32(b.cfg.probeLimit) || !b.holdsLeaseLocked(s.gen) {
		return false
	}
	b.probes.Add(1)
	return true
}

// refuse rejects a call that the state of snapshot s does not admit, or,
// in a breaker that only observes, admits it as observed.
func (b *Breaker) refuse(ctx context.Context, s *snapshot) (Permit, error) {
	if b.observe {
		return b.observed(ctx, s)
	}
	return Permit{}, b.reject(ctx, s)
}

// reject counts a rejection in the state of snapshot s, tells the call
// observers, and returns the preallocated rejection.
func (b *Breaker) reject(ctx context.Context, s *snapshot) error {
	b.calls.add(kindRejected)
	if b.onReject != nil {
		b.observeRejected(ctx, s.reject)
	}
	return s.reject
}

// maxProbeAttempts bounds how often one call tries to fire the probe event
// when other writers keep moving a shared breaker first.
const maxProbeAttempts = 3

// Done reports the result of the admitted call: err is classified by the
// breaker's [Classifier] and counted. An outcome of a call admitted before
// the breaker last changed state is counted in [Counts] but does not move
// the state. If the outcome causes a transition, the inline subscribers run
// on the calling goroutine before Done returns. Done on the zero Permit does
// nothing; calling it twice on the same Permit counts the call twice.
func (p Permit) Done(err error) {
	if p.b != nil && !p.b.succeeded(&p, err) {
		p.b.finish(&p, err)
	}
}

// succeeded records a closed-state success with the default classifier and
// no call timing or window policy, the common case, and reports whether it
// did: it counts the call and resets the consecutive failures only if there
// are some. Every other result goes through finish. (Breaker.call has the
// same lines written out, for speed.)
func (b *Breaker) succeeded(p *Permit, err error) bool {
	if err != nil || !b.plain || p.tag >= probeTag {
		return false
	}
	b.calls.add(kindSuccess)
	if b.run.any() {
		b.run.reset(p.gen())
	}
	return true
}

// finish classifies and records the result of an admitted call, and
// returns how it counted.
func (b *Breaker) finish(p *Permit, err error) Outcome {
	v := verdict{err: err}
	switch {
	case b.classify != nil:
		v.o = b.classifyGuarded(p.ctx, err)
	case err == nil:
		v.o = Success
	default:
		v.o = DefaultClassifier(p.ctx, err)
	}
	b.finishVerdict(p, &v)
	return v.o
}

// finishVerdict records the outcome of an admitted call, timing it when
// something needs its time.
func (b *Breaker) finishVerdict(p *Permit, v *verdict) {
	var end time.Duration
	if b.clockEnd {
		end = b.since()
	}
	b.record(p, v, end)
	if b.timers != nil {
		b.timed(p, v.o, end-p.start)
	}
}

func (b *Breaker) timed(p *Permit, o Outcome, d time.Duration) {
	for _, t := range b.timers {
		t.CallFinished(p.ctx, b.name, o, d)
	}
}

// Do calls fn if the breaker admits it, and returns fn's error, or an error
// matching [ErrOpen] without calling fn. fn's result is classified and
// counted; a panic in fn counts as a failure (the classifier sees a
// [*PanicError]; gobreaker counts it the same way) and is then re-raised.
// A nil fn returns [ErrNilFunc] and a nil ctx [ErrNilContext], and neither
// is counted.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return ErrNilFunc
	}
	if ctx == nil {
		return ErrNilContext
	}
	// The two cases decided by one atomic load, inline: closed without call
	// timing, and a rejection in open (a call through admit costs a
	// rejection twice as much). Everything else is decided by admit.
	s := b.snap.Load()
	if s.state == events.Closed && !b.clocked {
		p := Permit{b: b, ctx: ctx, tag: s.gen}
		return b.call(&p, fn)
	}
	if s.state == events.Open && !s.due {
		b.calls.add(kindRejected)
		if b.onReject != nil {
			b.observeRejected(ctx, s.reject)
		}
		return s.reject
	}
	if s.state == events.Open && !s.over { // only observes: admitted as would-reject
		var p Permit
		b.wouldReject(&p, ctx, s)
		return b.call(&p, fn)
	}
	p, err := b.admit(ctx)
	if err != nil {
		return err
	}
	return b.call(&p, fn)
}

// Execute is [Breaker.Do] for a function that returns a value.
func Execute[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	var v T
	if fn == nil {
		return v, ErrNilFunc
	}
	if ctx == nil {
		return v, ErrNilContext
	}
	err := b.Do(ctx, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}

// call runs fn for the permit and reports its outcome, also when fn panics
// (a failure, re-raised) or exits its goroutine (ignored).
func (b *Breaker) call(p *Permit, fn func(context.Context) error) error {
	returned := false
	defer func() {
		if !returned {
			b.abort(p, recover())
		}
	}()
	err := fn(p.ctx)
	returned = true
	// succeeded, written out: it is too large to be inlined, and the call
	// costs a third of a closed-state success.
	if err == nil && b.plain && p.tag < probeTag {
		b.calls.add(kindSuccess)
		if b.run.any() {
			b.run.reset(p.gen())
		}
		return nil
	}
	b.finish(p, err)
	return err
}

func (b *Breaker) abort(p *Permit, v any) {
	if v == nil { // runtime.Goexit: the call neither succeeded nor failed
		b.record(p, &verdict{o: Ignored}, 0)
		return
	}
	b.finish(p, &PanicError{Value: v})
	panic(v)
}

// record counts an outcome and moves the state when the call's generation is
// still the current one. end is when the call finished (since b.epoch), read
// only when some policy needs it.
//
// The consecutive failures are counted only for the consecutive-failures
// policy: counting them without it costs a compare-and-swap per failure
// (a quarter of a window policy's failure), for a figure nothing reads.
func (b *Breaker) record(p *Permit, v *verdict, end time.Duration) {
	o := v.o
	b.calls.add(int(o))
	if p.probe() {
		b.probeDone(p, v)
		return
	}
	if o == Failure && v.retryAfter > 0 {
		b.openOnRequest(p, v)
		return
	}
	if b.failThresh != 0 {
		switch o {
		case Success:
			b.run.reset(p.gen())
		case Failure:
			// >=, not ==: a trip that was not applied is tried again by
			// the next failure instead of never.
			if n, ok := b.run.fail(p.gen()); ok && n >= b.failThresh {
				b.tripConsecutive(p, n, v)
				return
			}
		}
	}
	if b.pol != nil && o != Ignored {
		b.recordWindows(p, v, end)
	}
}

// tripConsecutive trips the breaker after n consecutive failures.
func (b *Breaker) tripConsecutive(p *Permit, n uint32, v *verdict) {
	b.trip(p, events.Reason{
		Policy:    events.PolicyConsecutiveFailures,
		Failures:  uint64(n),
		Threshold: uint64(b.failThresh),
		LastError: v.lastError(),
	})
}

// recordWindows records a success or a failure in the windows of the closed
// period the call was admitted in, if it is still the current one, and
// evaluates the window policies when the call failed or was slow.
func (b *Breaker) recordWindows(p *Permit, v *verdict, end time.Duration) {
	s := b.snap.Load()
	if s.gen != p.gen() || s.win == nil {
		return // late, or admitted outside closed by a breaker that only observes
	}
	var bits uint64
	if v.o == Failure {
		bits = bitFailed
	}
	bad := bits
	d := end - p.start
	for i := range s.win.ws {
		w := &s.win.ws[i]
		wb := bits
		if w.slowerThan > 0 && d > w.slowerThan {
			wb |= bitSlow
		}
		w.add(wb, end)
		bad |= wb
	}
	if bad == 0 {
		return
	}
	for i, pol := range b.pol.policies {
		c := s.win.ws[b.pol.win[i]].counts(end)
		fire, perr := pol.rule.fires(c)
		if perr != nil && b.badPolicy.CompareAndSwap(false, true) {
			b.report(perr)
		}
		if fire {
			b.trip(p, pol.reason(c, v.lastError()))
			return
		}
	}
}

// trip opens the breaker for the reason a policy gave, unless another
// transition already started a new generation.
func (b *Breaker) trip(p *Permit, reason events.Reason) {
	b.noteErr(b.transition(p.ctx, inGen(p.gen(), events.Closed, move{ev: events.Trip, reason: reason})))
}

// probeDone records a probe's outcome in half-open: a failure re-trips, the
// success threshold recovers, an ignored probe just frees its slot.
func (b *Breaker) probeDone(p *Permit, v *verdict) {
	b.noteErr(b.transition(p.ctx, func(s *snapshot) (move, bool) {
		if s.gen != p.gen() {
			return move{}, false // a late outcome: its slot went with its generation
		}
		if n := b.probes.Load(); n > 0 { // a second Done of one permit must not wrap the count and wedge half-open
			b.probes.Store(n - 1)
		}
		switch v.o {
		case Success:
			ok := b.probeOK.Add(1)
			return move{ev: events.Recover, reason: events.Reason{
				Policy:    events.PolicyProbeSuccesses,
				Successes: uint64(ok),
				Threshold: uint64(b.cfg.successThreshold),
			}}, ok >= uint32(b.cfg.successThreshold)
		case Failure:
			if v.retryAfter > 0 {
				return b.openAsked(events.Retrip, v), true
			}
			return move{ev: events.Retrip, reason: events.Reason{
				Policy:    events.PolicyProbeFailure,
				Failures:  1,
				Successes: uint64(b.probeOK.Load()),
				LastError: v.lastError(),
			}}, true
		}
		return move{}, false
	}))
}

// maxErrText bounds the error text a transition record keeps, so that one
// huge error cannot make a record too large for a journal.
const maxErrText = 1 << 10

// errText is the text of err for a record (see clipText).
func errText(err error) string {
	if err == nil {
		return ""
	}
	return clipText(err.Error())
}

// clipText is s for a record's last error: at most maxErrText bytes, cut at
// a rune boundary and marked when cut.
func clipText(s string) string {
	if len(s) <= maxErrText {
		return s
	}
	cut := maxErrText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(truncated)"
}
