package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// sliceJournal is a Journal without a Snapshotter: Read returns its
// records (unvalidated) after a seq, or readErr.
type sliceJournal struct {
	recs    []events.Transition
	readErr error
	after   []uint64 // the after argument of every Read
}

func (j *sliceJournal) Append(context.Context, events.Transition) error {
	return errors.New("read only")
}

func (j *sliceJournal) Read(_ context.Context, breaker string, after uint64) ([]events.Transition, error) {
	j.after = append(j.after, after)
	if j.readErr != nil {
		return nil, j.readErr
	}
	var out []events.Transition
	for _, r := range j.recs {
		if r.Breaker == breaker && r.Seq > after {
			out = append(out, r)
		}
	}
	return out, nil
}

// snapJournal adds a Snapshotter to sliceJournal.
type snapJournal struct {
	sliceJournal
	snap    events.Snapshot
	snapErr error
}

func (j *snapJournal) Snapshot(context.Context, string) (events.Snapshot, error) {
	return j.snap, j.snapErr
}

func TestLoadWithoutSnapshotterReadsFromZero(t *testing.T) {
	h := history("b", 5)
	j := &sliceJournal{recs: append(h, history("other", 3)...)}
	got, err := events.Load(context.Background(), j, "b")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := events.Replay("b", h)
	requireSameSnapshot(t, got, want)
	if len(j.after) != 1 || j.after[0] != 0 {
		t.Fatalf("Read called with after %v, want [0]", j.after)
	}
}

func TestLoadStartsFromSnapshot(t *testing.T) {
	h := history("b", 6)
	base, _ := events.Replay("b", h[:4])
	j := &snapJournal{sliceJournal: sliceJournal{recs: h}, snap: base}
	got, err := events.Load(context.Background(), j, "b")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := events.Replay("b", h)
	requireSameSnapshot(t, got, want)
	if len(j.after) != 1 || j.after[0] != 4 {
		t.Fatalf("Read called with after %v, want [4]", j.after)
	}
}

func TestLoadErrors(t *testing.T) {
	boom := errors.New("connection refused")
	t.Run("snapshot", func(t *testing.T) {
		j := &snapJournal{snapErr: boom}
		s, err := events.Load(context.Background(), j, "b")
		if !errors.Is(err, boom) {
			t.Fatalf("Load error %v does not wrap %v", err, boom)
		}
		if want := `circuitry: loading snapshot of breaker "b": connection refused`; err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
		if s != events.Initial("b") {
			t.Fatalf("Load returned %+v with its error", s)
		}
	})
	t.Run("read", func(t *testing.T) {
		j := &sliceJournal{readErr: boom}
		_, err := events.Load(context.Background(), j, "b")
		if !errors.Is(err, boom) {
			t.Fatalf("Load error %v does not wrap %v", err, boom)
		}
		if want := `circuitry: reading journal of breaker "b": connection refused`; err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
	})
	t.Run("compacted read", func(t *testing.T) {
		j := &sliceJournal{readErr: &events.CompactedError{Breaker: "b", After: 0, Base: 3}}
		_, err := events.Load(context.Background(), j, "b")
		if !errors.Is(err, events.ErrCompacted) {
			t.Fatalf("Load error %v does not match ErrCompacted", err)
		}
	})
	t.Run("illegal history", func(t *testing.T) {
		h := history("b", 4)
		h[2].From = events.Closed
		_, err := events.Load(context.Background(), &sliceJournal{recs: h}, "b")
		requireRecordError(t, err, 3, "b", 3)
		if !errors.Is(err, events.ErrIllegalTransition) {
			t.Fatalf("Load error %v is not ErrIllegalTransition", err)
		}
	})
	t.Run("records after the snapshot are validated against it", func(t *testing.T) {
		h := history("b", 4)
		// The snapshot claims closed at seq 2; record 3 is from half_open.
		base := events.Snapshot{Breaker: "b", Seq: 2, State: events.Closed, Since: t0, Event: events.ForceClose}
		j := &snapJournal{sliceJournal: sliceJournal{recs: h}, snap: base}
		_, err := events.Load(context.Background(), j, "b")
		// Position is relative to the records read after the snapshot.
		requireRecordError(t, err, 1, "b", 3)
		if !errors.Is(err, events.ErrIllegalTransition) {
			t.Fatalf("Load error %v is not ErrIllegalTransition", err)
		}
	})
}

func TestSnapshotOpenUntilOnlyWhenOpen(t *testing.T) {
	for _, tc := range []struct {
		s    events.Snapshot
		want time.Time
		ok   bool
	}{
		{events.Snapshot{State: events.Open, Since: t0, OpenFor: time.Minute}, t0.Add(time.Minute), true},
		{events.Snapshot{State: events.HalfOpen, Since: t0, OpenFor: time.Minute}, time.Time{}, false},
		{events.Snapshot{State: events.Closed, Since: t0, OpenFor: time.Minute}, time.Time{}, false},
	} {
		t.Run(tc.s.State.String(), func(t *testing.T) {
			got, ok := tc.s.OpenUntil()
			if ok != tc.ok || !got.Equal(tc.want) {
				t.Fatalf("OpenUntil() = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
