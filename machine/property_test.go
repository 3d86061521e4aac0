package machine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// model is a reference breaker, written from the design: it is what the
// breaker must do, step by step, without any of its machinery. Its windows
// are lists of every call of the closed period, counted afresh at each
// evaluation; its timers are deadlines that advance runs in order.
type model struct {
	cfg modelConfig

	now           time.Time
	state         events.State
	gen           int // bumped by every transition
	consec        int // consecutive failures, in closed
	probes        int // probes in flight, in half-open
	probeOK       int // probe successes, in half-open
	opens         uint32
	openUntil     time.Time
	halfOpenUntil time.Time
	closedSince   time.Time   // start of the closed period: the windows' epoch
	calls         []modelCall // the closed period's recorded calls, in order
	jitterCalls   int

	succ, fail, ign, rej, would uint64
	recs                        []modelRec

	// The journal, as the breaker sees it and as it is: recs[:acked] the
	// breaker knows stored, recs[:stored] the journal holds; foreign are
	// records another writer appended after them, not adopted yet.
	acked, stored int
	foreign       []events.Transition
	failNext      bool // the next append fails and stores nothing
	ambiguousNext bool // the next append stores and then fails
	journalErrs   uint64
	// The append-retry timer: armed at retryAt (armed in the order
	// retrySeq among the breaker's timers) until it fires; retryDelay is
	// the wait of the next one.
	retryArmed            bool
	retryAt               time.Time
	retryDelay            time.Duration
	seq, retrySeq, tmrSeq int // tmrSeq: when the state's timer was armed
	reportedErrs          uint64
}

// modelConfig is a breaker's configuration, drawn by the property test.
type modelConfig struct {
	consec, succThresh, probeLimit int // consec 0: no such policy
	policies                       []modelPolicy
	timeout                        time.Duration // the fixed open period, without backoff
	backoff                        struct {
		base, max time.Duration
		factor    float64
	}
	jitter          []float64 // the source's values, in turn; none: no jitter
	halfOpenTimeout time.Duration
	probeOnTimer    bool
	observe         bool
}

type modelPolicy struct {
	kind       string // "failure_rate", "slow_call_rate" or "custom"
	percent    float64
	minCalls   int
	slowerThan time.Duration // slow_call_rate
	atLeast    uint64        // custom: trips at this many failures
	calls      int           // LastCalls; 0: LastDuration
	d          time.Duration // LastDuration
	buckets    int
}

type modelCall struct {
	at     time.Time
	failed bool
	took   time.Duration
}

type modelRec struct {
	step
	openFor time.Duration
	at      time.Time
	reason  events.Reason
	adopted bool // another writer's, delivered marked adopted
}

func (p modelPolicy) name() string {
	if p.kind == "custom" {
		return "custom"
	}
	return p.kind
}

func (p modelPolicy) window() machine.Window {
	if p.calls > 0 {
		return machine.LastCalls(p.calls)
	}
	return machine.LastDuration(p.d, p.buckets)
}

func (p modelPolicy) sameWindow(o modelPolicy) bool {
	return p.calls == o.calls && p.d == o.d && p.buckets == o.buckets
}

func (p modelPolicy) tripPolicy() machine.TripPolicy {
	switch p.kind {
	case "failure_rate":
		return machine.FailureRate(p.percent, p.minCalls, p.window())
	case "slow_call_rate":
		return machine.SlowCallRate(p.percent, p.slowerThan, p.minCalls, p.window())
	}
	atLeast := p.atLeast
	return machine.CustomPolicy("custom", p.window(), func(c machine.WindowCounts) bool { return c.Failures >= atLeast })
}

// slowThreshold is what counts as slow in p's window: its own threshold,
// or that of the first slow-call policy over an equal window.
func (m *model) slowThreshold(p modelPolicy) time.Duration {
	if p.kind == "slow_call_rate" {
		return p.slowerThan
	}
	for _, o := range m.cfg.policies {
		if o.kind == "slow_call_rate" && o.sameWindow(p) {
			return o.slowerThan
		}
	}
	return 0
}

// counts are the counts of p's window at m.now.
func (m *model) counts(p modelPolicy) machine.WindowCounts {
	in := m.calls
	if p.calls > 0 {
		in = in[max(0, len(in)-p.calls):]
	} else {
		width := p.d / time.Duration(p.buckets)
		epoch := func(t time.Time) int64 { return int64(t.Sub(m.closedSince) / width) }
		cur := epoch(m.now)
		var kept []modelCall
		for _, c := range in {
			if epoch(c.at) > cur-int64(p.buckets) {
				kept = append(kept, c)
			}
		}
		in = kept
	}
	slow := m.slowThreshold(p)
	var c machine.WindowCounts
	for _, call := range in {
		c.Calls++
		if call.failed {
			c.Failures++
		}
		if slow > 0 && call.took > slow {
			c.Slow++
		}
	}
	return c
}

