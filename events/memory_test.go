package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

var (
	_ events.Journal     = (*events.Memory)(nil)
	_ events.Snapshotter = (*events.Memory)(nil)
)

func newMemory(t testing.TB, capacity int) *events.Memory {
	t.Helper()
	m, err := events.NewMemory(capacity)
	if err != nil {
		t.Fatalf("NewMemory(%d): %v", capacity, err)
	}
	return m
}

func appendAll(t testing.TB, j events.Journal, recs []events.Transition) {
	t.Helper()
	for _, r := range recs {
		if err := j.Append(context.Background(), r); err != nil {
			t.Fatalf("Append(%v): %v", r, err)
		}
	}
}

func TestNewMemoryRefusesNonPositiveCapacity(t *testing.T) {
	for _, c := range []int{0, -1, -1024} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			m, err := events.NewMemory(c)
			if err == nil || m != nil {
				t.Fatalf("NewMemory(%d) = %v, %v; want nil, an error", c, m, err)
			}
			if want := fmt.Sprintf("circuitry: NewMemory(%d): capacity must be positive", c); err.Error() != want || !errors.Is(err, events.ErrInvalidOption) {
				t.Fatalf("error %q, want %q matching ErrInvalidOption", err, want)
			}
		})
	}
	if m, err := events.NewMemory(1); err != nil || m == nil {
		t.Fatalf("NewMemory(1) = %v, %v", m, err)
	}
}

func TestMemoryEmpty(t *testing.T) {
	m := newMemory(t, 4)
	ctx := context.Background()
	recs, err := m.Read(ctx, "nobody", 0)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Read of an unknown breaker = %v, %v", recs, err)
	}
	s, err := m.Snapshot(ctx, "nobody")
	if err != nil || s != events.Initial("nobody") {
		t.Fatalf("Snapshot of an unknown breaker = %+v, %v", s, err)
	}
	if b := m.Breakers(); len(b) != 0 {
		t.Fatalf("Breakers() = %v, want none", b)
	}
	s, err = events.Load(ctx, m, "nobody")
	if err != nil || s != events.Initial("nobody") {
		t.Fatalf("Load of an unknown breaker = %+v, %v", s, err)
	}
}

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

func TestMemoryAppendConflicts(t *testing.T) {
	h := history("b", 4)
	for _, tc := range []struct {
		name      string
		stored    int
		seq, last uint64
	}{
		{"seq 2 on an empty journal", 0, 2, 0},
		{"seq 0 on an empty journal", 0, 0, 0},
		{"seq too high", 2, 4, 2},
		{"seq far too high", 2, 1000, 2},
		{"seq repeated", 2, 2, 2},
		{"seq from the past", 3, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemory(t, 8)
			appendAll(t, m, h[:tc.stored])
			r := h[tc.stored]
			r.Seq = tc.seq
			requireConflict(t, m.Append(context.Background(), r), "b", tc.seq, tc.last)
			got, err := m.Read(context.Background(), "b", 0)
			if err != nil {
				t.Fatal(err)
			}
			requireSameRecords(t, got, h[:tc.stored])
		})
	}
}

