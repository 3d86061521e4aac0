package machine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/machine/clocktest"
)

// model is a reference breaker, written from the design: it is what the
// breaker must do, step by step, without any of its machinery.
type model struct {
	failThresh, succThresh, probeLimit int
	timeout                            time.Duration

	now       time.Time
	state     events.State
	gen       int // bumped by every transition
	consec    int // consecutive failures, in closed
	probes    int // probes in flight, in half-open
	probeOK   int // probe successes, in half-open
	openUntil time.Time

	succ, fail, ign, rej uint64
	recs                 []modelRec
}

type modelRec struct {
	step
	openFor time.Duration
	at      time.Time
}

func (m *model) transition(ev events.Event, openFor time.Duration) {
	to, ok := legal[m.state][ev]
	if !ok {
		panic(fmt.Sprintf("model: %s from %s", ev, m.state))
	}
	if to == events.Open {
		if openFor == 0 {
			openFor = m.timeout
		}
		m.openUntil = m.now.Add(openFor)
	} else {
		openFor = 0
	}
	m.recs = append(m.recs, modelRec{step{ev, m.state, to}, openFor, m.now})
	m.state = to
	m.gen++
	m.consec, m.probes, m.probeOK = 0, 0, 0
}

// admit says whether a call is admitted now and whether as a probe.
func (m *model) admit() (ok, probe bool) {
	switch m.state {
	case events.Closed:
		return true, false
	case events.Open:
		if m.now.Before(m.openUntil) {
			m.rej++
			return false, false
		}
		m.transition(events.Probe, 0)
	}
	if m.probes >= m.probeLimit {
		m.rej++
		return false, false
	}
	m.probes++
	return true, true
}

// finish records the outcome of a call admitted in generation gen.
func (m *model) finish(gen int, probe bool, o machine.Outcome) {
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
			if m.probeOK >= m.succThresh {
				m.transition(events.Recover, 0)
			}
		case machine.Failure:
			m.transition(events.Retrip, 0)
		}
		return
	}
	switch o {
	case machine.Success:
		m.consec = 0
	case machine.Failure:
		m.consec++
		if m.consec >= m.failThresh {
			m.transition(events.Trip, 0)
		}
	}
}

func (m *model) counts() machine.Counts {
	c := machine.Counts{Successes: m.succ, Failures: m.fail, Ignored: m.ign, Rejected: m.rej}
	switch m.state {
	case events.Closed:
		c.ConsecutiveFailures = uint32(m.consec)
	case events.HalfOpen:
		c.Probes, c.ProbeSuccesses = uint32(m.probes), uint32(m.probeOK)
	}
	return c
}

type heldPermit struct {
	p      machine.Permit
	gen    int
	probe  bool
	ctx    context.Context
	cancel context.CancelFunc
}

var outcomes = []machine.Outcome{machine.Success, machine.Failure, machine.Ignored}

func TestBreakerAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := &model{
			failThresh: rapid.IntRange(1, 5).Draw(rt, "failureThreshold"),
			succThresh: rapid.IntRange(1, 3).Draw(rt, "successThreshold"),
			probeLimit: rapid.IntRange(1, 3).Draw(rt, "probeLimit"),
			timeout:    machine.DefaultRecoveryTimeout,
			now:        t0,
		}
		clk := clocktest.New(t0)
		j, err := events.NewMemory(1 << 16)
		if err != nil {
			rt.Fatal(err)
		}
		log := &recorder{}
		var reported []error
		b, err := machine.New("svc",
			machine.WithClock(clk),
			machine.WithJournal(j),
			machine.WithFailureThreshold(m.failThresh),
			machine.WithSuccessThreshold(m.succThresh),
			machine.WithProbeLimit(m.probeLimit),
			machine.WithSubscribers(hooks.Inline(log)),
			machine.WithErrorHandler(func(err error) { reported = append(reported, err) }),
		)
		if err != nil {
			rt.Fatal(err)
		}
		ctx := context.Background()
		var held []heldPermit
		defer func() {
			for _, h := range held {
				h.cancel()
			}
		}()

		// call runs one call through Do with the given outcome and checks
		// admission against the model.
		call := func(o machine.Outcome) {
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
				want := time.Duration(0)
				if m.state == events.Open {
					want = m.openUntil.Sub(m.now)
				}
				if got := oe.RetryAfter(); got != want {
					rt.Fatalf("RetryAfter() = %v, want %v", got, want)
				}
				return
			}
			m.finish(gen, probe, o)
		}

		rt.Repeat(map[string]func(*rapid.T){
			"success": func(*rapid.T) { call(machine.Success) },
			"failure": func(*rapid.T) { call(machine.Failure) },
			"ignored": func(*rapid.T) { call(machine.Ignored) },
			"panic": func(rt *rapid.T) {
				wantOK, probe := m.admit()
				gen := m.gen
				var v any
				func() {
					defer func() { v = recover() }()
					_ = b.Do(ctx, func(context.Context) error { panic("boom") })
				}()
				if (v != nil) != wantOK {
					rt.Fatalf("panicking call admitted = %v, model says %v", v != nil, wantOK)
				}
				if wantOK {
					m.finish(gen, probe, machine.Failure)
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
				held = append(held, heldPermit{p, m.gen, probe, cctx, cancel})
			},
			"finish held": func(rt *rapid.T) {
				if len(held) == 0 {
					rt.Skip("no permit held")
				}
				i := rapid.IntRange(0, len(held)-1).Draw(rt, "permit")
				o := rapid.SampledFrom(outcomes).Draw(rt, "outcome")
				h := held[i]
				held = slices.Delete(held, i, i+1)
				switch o {
				case machine.Success:
					h.p.Done(nil)
				case machine.Failure:
					h.p.Done(errDep)
				case machine.Ignored:
					h.cancel()
					h.p.Done(h.ctx.Err())
				}
				h.cancel()
				m.finish(h.gen, h.probe, o)
			},
			"advance": func(rt *rapid.T) {
				dur := drawDuration(rt, m.timeout)
				clk.Advance(dur)
				m.now = m.now.Add(dur)
			},
			"force open": func(rt *rapid.T) {
				openFor := rapid.SampledFrom([]time.Duration{0, 1, time.Minute}).Draw(rt, "openFor")
				manual(rt, m, events.ForceOpen, openFor, func() error {
					return b.ForceOpen(ctx, machine.Override{Operator: "prop", Note: "random", OpenFor: openFor})
				})
			},
			"force close": func(rt *rapid.T) {
				manual(rt, m, events.ForceClose, 0, func() error { return b.ForceClose(ctx, operator) })
			},
			"force half-open": func(rt *rapid.T) {
				manual(rt, m, events.ForceHalfOpen, 0, func() error { return b.ForceHalfOpen(ctx, operator) })
			},
			"sync": func(rt *rapid.T) {
				if err := b.Sync(ctx); err != nil {
					rt.Fatalf("Sync: %v", err)
				}
			},
			"": func(rt *rapid.T) { checkAgainstModel(rt, b, j, log, m, reported) },
		})
	})
}