func (p modelPolicy) fires(c machine.WindowCounts) bool {
	switch p.kind {
	case "failure_rate":
		return c.Calls >= uint64(p.minCalls) && float64(c.Failures)*100 >= p.percent*float64(c.Calls)
	case "slow_call_rate":
		return c.Calls >= uint64(p.minCalls) && float64(c.Slow)*100 >= p.percent*float64(c.Calls)
	}
	return c.Failures >= p.atLeast
}

func (p modelPolicy) reason(c machine.WindowCounts, lastError string) events.Reason {
	r := events.Reason{Policy: p.name(), Failures: c.Failures, Calls: c.Calls, Slow: c.Slow, LastError: lastError}
	switch {
	case p.kind == "failure_rate" && c.Calls > 0:
		r.Rate = float64(c.Failures) * 100 / float64(c.Calls)
	case p.kind == "slow_call_rate" && c.Calls > 0:
		r.Rate = float64(c.Slow) * 100 / float64(c.Calls)
	}
	if p.kind == "slow_call_rate" {
		r.SlowerThan = p.slowerThan
	}
	if p.kind != "custom" {
		r.RateThreshold, r.MinCalls = p.percent, uint64(p.minCalls)
	}
	return r
}

// period is the open period the breaker chooses for its next open.
func (m *model) period() time.Duration {
	d := m.cfg.timeout
	if bo := m.cfg.backoff; bo.base > 0 {
		f := float64(bo.base) * math.Pow(bo.factor, float64(m.opens))
		d = bo.max
		if f < float64(bo.max) {
			d = time.Duration(f)
		}
	}
	if len(m.cfg.jitter) > 0 {
		u := m.cfg.jitter[m.jitterCalls%len(m.cfg.jitter)]
		m.jitterCalls++
		d = max(time.Duration(float64(d)*(1+0.5*(2*u-1))), 1)
	}
	return d
}

// transition makes a move of the breaker's own and reports whether it was
// applied: when another writer appended first, the breaker's append
// conflicts, and it adopts the other writer's records instead.
func (m *model) transition(ev events.Event, openFor time.Duration, reason events.Reason) bool {
	to, ok := legal[m.state][ev]
	if !ok {
		panic(fmt.Sprintf("model: %s from %s", ev, m.state))
	}
	if to == events.Open && openFor == 0 {
		openFor = m.period() // chosen (and jittered) before the append
	}
	switch to {
	case events.Open:
		m.openUntil = m.now.Add(openFor)
		m.opens++
	case events.Closed:
		openFor = 0
		m.opens = 0
		m.closedSince, m.calls = m.now, nil
	case events.HalfOpen:
		openFor = 0
		m.halfOpenUntil = m.now.Add(m.cfg.halfOpenTimeout)
	}
	m.recs = append(m.recs, modelRec{step{ev, m.state, to}, openFor, m.now, reason, false})
	m.state = to
	m.gen++
	m.consec, m.probes, m.probeOK = 0, 0, 0
	m.seq++
	m.tmrSeq = m.seq
	m.flush() // the writer appends once the transition is published, its timer armed
	return true
}

// restart is a new breaker over the journal: it resumes the journal's
// state with its counts from zero, and a new generation.
func (m *model) restart() {
	m.gen++
	m.succ, m.fail, m.ign, m.rej, m.would, m.journalErrs = 0, 0, 0, 0, 0, 0
	m.consec, m.probes, m.probeOK = 0, 0, 0
	m.jitterCalls = 0 // the options, and so the jitter source, are made anew
	m.retryArmed, m.retryDelay = false, 0
	if m.state == events.Closed {
		m.closedSince, m.calls = m.now, nil
	}
	m.seq++
	m.tmrSeq = m.seq
	m.reportedErrs = 0
}

// journalErrsSinceCheck returns the journal errors counted since it was
// last called: what the error handler was told meanwhile.
func (m *model) journalErrsSinceCheck() uint64 {
	n := m.journalErrs - m.reportedErrs
	m.reportedErrs = m.journalErrs
	return n
}

// flush is the breaker appending the records the journal has not
// acknowledged, in order, until one fails.
func (m *model) flush() {
	for m.acked < len(m.recs) {
		switch {
		case m.failNext:
			m.failNext = false
			m.journalErrs++
			m.armRetry()
			return
		case m.ambiguousNext && m.acked == m.stored:
			m.ambiguousNext = false
			m.stored++
			m.journalErrs++
			m.armRetry()
			return
		case m.ambiguousNext:
			// The record is in the journal already: the append conflicts,
			// and the breaker recognises its own record.
			m.ambiguousNext = false
		}
		// Stored, or already stored by an append that reported an
		// error: the conflict names the breaker's own record.
		m.acked++
		m.stored = max(m.stored, m.acked)
	}
	m.retryDelay = 0
}