func TestConflictErrorIsOnlyErrConflict(t *testing.T) {
	err := error(&events.ConflictError{Breaker: "b", Seq: 3, Last: 5})
	if !errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrCompacted) {
		t.Fatalf("ConflictError matches ErrConflict %v, ErrCompacted %v", errors.Is(err, events.ErrConflict), errors.Is(err, events.ErrCompacted))
	}
	err = &events.CompactedError{Breaker: "b", After: 1, Base: 6}
	if !errors.Is(err, events.ErrCompacted) || errors.Is(err, events.ErrConflict) {
		t.Fatalf("CompactedError matches ErrCompacted %v, ErrConflict %v", errors.Is(err, events.ErrCompacted), errors.Is(err, events.ErrConflict))
	}
	if want := `circuitry: breaker "b": records after seq 1 were compacted up to seq 6; start from the journal's snapshot`; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestMemoryTwoWritersRaceForTheSameSeq(t *testing.T) {
	const rounds = 200
	m := newMemory(t, 16)
	ctx := context.Background()
	appendAll(t, m, history("b", 1)) // open at seq 1
	// Each round, two writers try to write seq n+1 with different, both
	// legal, records: exactly one must win and the other must conflict.
	state := events.Open
	for n := uint64(1); n <= rounds; n++ {
		var candidates [2]events.Transition
		switch state {
		case events.Open:
			candidates = [2]events.Transition{
				rec("b", n+1, events.Probe, events.Open, events.HalfOpen, t0, 0),
				rec("b", n+1, events.ForceClose, events.Open, events.Closed, t0, 0),
			}
		case events.HalfOpen:
			candidates = [2]events.Transition{
				rec("b", n+1, events.Recover, events.HalfOpen, events.Closed, t0, 0),
				rec("b", n+1, events.Retrip, events.HalfOpen, events.Open, t0, time.Second),
			}
		case events.Closed:
			candidates = [2]events.Transition{
				rec("b", n+1, events.Trip, events.Closed, events.Open, t0, time.Second),
				rec("b", n+1, events.ForceOpen, events.Closed, events.Open, t0, time.Minute),
			}
		}
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range candidates {
			wg.Go(func() {
				<-start
				errs[i] = m.Append(ctx, candidates[i])
			})
		}
		close(start)
		wg.Wait()
		var winner int
		switch {
		case errs[0] == nil && errs[1] != nil:
			winner = 0
		case errs[1] == nil && errs[0] != nil:
			winner = 1
		default:
			t.Fatalf("round %d: errors %v and %v, want exactly one nil", n, errs[0], errs[1])
		}
		requireConflict(t, errs[1-winner], "b", n+1, n+1)
		got, err := m.Read(ctx, "b", n)
		if err != nil {
			t.Fatal(err)
		}
		requireSameRecords(t, got, candidates[winner:winner+1])
		state = candidates[winner].To
	}
	s, err := events.Load(ctx, m, "b")
	if err != nil || s.Seq != rounds+1 || s.State != state {
		t.Fatalf("Load = %+v, %v; want seq %d state %v", s, err, rounds+1, state)
	}
}

func TestMemoryRefusesIllegalRecord(t *testing.T) {
	h := history("b", 3)
	for _, tc := range []struct {
		name  string
		bad   events.Transition
		wantE error
	}{
		{"wrong from", rec("b", 4, events.Trip, events.Closed, events.Open, t0, time.Second), events.ErrIllegalTransition},
		{"event leads elsewhere", rec("b", 4, events.Probe, events.Open, events.Closed, t0, 0), events.ErrIllegalTransition},
		{"open_for missing", rec("b", 4, events.ForceClose, events.Open, events.Closed, t0, time.Second), events.ErrInvalidRecord},
		{"invalid event", rec("b", 4, 0, events.Open, events.HalfOpen, t0, 0), events.ErrInvalidRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemory(t, 2) // small: the refused record must not trigger compaction either
			appendAll(t, m, h)
			ctx := context.Background()
			beforeSnap, _ := m.Snapshot(ctx, "b")
			beforeRecs, _ := m.Read(ctx, "b", beforeSnap.Seq)

			err := m.Append(ctx, tc.bad)
			if !errors.Is(err, tc.wantE) {
				t.Fatalf("Append(%v) = %v, want %v", tc.bad, err, tc.wantE)
			}
			if errors.Is(err, events.ErrConflict) {
				t.Fatalf("an illegal record is reported as a conflict: %v", err)
			}
			afterSnap, _ := m.Snapshot(ctx, "b")
			afterRecs, err := m.Read(ctx, "b", afterSnap.Seq)
			if err != nil {
				t.Fatal(err)
			}
			requireSameSnapshot(t, afterSnap, beforeSnap)
			requireSameRecords(t, afterRecs, beforeRecs)
			// The legal record for the same seq is still accepted.
			next := rec("b", 4, events.ForceHalfOpen, events.Open, events.HalfOpen, t0, 0)
			if err := m.Append(ctx, next); err != nil {
				t.Fatalf("Append of the legal record after a refused one: %v", err)
			}
		})
	}

	t.Run("first record of a new breaker", func(t *testing.T) {
		m := newMemory(t, 2)
		err := m.Append(context.Background(), rec("new", 1, events.Recover, events.Closed, events.Closed, t0, 0))
		if !errors.Is(err, events.ErrIllegalTransition) {
			t.Fatalf("Append = %v, want ErrIllegalTransition", err)
		}
		if b := m.Breakers(); len(b) != 0 {
			t.Fatalf("Breakers() = %v after a refused first record, want none", b)
		}
	})
}

