package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"pgregory.net/rapid"
)

// modelEdge is one legal transition of the model, from legalEdges.
type modelEdge struct {
	e  events.Event
	to events.State
}

func modelEdgesFrom(s events.State) []modelEdge {
	var out []modelEdge
	for _, e := range []events.Event{events.Trip, events.Probe, events.Recover, events.Retrip,
		events.ForceOpen, events.ForceClose, events.ForceHalfOpen} {
		if to, ok := legalEdges[s][e]; ok {
			out = append(out, modelEdge{e, to})
		}
	}
	return out
}

// modelApply is the test's own statement of the fold: it returns the next
// snapshot, or the sentinel that the record breaks, checking in the order
// Snapshot.Apply documents (breaker, seq, field values, from, table, open_for).
func modelApply(s events.Snapshot, r events.Transition) (events.Snapshot, error) {
	validState := func(x events.State) bool {
		return x == events.Closed || x == events.Open || x == events.HalfOpen
	}
	validEvent := r.Event >= events.Trip && r.Event <= events.ForceHalfOpen
	switch {
	case r.Breaker != s.Breaker:
		return s, events.ErrWrongBreaker
	case r.Seq != s.Seq+1:
		return s, events.ErrGap
	case !validEvent || !validState(r.From) || !validState(r.To):
		return s, events.ErrInvalidRecord
	case r.From != s.State:
		return s, events.ErrIllegalTransition
	}
	if to, ok := legalEdges[r.From][r.Event]; !ok || to != r.To {
		return s, events.ErrIllegalTransition
	}
	if (r.To == events.Open) != (r.OpenFor > 0) {
		return s, events.ErrInvalidRecord
	}
	opens := s.Opens
	switch r.To {
	case events.Open:
		opens++
	case events.Closed:
		opens = 0
	}
	return events.Snapshot{Breaker: s.Breaker, Seq: r.Seq, State: r.To, Event: r.Event, Since: r.Time, OpenFor: r.OpenFor, Opens: opens}, nil
}

// modelFold folds h; on failure it returns the 1-based position of the
// first bad record and its sentinel.
func modelFold(breaker string, h []events.Transition) (events.Snapshot, int, error) {
	s := events.Initial(breaker)
	for i, r := range h {
		next, err := modelApply(s, r)
		if err != nil {
			return s, i + 1, err
		}
		s = next
	}
	return s, 0, nil
}

// genHistory draws a random legal history: a random walk over the table
// with random open periods and random (not necessarily increasing) times.
func genHistory(t *rapid.T, breaker string) []events.Transition {
	n := rapid.IntRange(0, 40).Draw(t, "length")
	state := events.Closed
	at := time.Unix(rapid.Int64Range(0, 4_000_000_000).Draw(t, "start"), 0).UTC()
	h := make([]events.Transition, 0, n)
	for i := 1; i <= n; i++ {
		edge := rapid.SampledFrom(modelEdgesFrom(state)).Draw(t, "edge")
		at = at.Add(time.Duration(rapid.Int64Range(-int64(time.Hour), int64(24*time.Hour)).Draw(t, "step")))
		r := events.Transition{Breaker: breaker, Seq: uint64(i), Event: edge.e, From: state, To: edge.to, Time: at}
		if edge.to == events.Open {
			r.OpenFor = time.Duration(rapid.Int64Range(1, int64(time.Hour)).Draw(t, "open_for"))
		}
		r.Reason.Failures = rapid.Uint64Range(0, 10).Draw(t, "failures")
		// The fold ignores who wrote a record and in which mode.
		r.ObserveOnly = rapid.Bool().Draw(t, "observe_only")
		h = append(h, r)
		state = edge.to
	}
	return h
}

func TestPropertyReplayEqualsModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		breaker := rapid.SampledFrom([]string{"a", "payments", "x/y"}).Draw(t, "breaker")
		h := genHistory(t, breaker)
		want, pos, err := modelFold(breaker, h)
		if err != nil {
			t.Fatalf("the generator made an illegal history: record %d: %v", pos, err)
		}
		got, err := events.Replay(breaker, h)
		if err != nil {
			t.Fatalf("Replay of a legal history: %v", err)
		}
		if !sameSnapshot(got, want) {
			t.Fatalf("Replay = %+v, model %+v", got, want)
		}
		// Folding any prefix and then the rest gives the same snapshot.
		k := rapid.IntRange(0, len(h)).Draw(t, "split")
		mid, err := events.Replay(breaker, h[:k])
		if err != nil {
			t.Fatal(err)
		}
		end, err := events.ReplayFrom(mid, h[k:])
		if err != nil || !sameSnapshot(end, want) {
			t.Fatalf("ReplayFrom(Replay(h[:%d]), h[%d:]) = %+v, %v; want %+v", k, k, end, err, want)
		}
	})
}

