package filejournal_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// t0 is the wall time the hand-written histories start at.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// rec builds a record; openFor is only meaningful for transitions to open.
func rec(breaker string, seq uint64, e events.Event, from, to events.State, at time.Time, openFor time.Duration) events.Transition {
	return events.Transition{Breaker: breaker, Seq: seq, Event: e, From: from, To: to, Time: at, OpenFor: openFor}
}

// walk is a legal cycle through every edge of the table, written out by hand
// (not derived from events.Table): closed -trip-> open -probe-> half_open
// -retrip-> open -force_half_open-> half_open -recover-> closed
// -force_open-> open -force_close-> closed -trip-> open -probe-> half_open
// -force_open-> open -probe-> half_open -force_close-> closed.
var walk = []struct {
	e        events.Event
	from, to events.State
}{
	{events.Trip, events.Closed, events.Open},
	{events.Probe, events.Open, events.HalfOpen},
	{events.Retrip, events.HalfOpen, events.Open},
	{events.ForceHalfOpen, events.Open, events.HalfOpen},
	{events.Recover, events.HalfOpen, events.Closed},
	{events.ForceOpen, events.Closed, events.Open},
	{events.ForceClose, events.Open, events.Closed},
	{events.Trip, events.Closed, events.Open},
	{events.Probe, events.Open, events.HalfOpen},
	{events.ForceOpen, events.HalfOpen, events.Open},
	{events.Probe, events.Open, events.HalfOpen},
	{events.ForceClose, events.HalfOpen, events.Closed},
}

// history returns n legal records of breaker, going round walk; record i
// (1-based) happens at t0 + i seconds, and a transition to open chooses an
// open period of i*10 seconds.
func history(breaker string, n int) []events.Transition {
	out := make([]events.Transition, 0, n)
	for i := 1; i <= n; i++ {
		w := walk[(i-1)%len(walk)]
		var openFor time.Duration
		if w.to == events.Open {
			openFor = time.Duration(i) * 10 * time.Second
		}
		r := rec(breaker, uint64(i), w.e, w.from, w.to, t0.Add(time.Duration(i)*time.Second), openFor)
		r.Reason = events.Reason{Policy: "test", Failures: uint64(i)}
		out = append(out, r)
	}
	return out
}

// fataler is the part of testing.TB the helpers need; *rapid.T has it too.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// sameRecord reports whether a and b are the same record, comparing times
// with Equal (so location and monotonic reading do not matter).
func sameRecord(a, b events.Transition) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

func requireSameRecords(t fataler, got, want []events.Transition) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d:\n got  %v\n want %v", len(got), len(want), got, want)
	}
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d:\n got  %#v\n want %#v", i, got[i], want[i])
		}
	}
}

// sameSnapshot compares snapshots with Since compared by Equal.
func sameSnapshot(a, b events.Snapshot) bool {
	if !a.Since.Equal(b.Since) {
		return false
	}
	a.Since, b.Since = time.Time{}, time.Time{}
	return a == b
}

func requireSameSnapshot(t fataler, got, want events.Snapshot) {
	t.Helper()
	if !sameSnapshot(got, want) {
		t.Fatalf("snapshot:\n got  %+v\n want %+v", got, want)
	}
}

// requireRecordError asserts that err is a *events.RecordError naming
// position, breaker and seq, and returns it.

func requireConflict(t testing.TB, err error, breaker string, seq, last uint64) {
	t.Helper()
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("error %v does not match ErrConflict", err)
	}
	var ce *events.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *ConflictError", err, err)
	}
	if ce.Breaker != breaker || ce.Seq != seq || ce.Last != last {
		t.Fatalf("ConflictError{%q, Seq %d, Last %d}, want {%q, Seq %d, Last %d}", ce.Breaker, ce.Seq, ce.Last, breaker, seq, last)
	}
	want := fmt.Sprintf("circuitry: journal append conflict for breaker %q: record seq %d does not follow last seq %d", breaker, seq, last)
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}
