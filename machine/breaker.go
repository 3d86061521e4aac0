package machine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/circuitry-go/circuitry/clock"
	"github.com/circuitry-go/circuitry/internal/dispatch"

	"github.com/looplab/fsm"

	"github.com/circuitry-go/circuitry/events"
)

// Breaker is an event-sourced circuit breaker. Create one with [New]; it is
// safe for concurrent use.
//
// Calls in the closed and open states read one atomically published snapshot
// and update atomic counters: they take no lock, enter no state machine and
// allocate nothing, and with the default policy they read no clock.
// Transitions take the breaker's transition lock, fire the looplab/fsm
// event, fold the record and hand it to the journal writer, publish the new
// snapshot and enqueue the record for the subscribers, in that order; the
// subscribers run after the lock is released, and the writer appends on a
// goroutine of its own. Close a breaker you are done with ([Breaker.Close]).
type Breaker struct {
	// Hot path: read by every call.
	snap       atomic.Pointer[snapshot]
	run        *failureRun // the consecutive failures, in closed
	calls      counters
	classify   Classifier // nil: DefaultClassifier, inlined
	plain      bool       // default classifier, no call timing, no window policy: the success fast path
	clocked    bool       // calls read the clock when admitted: call timing or a slow-call policy
	clockEnd   bool       // calls read the clock when done: clocked, or a time window
	observe    bool       // WithObserveOnly
	failThresh uint32     // consecutive failures that trip; 0: no such policy
	pol        *policySet // nil: no window policy
	onReject   []CallObserver
	timers     []CallTimer
	epoch      time.Time                     // call timing is measured from here, on the clock
	mono       func(time.Time) time.Duration // the time since a time, on the clock

	name     string
	cfg      config
	dispatch *dispatch.Dispatcher
	journErr atomic.Uint64
	// badClassifier: a classifier fault was reported (the first one only).
	badClassifier atomic.Bool
	badPolicy     atomic.Bool // likewise, for a custom policy that panicked

	// Transition lock and what it guards.
	mu      sync.Mutex
	machine *fsm.FSM
	fold    events.Snapshot // the fold of every transition so far
	gen     uint64
	probes  atomic.Uint32 // probes in flight, in half-open; written under mu, read by Counts without it
	probeOK atomic.Uint32 // probe successes, in half-open; likewise
	timer   clock.Timer
	backlog *backlog      // what the journal has not stored
	retry   clock.Timer   // starts the writer again; nil when not armed
	writing bool          // the journal writer runs
	again   bool          // a transition was made while the writer appended
	writerG uint64        // the goroutine the writer runs on, while it delivers adopted records
	drained chan struct{} // closed when the writer stops; nil while it does not run
	// retryDelay is the wait before the next retry of the backlog; 0
	// when none failed.
	retryDelay time.Duration
	toReport   []error // reported after the lock is released
	closing    bool    // Close was called
	// immediate: the journal does no I/O (events.Immediate): the writer
	// runs on the goroutine that made the transition. (In closing's
	// padding, rather than in a word of its own.)
	immediate bool

	unobserve []func() error // the stop functions of the BreakerObservers, for Close

	lease *leasing // WithProbeLease: who may probe, guarded by mu; nil without a lease
}

// snapshot is what a call reads: immutable once published. It fills a
// cache line of its own (objects of 64 bytes are allocated 64-aligned), so
// that no object allocated next to it, written by another goroutine, makes
// every call's read of it miss: with 24 or 32 bytes it shared lines with
// other small objects, such as testing.PB, which RunParallel writes on
// every iteration, and parallel calls ran at half speed.
type snapshot struct {
	gen   uint64
	state events.State
	// due, in open: a call is not rejected on the fast path, because the
	// open period is over (over) or the breaker only observes.
	due    bool
	over   bool         // in open: the open period is over: the next call probes
	reject *OpenError   // the rejection of this open or half-open period
	win    *windowSet   // in closed, with window policies: this period's windows
	last   events.State // in stateShut: the state the breaker was closed in
	_      [cacheLine - 33]byte
}