func (m *model) armRetry() {
	if m.retryArmed {
		return
	}
	d := max(m.retryDelay, time.Second)
	m.retryDelay = min(2*d, 30*time.Second)
	m.retryArmed, m.retryAt = true, m.now.Add(d)
	m.seq++
	m.retrySeq = m.seq
}

// adopt folds the other writer's records, as the breaker does when it
// follows the journal: one new generation, its counts from zero, the open
// period measured from the recorded time.
func (m *model) adopt() {
	for _, r := range m.foreign {
		switch r.To {
		case events.Open:
			m.openUntil = r.Time.Add(r.OpenFor)
			m.opens++
		case events.Closed:
			m.opens = 0
		case events.HalfOpen:
			m.halfOpenUntil = r.Time.Add(m.cfg.halfOpenTimeout)
		}
		m.recs = append(m.recs, modelRec{step{r.Event, r.From, r.To}, r.OpenFor, r.Time, r.Reason, true})
		m.state = r.To
	}
	m.foreign = nil
	m.acked, m.stored = len(m.recs), len(m.recs)
	if m.state == events.Closed {
		m.closedSince, m.calls = m.now, nil
	}
	m.gen++
	m.consec, m.probes, m.probeOK = 0, 0, 0
	m.seq++
	m.tmrSeq = m.seq
}