func TestPropertyMemoryLoadEqualsReplay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		capacity := rapid.IntRange(1, 5).Draw(t, "capacity")
		m, err := events.NewMemory(capacity)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		ha := genHistory(t, "a")
		hb := genHistory(t, "b")
		// Interleave the two histories in a random order.
		for i, j := 0, 0; i < len(ha) || j < len(hb); {
			if j == len(hb) || (i < len(ha) && rapid.Bool().Draw(t, "a first")) {
				if err := m.Append(ctx, ha[i]); err != nil {
					t.Fatalf("Append(%v): %v", ha[i], err)
				}
				i++
			} else {
				if err := m.Append(ctx, hb[j]); err != nil {
					t.Fatalf("Append(%v): %v", hb[j], err)
				}
				j++
			}
		}
		for name, h := range map[string][]events.Transition{"a": ha, "b": hb} {
			want, _, _ := modelFold(name, h)
			got, err := events.Load(ctx, m, name)
			if err != nil {
				t.Fatalf("Load(%s): %v", name, err)
			}
			if !sameSnapshot(got, want) {
				t.Fatalf("Load(%s) = %+v, model %+v", name, got, want)
			}
			base, err := m.Snapshot(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if kept := len(h) - int(base.Seq); kept < min(len(h), capacity) || kept > 2*capacity {
				t.Fatalf("%s: %d records readable of %d with capacity %d", name, kept, len(h), capacity)
			}
			recs, err := m.Read(ctx, name, base.Seq)
			if err != nil {
				t.Fatal(err)
			}
			requireSameRecords(t, recs, h[base.Seq:])
		}
	})
}

func TestPropertyMutationIsCaughtAtItsPosition(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHistory(t, "b")
		if len(h) == 0 {
			return
		}
		i := rapid.IntRange(0, len(h)-1).Draw(t, "index")
		orig := h[i]
		mut := orig
		switch field := rapid.SampledFrom([]string{"seq", "from", "to", "event"}).Draw(t, "field"); field {
		case "seq":
			mut.Seq = rapid.OneOf(
				rapid.Uint64Range(0, uint64(len(h))+2),
				rapid.Uint64(),
			).Filter(func(v uint64) bool { return v != orig.Seq }).Draw(t, "seq")
		case "from":
			mut.From = events.State(rapid.Uint8Range(0, 4).Filter(func(v uint8) bool { return events.State(v) != orig.From }).Draw(t, "from"))
		case "to":
			mut.To = events.State(rapid.Uint8Range(0, 4).Filter(func(v uint8) bool { return events.State(v) != orig.To }).Draw(t, "to"))
		case "event":
			mut.Event = events.Event(rapid.Uint8Range(0, 9).Filter(func(v uint8) bool { return events.Event(v) != orig.Event }).Draw(t, "event"))
		}
		h[i] = mut

		_, _, legalBefore := modelFold("b", h[:i])
		if legalBefore != nil {
			t.Fatalf("records before the mutation are illegal: %v", legalBefore)
		}
		want, pos, wantErr := modelFold("b", h)
		got, err := events.Replay("b", h)
		if wantErr == nil {
			// The mutation was itself legal (another event along the
			// same edge, such as force_open for trip).
			if err != nil {
				t.Fatalf("the model accepts the mutated history, Replay says %v", err)
			}
			if !sameSnapshot(got, want) {
				t.Fatalf("Replay = %+v, model %+v", got, want)
			}
			return
		}
		if pos != i+1 {
			t.Fatalf("the model rejects record %d, not the mutated record %d: %v", pos, i+1, wantErr)
		}
		var re *events.RecordError
		if !errors.As(err, &re) {
			t.Fatalf("Replay of a history mutated at record %d: %v (%T), want a *RecordError", i+1, err, err)
		}
		if re.Position != i+1 || re.Breaker != mut.Breaker || re.Seq != mut.Seq {
			t.Fatalf("RecordError names position %d seq %d, want position %d seq %d: %v", re.Position, re.Seq, i+1, mut.Seq, err)
		}
		if !errors.Is(err, wantErr) {
			t.Fatalf("Replay error %v, model says %v", err, wantErr)
		}
	})
}