// sinceClock is a clock with a Since method, such as the system clock's,
// which reads only the monotonic clock: the breaker times calls with it
// when the clock has it, else with Now().Sub.
type sinceClock interface {
	Since(time.Time) time.Duration
}

type nowSince struct{ clock.Clock }

func (c nowSince) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// since returns the time since the breaker's epoch, on its clock.
func (b *Breaker) since() time.Duration { return b.mono(b.epoch) }

// New returns a breaker named name, configured by opts over the defaults
// listed with [DefaultFailureThreshold]. If the journal already holds
// transitions of name, the breaker resumes from their fold: an open breaker
// stays open until its recorded open period has passed. New returns an
// [*events.OptionError] for an invalid option or an empty name, and the journal's
// error when it cannot be read.
func New(name string, opts ...Option) (*Breaker, error) {
	if err := events.CheckName(name); err != nil {
		te := err.(*events.TextError)
		v := fmt.Sprintf("%q", te.Value)
		if te.Len > len(te.Value) {
			v = fmt.Sprintf("%q… (%d bytes)", te.Value, te.Len)
		}
		return nil, &events.OptionError{Option: "name", Value: v, Reason: te.Reason}
	}
	// The options are applied to the breaker's own config: one object
	// fewer to allocate than a config of New's that escapes through the
	// options' interface.
	b := &Breaker{name: name, cfg: defaults()}
	cfg := &b.cfg
	for i, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: fmt.Sprintf("option %d", i), Value: "nil", Reason: "must not be nil"}
		}
		if err := o.apply(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.probeLimit == 0 {
		cfg.probeLimit = cfg.successThreshold
	}
	if cfg.writer == "" {
		cfg.writer = DefaultWriter()
	}
	if cfg.backoff.base > 0 && cfg.recoveryGiven {
		return nil, &events.OptionError{Option: "WithBackoff", Value: fmt.Sprintf("%s, %v, %s", cfg.backoff.base, cfg.backoff.factor, cfg.backoff.max),
			Reason: "cannot be given with WithRecoveryTimeout: its base is the first open period"}
	}
	if cfg.lease != nil && cfg.halfOpenTimeout == 0 {
		return nil, &events.OptionError{Option: "WithProbeLease", Value: fmt.Sprintf("%T", cfg.lease),
			Reason: "needs WithHalfOpenTimeout, so that a half-open period whose lease holder is gone ends"}
	}
	if cfg.backoff.base > 0 {
		cfg.recoveryTimeout = cfg.backoff.base
	}
	var pol *policySet
	var consecutive int
	if len(cfg.policies) > 0 {
		pol, consecutive = newPolicySet(cfg.policies)
	}
	if cfg.failureThreshold > 0 && (consecutive == 0 || cfg.failureThreshold < consecutive) {
		consecutive = cfg.failureThreshold
	}
	if consecutive == 0 && pol == nil {
		consecutive = DefaultFailureThreshold
	}
	if cfg.onError == nil {
		cfg.onError = func(err error) {
			slog.Default().Error("circuitry: breaker error", "breaker", name, "error", err)
		}
	}
	fold := events.Initial(name)
	if cfg.journal == nil {
		// A journal of its own, new and empty: there is nothing to load.
		j, err := events.NewMemory(events.DefaultMemoryCapacity)
		if err != nil {
			return nil, err
		}
		cfg.journal = j
	} else if err := b.load(&fold); err != nil {
		return nil, fmt.Errorf("circuitry: New(%q): resuming from the journal: %w", name, err)
	}
	if len(cfg.subscribers) > 0 { // none: the nil dispatcher, which delivers to nobody
		d, err := dispatch.NewDispatcher(name, cfg.subscribers, dispatch.DispatcherConfig{
			QueueCapacity: cfg.queueCapacity,
			OnError:       cfg.onError,
		})
		if err != nil {
			return nil, fmt.Errorf("circuitry: New(%q): %w", name, err)
		}
		b.dispatch = d
	}
	b.run = new(failureRun)
	if cfg.lease != nil {
		b.lease = new(leasing)
	}
	b.classify = cfg.classifier
	b.failThresh = uint32(consecutive)
	b.pol = pol
	b.observe = cfg.observeOnly
	b.epoch = cfg.clock.Now()
	b.backlog = new(backlog)
	_, b.immediate = cfg.journal.(events.Immediate)
	// A func rather than an interface: a word less in every breaker, and
	// no allocation for the system clock, whose Since is time.Since.
	// (Comparing with clock.System() cannot panic: its type is comparable.)
	switch m, ok := cfg.clock.(sinceClock); {
	case cfg.clock == clock.System():
		b.mono = time.Since
	case ok:
		b.mono = m.Since
	default:
		b.mono = nowSince{cfg.clock}.Since
	}
	b.onReject, b.timers = observers(cfg.subscribers)
	b.clocked = b.timers != nil || (pol != nil && pol.start)
	b.clockEnd = b.clocked || (pol != nil && pol.end)
	b.plain = b.classify == nil && !b.clocked && pol == nil
	if fold.Seq == 0 && pol == nil {
		b.startFresh(fold)
	} else {
		func() {
			b.mu.Lock()
			defer b.release()
			b.adoptLocked(fold)
		}()
	}
	for _, o := range breakerObservers(cfg.subscribers) {
		stop, err := o.ObserveBreaker(b)
		if err != nil {
			b.abandon()
			return nil, fmt.Errorf("circuitry: New(%q): %T.ObserveBreaker: %w", name, o, err)
		}
		b.unobserve = append(b.unobserve, stop)
	}
	if cfg.follow > 0 {
		if err := b.follow(); err != nil {
			b.abandon()
			return nil, err
		}
		// What other writers stored between the load and the watch.
		t, err := b.catchUp(context.Background())
		b.dispatch.Deliver(context.Background(), t)
		if err != nil {
			b.report(err)
		}
	}
	b.leaseMade()
	return b, nil
}