// advance moves the time forward by d, firing the breaker's timers in
// order: with WithProbeOnTimer, the end of the open period probes; with
// WithHalfOpenTimeout, its end re-opens.
func (m *model) advance(d time.Duration) {
	target := m.now.Add(d)
	for {
		// The state's timer, if it is due by target.
		var stateAt time.Time
		stateDue := false
		switch {
		case m.state == events.Open && m.cfg.probeOnTimer && !m.openUntil.After(target):
			stateAt, stateDue = m.openUntil, true
		case m.state == events.HalfOpen && m.cfg.halfOpenTimeout > 0 && !m.halfOpenUntil.After(target):
			stateAt, stateDue = m.halfOpenUntil, true
		}
		retryDue := m.retryArmed && !m.retryAt.After(target)
		if retryDue && (!stateDue || m.retryAt.Before(stateAt) || (m.retryAt.Equal(stateAt) && m.retrySeq < m.tmrSeq)) {
			m.now = maxTime(m.now, m.retryAt)
			m.retryArmed = false
			if m.acked < len(m.recs) {
				m.flush() // as Sync: nothing to adopt while records are pending
			}
			continue
		}
		if !stateDue {
			break
		}
		m.now = maxTime(m.now, stateAt)
		if m.state == events.Open {
			m.transition(events.Probe, 0, events.Reason{Policy: events.PolicyOpenTimeout})
		} else {
			m.transition(events.Retrip, 0, events.Reason{Policy: events.PolicyHalfOpenTimeout,
				Successes: uint64(m.probeOK), Threshold: uint64(m.cfg.succThresh)})
		}
	}
	m.now = target
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// admit says whether a call is admitted now and whether as a probe.
func (m *model) admit() (ok, probe bool) {
	switch m.state {
	case events.Closed:
		return true, false
	case events.Open:
		if m.now.Before(m.openUntil) {
			return m.wouldReject(), false
		}
		if !m.transition(events.Probe, 0, events.Reason{Policy: events.PolicyOpenTimeout}) {
			return m.admit() // another writer moved it first: admit from there
		}
	}
	if m.probes >= m.cfg.probeLimit {
		return m.wouldReject(), false
	}
	m.probes++
	return true, true
}

func (m *model) wouldReject() bool {
	if m.cfg.observe {
		m.would++
		return true
	}
	m.rej++
	return false
}

// finish records the outcome of a call admitted in generation gen, which
// took took and ended now, with the error text lastError.
func (m *model) finish(gen int, probe bool, o machine.Outcome, took time.Duration, lastError string) {
	switch o {
	case machine.Success:
		m.succ++
	case machine.Failure:
		m.fail++
	case machine.Ignored:
		m.ign++
	}
	if gen != m.gen {
		return // late: counted, never moves the state
	}
	if probe {
		m.probes--
		switch o {
		case machine.Success:
			m.probeOK++
			if m.probeOK >= m.cfg.succThresh {
				m.transition(events.Recover, 0, events.Reason{Policy: events.PolicyProbeSuccesses,
					Successes: uint64(m.probeOK), Threshold: uint64(m.cfg.succThresh)})
			}
		case machine.Failure:
			m.transition(events.Retrip, 0, events.Reason{Policy: events.PolicyProbeFailure,
				Failures: 1, Successes: uint64(m.probeOK), LastError: lastError})
		}
		return
	}
	if m.state != events.Closed {
		return // admitted by a breaker that only observes: moves nothing
	}
	// The consecutive failures are counted for the consecutive-failures
	// policy only.
	switch {
	case m.cfg.consec == 0:
	case o == machine.Success:
		m.consec = 0
	case o == machine.Failure:
		m.consec++
		if m.consec >= m.cfg.consec {
			m.transition(events.Trip, 0, events.Reason{Policy: events.PolicyConsecutiveFailures,
				Failures: uint64(m.consec), Threshold: uint64(m.cfg.consec), LastError: lastError})
			return
		}
	}
	if o == machine.Ignored || len(m.cfg.policies) == 0 {
		return
	}
	m.calls = append(m.calls, modelCall{at: m.now, failed: o == machine.Failure, took: took})
	bad := o == machine.Failure
	for _, p := range m.cfg.policies {
		if s := m.slowThreshold(p); s > 0 && took > s {
			bad = true
		}
	}
	if !bad {
		return // a policy is evaluated when a failure or a slow call is recorded
	}
	for _, p := range m.cfg.policies {
		if c := m.counts(p); p.fires(c) {
			m.transition(events.Trip, 0, p.reason(c, lastError))
			return
		}
	}
}

func (m *model) countsNow() machine.Counts {
	c := machine.Counts{Successes: m.succ, Failures: m.fail, Ignored: m.ign, Rejected: m.rej, WouldReject: m.would,
		JournalErrors: m.journalErrs}
	switch m.state {
	case events.Closed:
		c.ConsecutiveFailures = uint32(m.consec)
	case events.HalfOpen:
		c.Probes, c.ProbeSuccesses = uint32(m.probes), uint32(m.probeOK)
	}
	return c
}

func (m *model) windows() []machine.PolicyCounts {
	if len(m.cfg.policies) == 0 {
		return nil
	}
	var out []machine.PolicyCounts
	for _, p := range m.cfg.policies {
		pc := machine.PolicyCounts{Policy: p.name()}
		if m.state == events.Closed {
			pc.WindowCounts = m.counts(p)
		}
		pc.Figures = p.reason(pc.WindowCounts, "")
		pc.Figures.Policy = ""
		out = append(out, pc)
	}
	return out
}

// options are the breaker's options for the model's configuration.
func (cfg modelConfig) options() []machine.Option {
	opts := []machine.Option{
		machine.WithSuccessThreshold(cfg.succThresh),
		machine.WithProbeLimit(cfg.probeLimit),
	}
	var policies []machine.TripPolicy
	if cfg.consec > 0 {
		policies = append(policies, machine.ConsecutiveFailures(cfg.consec))
	}
	for _, p := range cfg.policies {
		policies = append(policies, p.tripPolicy())
	}
	opts = append(opts, machine.WithTripPolicy(policies...))
	if cfg.backoff.base > 0 {
		opts = append(opts, machine.WithBackoff(cfg.backoff.base, cfg.backoff.factor, cfg.backoff.max))
	} else {
		opts = append(opts, machine.WithRecoveryTimeout(cfg.timeout))
	}
	if len(cfg.jitter) > 0 {
		i, vs := 0, cfg.jitter
		opts = append(opts, machine.WithJitter(0.5, func() float64 { v := vs[i%len(vs)]; i++; return v }))
	}
	if cfg.halfOpenTimeout > 0 {
		opts = append(opts, machine.WithHalfOpenTimeout(cfg.halfOpenTimeout))
	}
	if cfg.probeOnTimer {
		opts = append(opts, machine.WithProbeOnTimer())
	}
	if cfg.observe {
		opts = append(opts, machine.WithObserveOnly())
	}
	return opts
}

func drawConfig(rt *rapid.T) modelConfig {
	cfg := modelConfig{
		succThresh: rapid.IntRange(1, 3).Draw(rt, "successThreshold"),
		probeLimit: rapid.IntRange(1, 3).Draw(rt, "probeLimit"),
		timeout:    machine.DefaultRecoveryTimeout,
	}
	if rapid.Bool().Draw(rt, "consecutive") {
		cfg.consec = rapid.IntRange(1, 5).Draw(rt, "failureThreshold")
	}
	for i := range rapid.IntRange(0, 3).Draw(rt, "windowPolicies") {
		p := modelPolicy{kind: rapid.SampledFrom([]string{"failure_rate", "slow_call_rate", "custom"}).Draw(rt, fmt.Sprint("kind", i))}
		if rapid.Bool().Draw(rt, fmt.Sprint("countWindow", i)) {
			p.calls = rapid.IntRange(1, 6).Draw(rt, fmt.Sprint("calls", i))
		} else {
			p.d = rapid.SampledFrom([]time.Duration{2 * time.Second, 10 * time.Second}).Draw(rt, fmt.Sprint("d", i))
			p.buckets = rapid.SampledFrom([]int{1, 2, 4}).Draw(rt, fmt.Sprint("buckets", i))
		}
		p.percent = rapid.SampledFrom([]float64{25, 50, 66.6, 100}).Draw(rt, fmt.Sprint("percent", i))
		maxMin := 6
		if p.calls > 0 {
			maxMin = p.calls
		}
		p.minCalls = rapid.IntRange(1, maxMin).Draw(rt, fmt.Sprint("minCalls", i))
		p.slowerThan = rapid.SampledFrom([]time.Duration{time.Second, 5 * time.Second}).Draw(rt, fmt.Sprint("slowerThan", i))
		p.atLeast = uint64(rapid.IntRange(1, 3).Draw(rt, fmt.Sprint("atLeast", i)))
		if p.kind == "custom" && slices.ContainsFunc(cfg.policies, func(o modelPolicy) bool { return o.kind == "custom" }) {
			continue // one custom name per breaker keeps reasons unambiguous
		}
		cfg.policies = append(cfg.policies, p)
	}
	if cfg.consec == 0 && len(cfg.policies) == 0 {
		cfg.consec = machine.DefaultFailureThreshold
	}
	if rapid.Bool().Draw(rt, "backoff") {
		cfg.backoff.base = rapid.SampledFrom([]time.Duration{time.Second, 10 * time.Second}).Draw(rt, "base")
		cfg.backoff.factor = rapid.SampledFrom([]float64{1, 1.5, 2}).Draw(rt, "factor")
		cfg.backoff.max = 4 * cfg.backoff.base
		cfg.timeout = cfg.backoff.base
	}
	if rapid.Bool().Draw(rt, "jitter") {
		cfg.jitter = []float64{0.1, 0.9, 0.5, 0}
	}
	if rapid.Bool().Draw(rt, "halfOpenTimeout") {
		cfg.halfOpenTimeout = rapid.SampledFrom([]time.Duration{5 * time.Second, 20 * time.Second}).Draw(rt, "halfOpenTimeoutD")
	}
	cfg.probeOnTimer = rapid.Bool().Draw(rt, "probeOnTimer")
	cfg.observe = rapid.Bool().Draw(rt, "observeOnly")
	return cfg
}

type heldPermit struct {
	p      machine.Permit
	gen    int
	probe  bool
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc
}

var outcomes = []machine.Outcome{machine.Success, machine.Failure, machine.Ignored}

func TestBreakerAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := &model{cfg: drawConfig(rt), now: t0, closedSince: t0}
		clk := clocktest.New(t0)
		j, err := events.NewMemory(1 << 16)
		if err != nil {
			rt.Fatal(err)
		}
		flaky := &flakyJournal{Journal: j} // the breaker's appends may fail
		log := &recorder{}
		var reported []error
		newBreaker := func() *machine.Breaker {
			opts := append([]machine.Option{
				machine.WithClock(clk),
				machine.WithJournal(flaky),
				machine.WithSubscribers(hooks.Inline(log)),
				machine.WithErrorHandler(func(err error) { reported = append(reported, err) }),
			}, m.cfg.options()...)
			b, err := machine.New("svc", opts...)
			if err != nil {
				rt.Fatal(err)
			}
			return b
		}
		b := newBreaker()
		var journalErrs uint64 // reported over every breaker of the run
		ctx := context.Background()
		var held []heldPermit
		defer func() {
			for _, h := range held {
				h.cancel()
			}
		}()

		// call runs one call through Do with the given outcome, taking
		// took on the clock, and checks admission against the model.
		call := func(o machine.Outcome, took time.Duration) {
			wantOK, probe := m.admit()
			gen := m.gen
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if o == machine.Ignored {
				cancel()
			}
			ran := false
			err := b.Do(cctx, func(ctx context.Context) error {
				ran = true
				machine.Settle(b) // the writer of a probe this call fired is done, at this time
				clk.Advance(took)
				switch o {
				case machine.Failure:
					return errDep
				case machine.Ignored:
					return ctx.Err()
				}
				return nil
			})
			if ran != wantOK {
				rt.Fatalf("call admitted = %v, model says %v (state %s)", ran, wantOK, m.state)
			}
			if !wantOK {
				var oe *machine.OpenError
				if !errors.As(err, &oe) || !errors.Is(err, machine.ErrOpen) {
					rt.Fatalf("rejection error %v", err)
				}
				if oe.State != m.state {
					rt.Fatalf("OpenError.State = %s, want %s", oe.State, m.state)
				}
				want := machine.MinRetryAfter
				if m.state == events.Open {
					want = max(want, m.openUntil.Sub(m.now))
				}
				if got := oe.RetryAfter(); got != want {
					rt.Fatalf("RetryAfter() = %v, want %v", got, want)
				}
				return
			}
			m.advance(took)
			lastError := ""
			if o == machine.Failure {
				lastError = errDep.Error()
			}
			m.finish(gen, probe, o, took, lastError)
		}
		callDuration := func(rt *rapid.T) time.Duration {
			return rapid.SampledFrom([]time.Duration{0, 0, 0, time.Millisecond, time.Second, time.Second + 1,
				5 * time.Second, 5*time.Second + 1, 500 * time.Millisecond, 3 * time.Second}).Draw(rt, "took")
		}

		rt.Repeat(map[string]func(*rapid.T){
			"success":      func(*rapid.T) { call(machine.Success, 0) },
			"failure":      func(*rapid.T) { call(machine.Failure, 0) },
			"ignored":      func(*rapid.T) { call(machine.Ignored, 0) },
			"slow success": func(rt *rapid.T) { call(machine.Success, callDuration(rt)) },
			"slow failure": func(rt *rapid.T) { call(machine.Failure, callDuration(rt)) },
			"panic": func(rt *rapid.T) {
				wantOK, probe := m.admit()
				gen := m.gen
				var v any
				func() {
					defer func() { v = recover() }()
					_ = b.Do(ctx, func(context.Context) error { machine.Settle(b); panic("boom") })
				}()
				if (v != nil) != wantOK {
					rt.Fatalf("panicking call admitted = %v, model says %v", v != nil, wantOK)
				}
				if wantOK {
					m.finish(gen, probe, machine.Failure, 0, "panic: boom")
				}
			},
			"allow and hold": func(rt *rapid.T) {
				if len(held) >= 6 {
					rt.Skip("enough permits held")
				}
				wantOK, probe := m.admit()
				cctx, cancel := context.WithCancel(ctx)
				p, err := b.Allow(cctx)
				if (err == nil) != wantOK {
					cancel()
					rt.Fatalf("Allow admitted = %v (%v), model says %v", err == nil, err, wantOK)
				}
				if !wantOK {
					cancel()
					return
				}
				held = append(held, heldPermit{p, m.gen, probe, m.now, cctx, cancel})
			},
			"finish held": func(rt *rapid.T) {
				if len(held) == 0 {
					rt.Skip("no permit held")
				}
				i := rapid.IntRange(0, len(held)-1).Draw(rt, "permit")
				o := rapid.SampledFrom(outcomes).Draw(rt, "outcome")
				h := held[i]
				held = slices.Delete(held, i, i+1)
				lastError := ""
				switch o {
				case machine.Success:
					h.p.Done(nil)
				case machine.Failure:
					h.p.Done(errDep)
					lastError = errDep.Error()
				case machine.Ignored:
					h.cancel()
					h.p.Done(h.ctx.Err())
				}
				h.cancel()
				m.finish(h.gen, h.probe, o, m.now.Sub(h.start), lastError)
			},
			"advance": func(rt *rapid.T) {
				dur := drawDuration(rt, m.cfg.timeout)
				clk.Advance(dur)
				m.advance(dur)
			},
			"force open": func(rt *rapid.T) {
				openFor := rapid.SampledFrom([]time.Duration{0, 1, time.Minute}).Draw(rt, "openFor")
				o := machine.Override{Operator: "prop", Note: "random", OpenFor: openFor}
				manual(rt, m, events.ForceOpen, o, func() error { return b.ForceOpen(ctx, o) })
			},
			"force close": func(rt *rapid.T) {
				manual(rt, m, events.ForceClose, operator, func() error { return b.ForceClose(ctx, operator) })
			},
			"force half-open": func(rt *rapid.T) {
				manual(rt, m, events.ForceHalfOpen, operator, func() error { return b.ForceHalfOpen(ctx, operator) })
			},
			"sync": func(rt *rapid.T) {
				err := b.Sync(ctx)
				m.flush()
				if len(m.foreign) > 0 {
					m.adopt()
				}
				if unstored := m.acked < len(m.recs); unstored != errors.Is(err, machine.ErrUnstored) || (err != nil && !unstored) {
					rt.Fatalf("Sync: %v; model: %d of %d records stored", err, m.acked, len(m.recs))
				}
			},
			"fail the next append": func(rt *rapid.T) {
				flaky.set(1, 0)
				m.failNext, m.ambiguousNext = true, false
			},
			"store the next append, then fail it": func(rt *rapid.T) {
				flaky.set(0, 1)
				m.failNext, m.ambiguousNext = false, true
			},
			"another writer": func(rt *rapid.T) {
				if m.acked < len(m.recs) || m.failNext || m.ambiguousNext {
					rt.Skip("the breaker's own records are pending")
				}
				head := m.state
				var ev events.Event
				for _, e := range []events.Event{events.ForceOpen, events.ForceClose, events.ForceHalfOpen} {
					if _, ok := legal[head][e]; ok && rapid.Bool().Draw(rt, "pick "+e.String()) {
						ev = e
					}
				}
				if ev == 0 {
					rt.Skip("no event drawn")
				}
				r := events.Transition{Breaker: "svc", Seq: uint64(len(m.recs) + len(m.foreign) + 1), Event: ev,
					From: head, To: legal[head][ev], Time: m.now, ObserveOnly: m.cfg.observe,
					Reason: events.Reason{Policy: events.PolicyManual, Operator: "replica-2", Note: "second writer"}}
				if r.To == events.Open {
					r.OpenFor = time.Minute
				}
				if err := j.Append(ctx, r); err != nil {
					rt.Fatalf("the other writer's Append: %v", err)
				}
				// The breaker follows it at once (Sync): its writer,
				// running on a goroutine of its own, meets another writer's
				// records when it appends, which a model cannot time.
				if err := b.Sync(ctx); err != nil {
					rt.Fatalf("Sync after another writer: %v", err)
				}
				m.foreign = append(m.foreign, r)
				m.adopt()
			},
			"restart": func(rt *rapid.T) {
				if m.acked < len(m.recs) || len(m.foreign) > 0 || m.failNext || m.ambiguousNext {
					rt.Skip("records are pending")
				}
				if m.cfg.probeOnTimer || m.cfg.halfOpenTimeout > 0 {
					rt.Skip("the old breaker's timers would move the shared journal")
				}
				for _, h := range held {
					h.cancel() // their breaker is gone: never finished
				}
				held = nil
				journalErrs += m.journalErrsSinceCheck() // the old breaker's
				b = newBreaker()
				m.restart()
			},
			"": func(rt *rapid.T) {
				machine.Settle(b)
				journalErrs += m.journalErrsSinceCheck()
				checkAgainstModel(rt, b, j, log, m, reported, journalErrs)
			},
		})
	})
}

