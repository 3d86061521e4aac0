package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

func TestInitial(t *testing.T) {
	s := events.Initial("payments")
	want := events.Snapshot{Breaker: "payments"}
	if s != want {
		t.Fatalf("Initial = %+v, want %+v", s, want)
	}
	if s.State != events.Closed || s.Seq != 0 {
		t.Fatalf("Initial is %v at seq %d, want closed at 0", s.State, s.Seq)
	}
	if until, ok := s.OpenUntil(); ok || !until.IsZero() {
		t.Fatalf("Initial.OpenUntil() = %v, %v; want zero, false", until, ok)
	}
}

func TestReplayFoldsLegalHistory(t *testing.T) {
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	for _, tc := range []struct {
		name      string
		n         int
		want      events.Snapshot
		openUntil time.Time // zero: not open
	}{
		{"empty", 0, events.Snapshot{Breaker: "b"}, time.Time{}},
		{"trip", 1, events.Snapshot{Breaker: "b", Seq: 1, State: events.Open, Event: events.Trip, Since: sec(1), OpenFor: 10 * time.Second, Opens: 1}, sec(11)},
		{"probe", 2, events.Snapshot{Breaker: "b", Seq: 2, State: events.HalfOpen, Event: events.Probe, Since: sec(2), Opens: 1}, time.Time{}},
		{"retrip", 3, events.Snapshot{Breaker: "b", Seq: 3, State: events.Open, Event: events.Retrip, Since: sec(3), OpenFor: 30 * time.Second, Opens: 2}, sec(33)},
		{"force_half_open", 4, events.Snapshot{Breaker: "b", Seq: 4, State: events.HalfOpen, Event: events.ForceHalfOpen, Since: sec(4), Opens: 2}, time.Time{}},
		{"recover", 5, events.Snapshot{Breaker: "b", Seq: 5, State: events.Closed, Event: events.Recover, Since: sec(5)}, time.Time{}},
		{"force_open from closed", 6, events.Snapshot{Breaker: "b", Seq: 6, State: events.Open, Event: events.ForceOpen, Since: sec(6), OpenFor: 60 * time.Second, Opens: 1}, sec(66)},
		{"force_close from open", 7, events.Snapshot{Breaker: "b", Seq: 7, State: events.Closed, Event: events.ForceClose, Since: sec(7)}, time.Time{}},
		{"force_open from half_open", 10, events.Snapshot{Breaker: "b", Seq: 10, State: events.Open, Event: events.ForceOpen, Since: sec(10), OpenFor: 100 * time.Second, Opens: 2}, sec(110)},
		{"force_close from half_open", 12, events.Snapshot{Breaker: "b", Seq: 12, State: events.Closed, Event: events.ForceClose, Since: sec(12)}, time.Time{}},
		{"second round trip", 13, events.Snapshot{Breaker: "b", Seq: 13, State: events.Open, Event: events.Trip, Since: sec(13), OpenFor: 130 * time.Second, Opens: 1}, sec(143)},
		{"two rounds", 24, events.Snapshot{Breaker: "b", Seq: 24, State: events.Closed, Event: events.ForceClose, Since: sec(24)}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := events.Replay("b", history("b", tc.n))
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			requireSameSnapshot(t, got, tc.want)
			until, open := got.OpenUntil()
			if open != !tc.openUntil.IsZero() || !until.Equal(tc.openUntil) {
				t.Fatalf("OpenUntil() = %v, %v; want %v, %v", until, open, tc.openUntil, !tc.openUntil.IsZero())
			}
		})
	}
}