// firstClosed is the first snapshot of every new breaker without window
// policies: closed, in generation 1, and nothing else. Snapshots are
// immutable, so such breakers share it until their first transition, and
// New allocates one object fewer. The padding keeps it on lines of its
// own, which no variable written by others shares.
var firstClosed struct {
	_ [cacheLine]byte
	s snapshot
	_ [cacheLine]byte
}

func init() { firstClosed.s = snapshot{gen: 1, state: events.Closed} }

// startFresh starts a new breaker, with nothing in its journal and no
// window policies, in the first closed period: what adoptLocked does for
// such a fold, without allocating its snapshot.
func (b *Breaker) startFresh(fold events.Snapshot) {
	b.fold = fold
	b.gen = firstClosed.s.gen
	b.run.start(b.gen)
	b.snap.Store(&firstClosed.s)
}

// collected is what the cleanup of a collected breaker reports from: its
// name, error handler and backlog, none of which refers to the breaker.
type collected struct {
	name    string
	onError func(error)
	q       *backlog
}

func (c collected) report() { reportCollected(c.name, c.onError, c.q) }

// load folds the breaker's records in its journal into fold. A journal
// that does no I/O and never waits ([events.Immediate]) is read without a
// deadline, which costs a timer; any other within the journal timeout. A
// journal that panics is an error.
func (b *Breaker) load(fold *events.Snapshot) (err error) {
	j := b.cfg.journal
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the journal (%T) panicked: %v", j, v)
		}
	}()
	ctx := context.Background()
	if _, ok := j.(events.Immediate); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.journalTimeout)
		defer cancel()
	}
	*fold, err = events.Load(ctx, j, b.name)
	return err
}

// newFSM declares the breaker's states and every legal transition, from
// [events.Table], as a looplab/fsm machine. It registers no callbacks: the
// breaker does its work under its own lock around Event, so that nothing
// runs under the fsm's locks.
func newFSM(initial events.State) *fsm.FSM {
	var descs fsm.Events
	for _, e := range events.Table() {
		descs = append(descs, fsm.EventDesc{Name: e.Event.String(), Src: []string{e.From.String()}, Dst: e.To.String()})
	}
	return fsm.NewFSM(initial.String(), descs, nil)
}