func drawDuration(rt *rapid.T, timeout time.Duration) time.Duration {
	if rapid.Bool().Draw(rt, "boundary") {
		return rapid.SampledFrom([]time.Duration{0, 1, timeout - 1, timeout, timeout + 1, time.Second - 1, time.Second,
			5 * time.Second, time.Minute - 1, time.Minute}).Draw(rt, "d")
	}
	return time.Duration(rapid.Int64Range(0, int64(2*timeout)).Draw(rt, "d"))
}

func manual(rt *rapid.T, m *model, ev events.Event, o machine.Override, do func() error) {
	err := do()
	if _, ok := legal[m.state][ev]; !ok {
		var te *machine.TransitionError
		if !errors.Is(err, machine.ErrIllegalTransition) || !errors.As(err, &te) || te.Event != ev || te.State != m.state {
			rt.Fatalf("%s from %s = %v, want a TransitionError", ev, m.state, err)
		}
		return
	}
	before := m.journalErrs
	m.transition(ev, o.OpenFor, events.Reason{Policy: events.PolicyManual, Operator: o.Operator, Note: o.Note})
	// A manual control waits for its record: it returns the JournalError
	// of an append that failed (the transition is made all the same).
	if failed := m.journalErrs > before; failed != errors.As(err, new(*machine.JournalError)) || (err != nil && !failed) {
		rt.Fatalf("%s from %s: %v (the model's append failed: %v)", ev, m.state, err, failed)
	}
}