func TestMemoryReadAfter(t *testing.T) {
	m := newMemory(t, 100)
	h := history("b", 7)
	appendAll(t, m, h)
	for after := uint64(0); after <= 10; after++ {
		t.Run(fmt.Sprint(after), func(t *testing.T) {
			got, err := m.Read(context.Background(), "b", after)
			if err != nil {
				t.Fatal(err)
			}
			var want []events.Transition
			for _, r := range h {
				if r.Seq > after {
					want = append(want, r)
				}
			}
			requireSameRecords(t, got, want)
		})
	}
}

func TestMemoryReturnsCopies(t *testing.T) {
	m := newMemory(t, 100)
	h := history("b", 4)
	appendAll(t, m, h)
	ctx := context.Background()

	got, err := m.Read(ctx, "b", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].Seq = 999
		got[i].Breaker = "mutated"
		got[i].Reason.Policy = "mutated"
	}
	// Appending to the returned slice must not write into the journal's
	// backing array either.
	_ = append(got[:1], rec("x", 1, events.Trip, events.Closed, events.Open, t0, time.Second))

	again, err := m.Read(ctx, "b", 0)
	if err != nil {
		t.Fatal(err)
	}
	requireSameRecords(t, again, h)

	// Nor does mutating the record after Append.
	r := history("b", 5)[4]
	if err := m.Append(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Seq = 77
	last, err := m.Read(ctx, "b", 4)
	if err != nil || len(last) != 1 || last[0].Seq != 5 {
		t.Fatalf("Read after 4 = %v, %v", last, err)
	}
}