// fsmLocked returns the breaker's looplab/fsm machine, building it in the
// current state on first use. It runs under b.mu.
func (b *Breaker) fsmLocked() *fsm.FSM {
	if b.machine == nil {
		b.machine = newFSM(b.fold.State)
	}
	return b.machine
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Journal returns the journal the breaker appends to: the one given with
// [WithJournal], or the in-memory one it made. Read it for the audit trail.
func (b *Breaker) Journal() events.Journal { return b.cfg.journal }

// State returns the current state. It reads the snapshot calls read, without
// a lock.
func (b *Breaker) State() events.State {
	s := b.snap.Load()
	if s.state == stateShut {
		return s.last
	}
	return s.state
}

// Snapshot returns the fold of the breaker's transitions so far: what
// [events.Replay] of its journal gives, when every append succeeded.
func (b *Breaker) Snapshot() events.Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fold
}

// Counts are a breaker's call counts.
type Counts struct {
	// Successes, Failures, Ignored and Rejected are cumulative since New,
	// over every state and generation; they never reset.
	Successes, Failures, Ignored, Rejected uint64
	// WouldReject counts, cumulatively, the calls that a breaker which
	// only observes ([WithObserveOnly]) admitted although an enforcing one
	// would have rejected them; their outcomes count in Successes,
	// Failures and Ignored. Always 0 for an enforcing breaker.
	WouldReject uint64
	// ConsecutiveFailures is the number of failures since the last
	// success in the current closed period, else 0. It is kept by the
	// [ConsecutiveFailures] policy (the default), and is 0 for a breaker
	// without it: counting failures for nothing costs a compare-and-swap
	// per failure. The window policies' counts are read with
	// [Breaker.Windows].
	ConsecutiveFailures uint32
	// Probes is the number of probes in flight and ProbeSuccesses the
	// successes so far, in half-open; else 0.
	Probes, ProbeSuccesses uint32
	// JournalErrors counts appends the journal refused with an error other
	// than a conflict.
	JournalErrors uint64
	// SubscriberPanics and QueueDropped are the dispatcher's counts.
	SubscriberPanics, QueueDropped uint64
}

// Counts returns the breaker's counts. It takes no lock, so a metrics
// collection never waits for a transition (or its journal append); the
// figures are read one by one and may be a moment apart from each other.
func (b *Breaker) Counts() Counts {
	st := b.dispatch.Stats()
	c := Counts{
		Successes:        b.calls.sum(kindSuccess),
		Failures:         b.calls.sum(kindFailure),
		Ignored:          b.calls.sum(kindIgnored),
		Rejected:         b.calls.sum(kindRejected),
		WouldReject:      b.calls.sum(kindWouldReject),
		JournalErrors:    b.journErr.Load(),
		SubscriberPanics: st.Panics,
		QueueDropped:     st.Dropped,
	}
	s := b.snap.Load()
	switch s.state {
	case events.Closed:
		c.ConsecutiveFailures = b.run.count(s.gen)
	case events.HalfOpen:
		c.Probes, c.ProbeSuccesses = b.probes.Load(), b.probeOK.Load()
	}
	return c
}

// PolicyCounts is what one window policy sees: its name (the Reason.Policy
// of its trips), the counts of its window, and its figures on them.
type PolicyCounts struct {
	Policy string
	WindowCounts
	// Figures are the policy's figures on these counts, as the reason of
	// its trip would give them: for a rate policy the Rate it computes
	// now, its RateThreshold and MinCalls (and SlowerThan); how close the
	// breaker is to tripping. Policy and LastError are empty.
	Figures events.Reason
}

// Windows returns, for each rate or custom policy given to
// [WithTripPolicy], in the order given, the counts of its window in the
// current closed period: zero counts in open and half-open, and nil when
// the breaker has no such policy. Policies over a shared window show the
// same counts. It reads the clock for time windows, and takes no lock.
func (b *Breaker) Windows() []PolicyCounts {
	if b.pol == nil {
		return nil
	}
	out := make([]PolicyCounts, len(b.pol.policies))
	s := b.snap.Load()
	var at time.Duration
	if s.win != nil {
		at = b.since()
	}
	for i, p := range b.pol.policies {
		out[i].Policy = p.name
		if s.win != nil {
			out[i].WindowCounts = s.win.ws[b.pol.win[i]].counts(at)
		}
		out[i].Figures = p.rule.figures(out[i].WindowCounts)
	}
	return out
}