func drawDuration(rt *rapid.T, timeout time.Duration) time.Duration {
	if rapid.Bool().Draw(rt, "boundary") {
		return rapid.SampledFrom([]time.Duration{0, 1, timeout - 1, timeout, timeout + 1, time.Minute - 1, time.Minute}).Draw(rt, "d")
	}
	return time.Duration(rapid.Int64Range(0, int64(2*timeout)).Draw(rt, "d"))
}

func manual(rt *rapid.T, m *model, ev events.Event, openFor time.Duration, do func() error) {
	err := do()
	if _, ok := legal[m.state][ev]; !ok {
		var te *machine.TransitionError
		if !errors.Is(err, machine.ErrIllegalTransition) || !errors.As(err, &te) || te.Event != ev || te.State != m.state {
			rt.Fatalf("%s from %s = %v, want a TransitionError", ev, m.state, err)
		}
		return
	}
	if err != nil {
		rt.Fatalf("%s from %s: %v", ev, m.state, err)
	}
	m.transition(ev, openFor)
}

func checkAgainstModel(rt *rapid.T, b *machine.Breaker, j *events.Memory, log *recorder, m *model, reported []error) {
	if len(reported) > 0 {
		rt.Fatalf("error handler got %v", reported)
	}
	if got := b.State(); got != m.state {
		rt.Fatalf("State() = %s, model %s", got, m.state)
	}
	if got := machine.FSMState(b); got != m.state.String() {
		rt.Fatalf("FSMState = %s, model %s", got, m.state)
	}
	if got, want := b.Counts(), m.counts(); got != want {
		rt.Fatalf("Counts() = %+v, model %+v", got, want)
	}
	recs, err := j.Read(context.Background(), "svc", 0)
	if err != nil {
		rt.Fatal(err)
	}
	if len(recs) != len(m.recs) {
		rt.Fatalf("journal = %v, model %v", steps(recs), m.recs)
	}
	for i, r := range recs {
		w := m.recs[i]
		if r.Seq != uint64(i+1) || (step{r.Event, r.From, r.To}) != w.step || r.OpenFor != w.openFor || !r.Time.Equal(w.at) {
			rt.Fatalf("journal record %d = %v (open for %v at %v), model %v (open for %v at %v)", i, r, r.OpenFor, r.Time, w.step, w.openFor, w.at)
		}
	}
	if got := log.Records(); !slices.Equal(got, recs) {
		rt.Fatalf("subscriber saw %v, journal %v", steps(got), steps(recs))
	}
	snap, err := events.Replay("svc", recs)
	if err != nil {
		rt.Fatalf("Replay: %v", err)
	}
	if got := b.Snapshot(); got != snap {
		rt.Fatalf("Snapshot() = %+v, Replay = %+v", got, snap)
	}
}

// The model's own table must be the design's; the test would prove nothing
// against a model that is wrong in the same way.
func TestModelSelfCheck(t *testing.T) {
	m := &model{failThresh: 2, succThresh: 2, probeLimit: 1, timeout: time.Second, now: t0}
	m.finish(m.gen, false, machine.Failure)
	m.finish(m.gen, false, machine.Failure)
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
}
