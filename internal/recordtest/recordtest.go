// Package recordtest holds the test helpers that the events and filejournal
// tests share: hand-written legal histories and comparisons of records and
// snapshots that compare times with Equal.
package recordtest

import (
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// T0 is the wall time the hand-written histories start at.
var T0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// Rec builds a record; openFor is only meaningful for transitions to open.
func Rec(breaker string, seq uint64, e events.Event, from, to events.State, at time.Time, openFor time.Duration) events.Transition {
	return events.Transition{Breaker: breaker, Seq: seq, Event: e, From: from, To: to, Time: at, OpenFor: openFor}
}

// Step is one transition of [Walk].
type Step struct {
	Event    events.Event
	From, To events.State
}

// Walk is a legal cycle through every edge of the table, written out by
// hand (not derived from events.Table): closed -trip-> open -probe->
// half_open -retrip-> open -force_half_open-> half_open -recover-> closed
// -force_open-> open -force_close-> closed -trip-> open -probe-> half_open
// -force_open-> open -probe-> half_open -force_close-> closed.
var Walk = []Step{
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

// History returns n legal records of breaker, going round [Walk]; record i
// (1-based) happens at T0 + i seconds, and a transition to open chooses an
// open period of i*10 seconds.
func History(breaker string, n int) []events.Transition {
	out := make([]events.Transition, 0, n)
	for i := 1; i <= n; i++ {
		w := Walk[(i-1)%len(Walk)]
		var openFor time.Duration
		if w.To == events.Open {
			openFor = time.Duration(i) * 10 * time.Second
		}
		r := Rec(breaker, uint64(i), w.Event, w.From, w.To, T0.Add(time.Duration(i)*time.Second), openFor)
		r.Reason = events.Reason{Policy: "test", Failures: uint64(i)}
		out = append(out, r)
	}
	return out
}

// Fataler is the part of testing.TB the helpers need; *rapid.T has it too.
type Fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// SameRecord reports whether a and b are the same record, comparing times
// with Equal (so location and monotonic reading do not matter).
func SameRecord(a, b events.Transition) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

// RequireSameRecords fails t unless got and want hold the same records.
func RequireSameRecords(t Fataler, got, want []events.Transition) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d:\n got  %v\n want %v", len(got), len(want), got, want)
	}
	for i := range want {
		if !SameRecord(got[i], want[i]) {
			t.Fatalf("record %d:\n got  %#v\n want %#v", i, got[i], want[i])
		}
	}
}

// RequireSameSnapshot fails t unless got and want are the same fold
// ([events.Snapshot.Equal]).
func RequireSameSnapshot(t Fataler, got, want events.Snapshot) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("snapshot:\n got  %+v\n want %+v", got, want)
	}
}