func checkAgainstModel(rt *rapid.T, b *machine.Breaker, j *events.Memory, log *recorder, m *model, reported []error, journalErrs uint64) {
	for _, err := range reported {
		if !errors.As(err, new(*machine.JournalError)) {
			rt.Fatalf("error handler got %v", err)
		}
	}
	if uint64(len(reported)) != journalErrs {
		rt.Fatalf("error handler got %d journal errors, model %d: %v", len(reported), journalErrs, reported)
	}
	if got := b.State(); got != m.state {
		rt.Fatalf("State() = %s, model %s", got, m.state)
	}
	if got := machine.FSMState(b); got != m.state.String() {
		rt.Fatalf("FSMState = %s, model %s", got, m.state)
	}
	want := m.countsNow()
	if got := b.Counts(); got != want {
		rt.Fatalf("Counts() = %+v, model %+v", got, want)
	}
	if got, want := b.Windows(), m.windows(); !slices.Equal(got, want) {
		rt.Fatalf("Windows() = %+v, model %+v", got, want)
	}
	recs, err := j.Read(context.Background(), "svc", 0)
	if err != nil {
		rt.Fatal(err)
	}
	if len(recs) != m.stored+len(m.foreign) {
		rt.Fatalf("journal = %v, model %v, stored %d, then another writer's %d", steps(recs), m.recs, m.stored, len(m.foreign))
	}
	if !slices.Equal(recs[m.stored:], m.foreign) {
		rt.Fatalf("journal ends with %v, want the other writer's %v", recs[m.stored:], m.foreign)
	}
	seen := log.Records()
	if len(seen) != len(m.recs) {
		rt.Fatalf("subscriber saw %v, model %v", steps(seen), m.recs)
	}
	for i, r := range seen {
		w := m.recs[i]
		if r.Seq != uint64(i+1) || (step{r.Event, r.From, r.To}) != w.step || r.OpenFor != w.openFor || !r.Time.Equal(w.at) {
			rt.Fatalf("journal record %d = %v (open for %v at %v), model %v (open for %v at %v)", i, r, r.OpenFor, r.Time, w.step, w.openFor, w.at)
		}
		if r.Reason != w.reason {
			rt.Fatalf("journal record %d (%v) reason = %+v, model %+v", i, r, r.Reason, w.reason)
		}
		if r.Adopted != w.adopted {
			rt.Fatalf("subscriber got record %d (%v) with Adopted %v, model %v", i, r, r.Adopted, w.adopted)
		}
		if r.ObserveOnly != m.cfg.observe {
			rt.Fatalf("journal record %d (%v) ObserveOnly = %v", i, r, r.ObserveOnly)
		}
	}
	if !slices.Equal(stored(seen[:m.stored]), recs[:m.stored]) {
		rt.Fatalf("subscriber saw %v, journal %v", steps(seen), steps(recs))
	}
	snap, err := events.Replay("svc", seen)
	if err != nil {
		rt.Fatalf("Replay: %v", err)
	}
	if got := b.Snapshot(); got != snap {
		rt.Fatalf("Snapshot() = %+v, Replay of what subscribers saw = %+v", got, snap)
	}
	if snap.Opens != m.opens {
		rt.Fatalf("Snapshot().Opens = %d, model %d", snap.Opens, m.opens)
	}
}