func TestMemoryCompaction(t *testing.T) {
	const capacity = 3
	m := newMemory(t, capacity)
	ctx := context.Background()
	h := history("b", 10)
	compacted := false
	for n := 1; n <= len(h); n++ {
		appendAll(t, m, h[n-1:n])

		base, err := m.Snapshot(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		// The snapshot is the fold of exactly the records Read no longer
		// returns.
		wantBase, err := events.Replay("b", h[:base.Seq])
		if err != nil {
			t.Fatal(err)
		}
		requireSameSnapshot(t, base, wantBase)

		// At least capacity, at most 2*capacity records stay readable.
		kept := n - int(base.Seq)
		if kept < min(n, capacity) || kept > 2*capacity {
			t.Fatalf("after %d appends the journal keeps %d records (base seq %d), want %d to %d",
				n, kept, base.Seq, min(n, capacity), 2*capacity)
		}
		recs, err := m.Read(ctx, "b", base.Seq)
		if err != nil {
			t.Fatalf("Read after the snapshot's seq %d: %v", base.Seq, err)
		}
		requireSameRecords(t, recs, h[base.Seq:n])

		// Read(0) fails exactly when something was compacted away.
		all, err := m.Read(ctx, "b", 0)
		if base.Seq == 0 {
			if err != nil {
				t.Fatalf("after %d appends, nothing compacted, Read(0): %v", n, err)
			}
			requireSameRecords(t, all, h[:n])
		} else {
			compacted = true
			if !errors.Is(err, events.ErrCompacted) {
				t.Fatalf("after %d appends, compacted to %d, Read(0) = %v, %v; want ErrCompacted", n, base.Seq, all, err)
			}
			var ce *events.CompactedError
			if !errors.As(err, &ce) || ce.Breaker != "b" || ce.After != 0 || ce.Base != base.Seq {
				t.Fatalf("Read(0) error %#v, want CompactedError{b, After 0, Base %d}", err, base.Seq)
			}
			if _, err := m.Read(ctx, "b", base.Seq-1); !errors.Is(err, events.ErrCompacted) {
				t.Fatalf("Read(%d) = %v, want ErrCompacted", base.Seq-1, err)
			}
		}

		// Load gives the same snapshot as a replay of the full history.
		want, err := events.Replay("b", h[:n])
		if err != nil {
			t.Fatal(err)
		}
		got, err := events.Load(ctx, m, "b")
		if err != nil {
			t.Fatalf("Load after %d appends: %v", n, err)
		}
		requireSameSnapshot(t, got, want)
	}
	if !compacted {
		t.Fatalf("%d appends with capacity %d never compacted", len(h), capacity)
	}
	// A conflict is still reported against the newest seq, not the base.
	requireConflict(t, m.Append(ctx, h[9]), "b", 10, 10)
}

func TestMemoryBreakersSorted(t *testing.T) {
	m := newMemory(t, 4)
	names := []string{"zeta", "alpha", "Mid", "beta", "alpha2", "Alpha"}
	for _, n := range names {
		appendAll(t, m, history(n, 1))
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if got := m.Breakers(); !slices.Equal(got, want) {
		t.Fatalf("Breakers() = %q, want %q", got, want)
	}
}

func TestMemoryBreakersAreIndependent(t *testing.T) {
	const capacity = 2
	m := newMemory(t, capacity)
	ctx := context.Background()
	lengths := map[string]int{"a": 11, "b": 3, "c": 0, "d": 7}
	hs := map[string][]events.Transition{}
	for name, n := range lengths {
		hs[name] = history(name, n)
	}
	// Interleave: one record of each breaker in turn.
	for i := 0; ; i++ {
		wrote := false
		for _, name := range []string{"a", "b", "c", "d"} {
			if i < len(hs[name]) {
				appendAll(t, m, hs[name][i:i+1])
				wrote = true
			}
		}
		if !wrote {
			break
		}
	}
	// Seq 1 of a breaker that has records conflicts only with its own
	// history.
	requireConflict(t, m.Append(ctx, history("b", 1)[0]), "b", 1, 3)
	if err := m.Append(ctx, history("c", 1)[0]); err != nil {
		t.Fatalf("first record of c after others wrote: %v", err)
	}
	hs["c"] = history("c", 1)

	for name, h := range hs {
		want, err := events.Replay(name, h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := events.Load(ctx, m, name)
		if err != nil {
			t.Fatalf("Load(%s): %v", name, err)
		}
		requireSameSnapshot(t, got, want)
		base, _ := m.Snapshot(ctx, name)
		recs, err := m.Read(ctx, name, base.Seq)
		if err != nil {
			t.Fatal(err)
		}
		requireSameRecords(t, recs, h[base.Seq:])
	}
	if got, want := m.Breakers(), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("Breakers() = %q, want %q", got, want)
	}
}

// readConsistent reads breaker's current fold the way a follower must when
// the journal compacts under it: snapshot, then the records after it,
// starting again if they were compacted in between.
func readConsistent(ctx context.Context, m *events.Memory, breaker string) (events.Snapshot, error) {
	for attempt := 0; attempt < 1000; attempt++ {
		base, err := m.Snapshot(ctx, breaker)
		if err != nil {
			return base, err
		}
		recs, err := m.Read(ctx, breaker, base.Seq)
		if errors.Is(err, events.ErrCompacted) {
			continue
		}
		if err != nil {
			return base, err
		}
		return events.ReplayFrom(base, recs)
	}
	return events.Snapshot{}, errors.New("compacted under the reader 1000 times in a row")
}

func TestMemoryConcurrentWritersAndReaders(t *testing.T) {
	const (
		writers = 8
		perW    = 300
	)
	m := newMemory(t, 16)
	ctx := context.Background()
	name := func(i int) string { return fmt.Sprintf("breaker-%d", i) }
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			h := history(name(w), perW)
			lastSeen := make([]uint64, writers)
			for i, r := range h {
				if err := m.Append(ctx, r); err != nil {
					errs <- fmt.Errorf("writer %d: Append(%v): %w", w, r, err)
					return
				}
				// Read another writer's breaker: what it sees must be a
				// legal fold that never goes backwards.
				other := (w + 1 + i%(writers-1)) % writers
				s, err := readConsistent(ctx, m, name(other))
				if err != nil {
					errs <- fmt.Errorf("writer %d reading %s: %w", w, name(other), err)
					return
				}
				if s.Seq < lastSeen[other] {
					errs <- fmt.Errorf("writer %d: %s went back from seq %d to %d", w, name(other), lastSeen[other], s.Seq)
					return
				}
				lastSeen[other] = s.Seq
				_ = m.Breakers()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		want, err := events.Replay(name(w), history(name(w), perW))
		if err != nil {
			t.Fatal(err)
		}
		got, err := events.Load(ctx, m, name(w))
		if err != nil {
			t.Fatal(err)
		}
		requireSameSnapshot(t, got, want)
	}
	if got := len(m.Breakers()); got != writers {
		t.Fatalf("Breakers() has %d names, want %d", got, writers)
	}
}
