package machine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

func wantManualReason(t *testing.T, r events.Transition, o machine.Override) {
	t.Helper()
	want := events.Reason{Policy: events.PolicyManual, Operator: o.Operator, Note: o.Note}
	if r.Reason != want {
		t.Fatalf("record reason = %+v, want %+v", r.Reason, want)
	}
}

func TestForceOpenWithOpenFor(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	o := machine.Override{Operator: "alice", Note: "dependency answered 429", OpenFor: time.Minute}
	if err := f.b.ForceOpen(ctx, o); err != nil {
		t.Fatal(err)
	}
	f.wantState(events.Open)
	f.wantSteps(step{events.ForceOpen, events.Closed, events.Open})
	r := f.last()
	wantManualReason(t, r, o)
	if r.OpenFor != time.Minute {
		t.Fatalf("record OpenFor = %v, want 1m", r.OpenFor)
	}

	// Past the recovery timeout but not the chosen minute: still open.
	f.clk.Advance(machine.DefaultRecoveryTimeout)
	oe := openError(t, f.do(okCall))
	if got := oe.RetryAfter(); got != 30*time.Second {
		t.Fatalf("RetryAfter() at 30s = %v, want 30s", got)
	}
	f.clk.Advance(30*time.Second - time.Nanosecond)
	oe = openError(t, f.do(okCall))
	if got := oe.RetryAfter(); got != machine.MinRetryAfter {
		t.Fatalf("RetryAfter() at 1m-1ns = %v, want MinRetryAfter", got)
	}
	f.clk.Advance(time.Nanosecond)
	f.mustSucceed()
	f.wantState(events.HalfOpen)
	f.mustSucceed()
	f.wantState(events.Closed)
	f.wantSteps(
		step{events.ForceOpen, events.Closed, events.Open},
		probeStep,
		recoverStep,
	)
	f.noErrors()
}

func TestForceOpenDefaultsToRecoveryTimeout(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, machine.WithRecoveryTimeout(10*time.Second))
	enterState(f, events.HalfOpen)
	if err := f.b.ForceOpen(ctx, operator); err != nil {
		t.Fatal(err)
	}
	f.wantState(events.Open)
	if r := f.last(); r.OpenFor != 10*time.Second || r.From != events.HalfOpen {
		t.Fatalf("record = %+v, want from half_open with OpenFor 10s", r)
	}
	wantManualReason(t, f.last(), operator)
	f.clk.Advance(10*time.Second - 1)
	openError(t, f.do(okCall))
	f.clk.Advance(1)
	f.mustSucceed()
	f.wantState(events.HalfOpen)
}

func TestForceClose(t *testing.T) {
	ctx := context.Background()
	for _, from := range []events.State{events.Open, events.HalfOpen} {
		t.Run(from.String(), func(t *testing.T) {
			f := newFixture(t)
			n := enterState(f, from)
			o := machine.Override{Operator: "bob", Note: "dependency is back"}
			if err := f.b.ForceClose(ctx, o); err != nil {
				t.Fatal(err)
			}
			f.wantState(events.Closed)
			recs := f.journal()
			if len(recs) != n+1 {
				t.Fatalf("journal has %d records", len(recs))
			}
			r := recs[n]
			if r.Event != events.ForceClose || r.From != from || r.To != events.Closed || r.OpenFor != 0 {
				t.Fatalf("record = %+v", r)
			}
			wantManualReason(t, r, o)
			wantConsistent(t, f.b, recs, f.log.Records())
			// Closed again, with fresh counters.
			f.wantCounts(consecutive(0))
			f.failN(4)
			f.wantState(events.Closed)
			f.mustFail()
			f.wantState(events.Open)
		})
	}
}

func TestForceHalfOpen(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.failN(5)
	o := machine.Override{Operator: "carol", Note: "try it now"}
	if err := f.b.ForceHalfOpen(ctx, o); err != nil {
		t.Fatal(err)
	}
	f.wantState(events.HalfOpen)
	f.wantCounts(probes(0, 0))
	wantManualReason(t, f.last(), o)
	// Probes are admitted at once, without waiting for the open period.
	f.mustSucceed()
	f.mustSucceed()
	f.wantState(events.Closed)
	f.wantSteps(tripStep, step{events.ForceHalfOpen, events.Open, events.HalfOpen}, recoverStep)
	// The timer of the abandoned open period must not fire anything later.
	f.clk.Advance(time.Hour)
	f.wantState(events.Closed)
	f.mustSucceed()
	f.wantSteps(tripStep, step{events.ForceHalfOpen, events.Open, events.HalfOpen}, recoverStep)
}

func TestOverrideValidation(t *testing.T) {
	ctx := context.Background()
	type control func(*machine.Breaker, machine.Override) error
	forceOpen := func(b *machine.Breaker, o machine.Override) error { return b.ForceOpen(ctx, o) }
	forceClose := func(b *machine.Breaker, o machine.Override) error { return b.ForceClose(ctx, o) }
	forceHalfOpen := func(b *machine.Breaker, o machine.Override) error { return b.ForceHalfOpen(ctx, o) }
	cases := []struct {
		name  string
		state events.State
		call  control
		o     machine.Override
		words []string
	}{
		{"empty operator", events.Closed, forceOpen, machine.Override{Note: "why"}, []string{"force_open", "Operator"}},
		{"empty note", events.Closed, forceOpen, machine.Override{Operator: "alice"}, []string{"force_open", "Note"}},
		{"negative OpenFor", events.Closed, forceOpen, machine.Override{Operator: "alice", Note: "why", OpenFor: -time.Second}, []string{"force_open", "OpenFor", "-1s"}},
		{"OpenFor on force_close", events.Open, forceClose, machine.Override{Operator: "alice", Note: "why", OpenFor: time.Minute}, []string{"force_close", "OpenFor", "1m0s"}},
		{"OpenFor on force_half_open", events.Open, forceHalfOpen, machine.Override{Operator: "alice", Note: "why", OpenFor: time.Minute}, []string{"force_half_open", "OpenFor"}},
		{"empty operator on force_close", events.Open, forceClose, machine.Override{Note: "why"}, []string{"force_close", "Operator"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			enterState(f, c.state)
			before := f.journal()
			err := c.call(f.b, c.o)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, machine.ErrInvalidOverride) {
				t.Fatalf("error %v does not match ErrInvalidOverride", err)
			}
			if errors.Is(err, machine.ErrIllegalTransition) {
				t.Fatalf("validation error %v matches ErrIllegalTransition", err)
			}
			for _, w := range c.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			f.wantState(c.state)
			if got := f.journal(); !slices.Equal(got, before) {
				t.Fatalf("journal changed: %v", got)
			}
			f.wantSteps(steps(before)...)
		})
	}
}