// The model's own rules must be the design's; the test would prove nothing
// against a model that is wrong in the same way.
func TestModelSelfCheck(t *testing.T) {
	t.Run("consecutive failures, probes", func(t *testing.T) {
		m := &model{cfg: modelConfig{consec: 2, succThresh: 2, probeLimit: 1, timeout: time.Second}, now: t0}
		m.finish(m.gen, false, machine.Failure, 0, "x")
		m.finish(m.gen, false, machine.Failure, 0, "x")
		if m.state != events.Open {
			t.Fatal("model did not trip")
		}
		if ok, _ := m.admit(); ok {
			t.Fatal("model admitted while open")
		}
		m.now = m.now.Add(time.Second)
		ok, probe := m.admit()
		if !ok || !probe || m.state != events.HalfOpen {
			t.Fatal("model did not probe")
		}
		if ok, _ := m.admit(); ok {
			t.Fatal("model exceeded its probe limit")
		}
	})
	t.Run("a time window drops a bucket at a time", func(t *testing.T) {
		p := modelPolicy{kind: "failure_rate", percent: 100, minCalls: 2, d: 10 * time.Second, buckets: 2}
		m := &model{cfg: modelConfig{succThresh: 1, probeLimit: 1, timeout: time.Second, policies: []modelPolicy{p}}, now: t0, closedSince: t0}
		m.finish(0, false, machine.Failure, 0, "x") // epoch 0
		m.advance(5 * time.Second)
		if c := m.counts(p); c.Calls != 1 {
			t.Fatalf("counts at 5s = %+v", c)
		}
		m.advance(5 * time.Second) // epoch 2: epoch 0 has left
		if c := m.counts(p); c.Calls != 0 {
			t.Fatalf("counts at 10s = %+v", c)
		}
	})
	t.Run("backoff and timers", func(t *testing.T) {
		cfg := modelConfig{consec: 1, succThresh: 1, probeLimit: 1, probeOnTimer: true, halfOpenTimeout: time.Second}
		cfg.backoff.base, cfg.backoff.factor, cfg.backoff.max = time.Second, 2, 3*time.Second
		m := &model{cfg: cfg, now: t0}
		m.finish(0, false, machine.Failure, 0, "x")
		m.advance(time.Second + time.Second + 2*time.Second + time.Second + 3*time.Second)
		var got []time.Duration
		for _, r := range m.recs {
			if r.To == events.Open {
				got = append(got, r.openFor)
			}
		}
		if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(got, want) || m.state != events.HalfOpen {
			t.Fatalf("open periods %v in state %s, want %v in half_open", got, m.state, want)
		}
	})
}