func TestApplyDoesNotModifyReceiver(t *testing.T) {
	s := events.Initial("b")
	next, err := s.Apply(history("b", 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	if s != events.Initial("b") {
		t.Fatalf("Apply modified its receiver: %+v", s)
	}
	if next.Seq != 1 || next.State != events.Open {
		t.Fatalf("Apply returned %+v", next)
	}
}

var sentinels = []error{events.ErrGap, events.ErrWrongBreaker, events.ErrIllegalTransition, events.ErrInvalidRecord}

func TestReplayRejects(t *testing.T) {
	at := t0.Add(time.Hour)
	// Every case replays the first prefix records of history("b", ...)
	// (after 2 the breaker is half_open at seq 2), then the bad record, so
	// the error must name position prefix+1.
	for _, tc := range []struct {
		name    string
		prefix  int
		bad     events.Transition
		want    error
		wantMsg string
	}{
		{"seq skip", 2, rec("b", 4, events.Recover, events.HalfOpen, events.Closed, at, 0),
			events.ErrGap, `circuitry: record 3 (breaker "b", seq 4): sequence gap: seq 4, want 3`},
		{"seq repeat", 2, rec("b", 2, events.Recover, events.HalfOpen, events.Closed, at, 0),
			events.ErrGap, `circuitry: record 3 (breaker "b", seq 2): sequence gap: seq 2, want 3`},
		{"first record seq 0", 0, rec("b", 0, events.Trip, events.Closed, events.Open, at, time.Second),
			events.ErrGap, `circuitry: record 1 (breaker "b", seq 0): sequence gap: seq 0, want 1`},
		{"first record seq 2", 0, rec("b", 2, events.Trip, events.Closed, events.Open, at, time.Second),
			events.ErrGap, `circuitry: record 1 (breaker "b", seq 2): sequence gap: seq 2, want 1`},
		{"wrong breaker", 2, rec("other", 3, events.Recover, events.HalfOpen, events.Closed, at, 0),
			events.ErrWrongBreaker, `circuitry: record 3 (breaker "other", seq 3): record of another breaker: breaker "other", want "b"`},
		{"wrong from", 2, rec("b", 3, events.Trip, events.Closed, events.Open, at, time.Second),
			events.ErrIllegalTransition, `circuitry: record 3 (breaker "b", seq 3): illegal transition: from closed, but the breaker is half_open`},
		{"event leads elsewhere", 2, rec("b", 3, events.Recover, events.HalfOpen, events.Open, at, time.Second),
			events.ErrIllegalTransition, `circuitry: record 3 (breaker "b", seq 3): illegal transition: recover does not lead from half_open to open`},
		{"event not allowed from state", 2, rec("b", 3, events.Probe, events.HalfOpen, events.HalfOpen, at, 0),
			events.ErrIllegalTransition, `circuitry: record 3 (breaker "b", seq 3): illegal transition: probe does not lead from half_open to half_open`},
		{"self loop", 2, rec("b", 3, events.ForceHalfOpen, events.HalfOpen, events.HalfOpen, at, 0),
			events.ErrIllegalTransition, `circuitry: record 3 (breaker "b", seq 3): illegal transition: force_half_open does not lead from half_open to half_open`},
		{"open_for missing on transition to open", 2, rec("b", 3, events.Retrip, events.HalfOpen, events.Open, at, 0),
			events.ErrInvalidRecord, `circuitry: record 3 (breaker "b", seq 3): invalid record: open_for 0s with to open (positive exactly when to is open)`},
		{"open_for negative on transition to open", 2, rec("b", 3, events.Retrip, events.HalfOpen, events.Open, at, -time.Second),
			events.ErrInvalidRecord, `circuitry: record 3 (breaker "b", seq 3): invalid record: open_for -1s with to open (positive exactly when to is open)`},
		{"open_for present on transition to closed", 2, rec("b", 3, events.Recover, events.HalfOpen, events.Closed, at, 5*time.Second),
			events.ErrInvalidRecord, `circuitry: record 3 (breaker "b", seq 3): invalid record: open_for 5s with to closed (positive exactly when to is open)`},
		{"open_for present on transition to half_open", 1, rec("b", 2, events.Probe, events.Open, events.HalfOpen, at, time.Minute),
			events.ErrInvalidRecord, `circuitry: record 2 (breaker "b", seq 2): invalid record: open_for 1m0s with to half_open (positive exactly when to is open)`},
		{"invalid from", 2, rec("b", 3, events.Recover, 7, events.Closed, at, 0),
			events.ErrInvalidRecord, `circuitry: record 3 (breaker "b", seq 3): invalid record: event recover from State(7) to closed`},
		{"invalid to", 2, rec("b", 3, events.Recover, events.HalfOpen, 3, at, 0),
			events.ErrInvalidRecord, `circuitry: record 3 (breaker "b", seq 3): invalid record: event recover from half_open to State(3)`},
		{"zero event", 2, rec("b", 3, 0, events.HalfOpen, events.Closed, at, 0),
			events.ErrInvalidRecord, `circuitry: record 3 (breaker "b", seq 3): invalid record: event Event(0) from half_open to closed`},
		{"undeclared event", 2, rec("b", 3, 8, events.HalfOpen, events.Closed, at, 0),
			events.ErrInvalidRecord, `circuitry: record 3 (breaker "b", seq 3): invalid record: event Event(8) from half_open to closed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append(history("b", tc.prefix), tc.bad)
			// A legal record after the bad one must not hide it.
			h = append(h, rec("b", uint64(tc.prefix+2), events.ForceClose, events.Open, events.Closed, at, 0))
			_, err := events.Replay("b", h)
			if err == nil {
				t.Fatalf("Replay accepted %v", tc.bad)
			}
			re := requireRecordError(t, err, tc.prefix+1, tc.bad.Breaker, tc.bad.Seq)
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), s == tc.want; got != want {
					t.Errorf("errors.Is(err, %q) = %v, want %v", s, got, want)
				}
			}
			if !errors.Is(re.Unwrap(), tc.want) {
				t.Errorf("Unwrap() = %v, does not match %v", re.Unwrap(), tc.want)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("message\n got  %s\n want %s", err, tc.wantMsg)
			}
			// Apply on its own gives the same cause.
			base, err := events.Replay("b", history("b", tc.prefix))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := base.Apply(tc.bad); !errors.Is(err, tc.want) {
				t.Errorf("Apply error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRecordErrorMessageWithoutBreaker(t *testing.T) {
	cause := errors.New("boom")
	err := &events.RecordError{Position: 4, Err: cause}
	if got, want := err.Error(), "circuitry: record 4: boom"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Fatalf("errors.Is(err, cause) = false")
	}
	err = &events.RecordError{Position: 1, Seq: 9, Err: cause}
	if got, want := err.Error(), `circuitry: record 1 (breaker "", seq 9): boom`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestReplayFromNonInitialBase(t *testing.T) {
	base := events.Snapshot{Breaker: "b", Seq: 41, State: events.Open, Event: events.Trip, Since: t0, OpenFor: 30 * time.Second}

	t.Run("empty history returns the base", func(t *testing.T) {
		got, err := events.ReplayFrom(base, nil)
		if err != nil {
			t.Fatal(err)
		}
		requireSameSnapshot(t, got, base)
	})

	t.Run("folds records after the base", func(t *testing.T) {
		h := []events.Transition{
			rec("b", 42, events.Probe, events.Open, events.HalfOpen, t0.Add(30*time.Second), 0),
			rec("b", 43, events.Retrip, events.HalfOpen, events.Open, t0.Add(31*time.Second), 45*time.Second),
		}
		got, err := events.ReplayFrom(base, h)
		if err != nil {
			t.Fatal(err)
		}
		want := events.Snapshot{Breaker: "b", Seq: 43, State: events.Open, Event: events.Retrip, Since: t0.Add(31 * time.Second), OpenFor: 45 * time.Second, Opens: base.Opens + 1}
		requireSameSnapshot(t, got, want)
		until, ok := got.OpenUntil()
		if !ok || !until.Equal(t0.Add(76*time.Second)) {
			t.Fatalf("OpenUntil() = %v, %v", until, ok)
		}
	})

	t.Run("history from seq 1 is a gap at position 1", func(t *testing.T) {
		_, err := events.ReplayFrom(base, history("b", 1))
		requireRecordError(t, err, 1, "b", 1)
		if !errors.Is(err, events.ErrGap) {
			t.Fatalf("error %v is not ErrGap", err)
		}
	})

	t.Run("from must match the base state", func(t *testing.T) {
		_, err := events.ReplayFrom(base, []events.Transition{
			rec("b", 42, events.Probe, events.Open, events.HalfOpen, t0, 0),
			rec("b", 43, events.Trip, events.Closed, events.Open, t0, time.Second),
		})
		requireRecordError(t, err, 2, "b", 43)
		if !errors.Is(err, events.ErrIllegalTransition) {
			t.Fatalf("error %v is not ErrIllegalTransition", err)
		}
	})
}