// Diagram returns the breaker's state machine as a Mermaid state diagram,
// rendered by looplab/fsm, starting from the current state.
func (b *Breaker) Diagram() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := fsm.VisualizeWithType(b.fsmLocked(), fsm.MermaidStateDiagram)
	if err != nil {
		return "" // not reached: the type is one fsm knows
	}
	return s
}

// Flush waits until the queued subscribers have been given every transition
// so far, or until ctx is done. Called from a queued subscriber of the same
// breaker, which would wait for itself, it returns an error matching
// [hooks.ErrReentrant] at once.
func (b *Breaker) Flush(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	return b.dispatch.Flush(ctx)
}

// Sync appends again any transitions the journal failed to store before
// (see [JournalError]), then folds into the breaker any transitions that
// other writers appended to its journal since the breaker last wrote or read
// it, and delivers them to the subscribers. A breaker also does both by
// itself on its next transition. Call Sync to follow other writers, or to
// retry a failed append without waiting for a transition.
//
// Sync returns an [*UnstoredError] (matching [ErrUnstored]) while
// transitions that happened in memory are not in the journal, and the
// journal's error when it cannot be read.
func (b *Breaker) Sync(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	if b.snap.Load().state == stateShut {
		return ErrClosed
	}
	if err := b.waitWriter(ctx); err != nil {
		return err
	}
	t, err := b.catchUp(ctx)
	b.dispatch.Deliver(ctx, t)
	return err
}

// release is deferred by every function that takes the transition lock,
// right after taking it. It releases the lock and then reports the errors
// collected under it, so that the error handler never runs under the lock.
//
// If the function panics with the lock held (a Clock that panics, or a
// fault of the breaker's own: the user's journal and jitter source are
// recovered where they are called), release first makes the breaker
// consistent again (see repairLocked), then lets the lock go, and the panic
// goes on: the breaker stays usable, and no later call waits for ever.
func (b *Breaker) release() {
	if v := recover(); v != nil {
		b.repairLocked(v)
		b.unlock()
		panic(v)
	}
	b.unlock()
}

// repairLocked puts a breaker that panicked in the middle of a transition
// back in the state of its fold: the fsm is rebuilt from it when next used,
// and the snapshot calls read is published again if it says otherwise.
func (b *Breaker) repairLocked(v any) {
	b.machine = nil
	b.toReport = append(b.toReport, fmt.Errorf("circuitry: breaker %q: panic under the transition lock (%v); the breaker is back in state %s, from its fold", b.name, v, b.fold.State))
	if s := b.snap.Load(); s != nil && s.state == b.fold.State {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			b.toReport = append(b.toReport, fmt.Errorf("circuitry: breaker %q: repairing after a panic panicked too: %v", b.name, v))
		}
	}()
	b.adoptLocked(b.fold)
}

// unlock releases the transition lock and then reports what was collected
// under it.
func (b *Breaker) unlock() {
	errs := b.toReport
	b.toReport = nil
	b.mu.Unlock()
	for _, err := range errs {
		b.report(err)
	}
}

func (b *Breaker) report(err error) {
	defer func() { _ = recover() }() // a panicking error handler must not break a call
	b.cfg.onError(err)
}

// abandon undoes a New that fails once the breaker is made: it stops the
// observers, shuts the breaker and ends the request for a probe lease, so
// that a breaker nobody holds does not take the fleet's lease.
func (b *Breaker) abandon() {
	b.stopObserving()
	b.shut()
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.journalTimeout)
	defer cancel()
	_ = b.waitLease(ctx)
}

// stopObserving undoes what the BreakerObservers did at New, once.
func (b *Breaker) stopObserving() error {
	b.mu.Lock()
	stops := b.unobserve
	b.unobserve = nil
	b.mu.Unlock()
	var errs []error
	for _, stop := range stops {
		if err := stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
