package filejournal_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// fjHistoryJournal is a journal of several segments: breakers p, q and r
// take turns, a record a minute from t0 (r stops after its 12th), sealed
// every 700 bytes.
func fjHistoryJournal(t *testing.T, opts ...filejournal.Option) (string, map[string][]events.Transition) {
	t.Helper()
	path := fjPath(t)
	f := fjOpen(t, path, nil, append([]filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(700),
		filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {})}, opts...)...)
	hist := map[string][]events.Transition{}
	at := t0
	for i := range 40 {
		for _, b := range []string{"p", "q", "r"} {
			if b == "r" && i >= 12 {
				continue
			}
			at = at.Add(time.Minute)
			r := fjManual(b, uint64(len(hist[b])+1), at)
			fjAppend(t, f, r)
			hist[b] = append(hist[b], r)
		}
	}
	if st := f.Stats(); st.Sealed < 8 {
		t.Fatalf("%d sealed segments", st.Sealed)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, hist
}

// Records keeps exactly the records its filter selects, in the order
// written, whichever segments they are in.
func TestRecordsFilter(t *testing.T) {
	path, hist := fjHistoryJournal(t)
	all := fjInterleave(hist["p"], hist["q"], hist["r"])
	for _, tc := range []struct {
		name   string
		filter filejournal.Filter
	}{
		{"everything", filejournal.Filter{}},
		{"one breaker", filejournal.Filter{Breakers: func(n string) bool { return n == "q" }}},
		{"a breaker of the old segments only", filejournal.Filter{Breakers: func(n string) bool { return n == "r" }}},
		{"no breaker", filejournal.Filter{Breakers: func(string) bool { return false }}},
		{"since", filejournal.Filter{Since: t0.Add(90 * time.Minute)}},
		{"until", filejournal.Filter{Until: t0.Add(20 * time.Minute)}},
		{"an hour in the middle", filejournal.Filter{Since: t0.Add(30 * time.Minute), Until: t0.Add(90 * time.Minute)}},
		{"one breaker's last ten minutes", filejournal.Filter{Breakers: func(n string) bool { return n == "p" }, Since: all[len(all)-1].Time.Add(-10 * time.Minute)}},
		{"after everything", filejournal.Filter{Since: t0.Add(24 * time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []events.Transition
			for _, r := range all {
				if (tc.filter.Breakers == nil || tc.filter.Breakers(r.Breaker)) && (tc.filter.Since.IsZero() || !r.Time.Before(tc.filter.Since)) &&
					(tc.filter.Until.IsZero() || r.Time.Before(tc.filter.Until)) {
					want = append(want, r)
				}
			}
			var got []events.Transition
			segment := uint64(0)
			for _, r := range fjRecords(t, path, tc.filter) {
				if r.Segment < segment || r.Line < 2 {
					t.Fatalf("record %v at segment %d line %d, after segment %d", r.Transition, r.Segment, r.Line, segment)
				}
				segment = r.Segment
				got = append(got, r.Transition)
			}
			requireSameRecords(t, got, want)
		})
	}
	t.Run("stopped early", func(t *testing.T) {
		n := 0
		for _, err := range filejournal.Records(path, filejournal.Filter{}) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 5 {
				break
			}
		}
	})
}

// StateAt gives each breaker's fold of its records before a time, from
// the segments that hold them; a time before what retention left is a
// CompactedError.
func TestStateAt(t *testing.T) {
	path, hist := fjHistoryJournal(t)
	last := hist["p"][len(hist["p"])-1].Time
	for _, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(150 * time.Second), t0.Add(37 * time.Minute), t0.Add(61 * time.Minute), last, last.Add(time.Second), last.Add(time.Hour)} {
		t.Run(at.Format(time.TimeOnly), func(t *testing.T) {
			got, err := filejournal.StateAt(path, at)
			if err != nil {
				t.Fatal(err)
			}
			for b, h := range hist {
				var before []events.Transition
				for _, r := range h {
					if r.Time.Before(at) {
						before = append(before, r)
					}
				}
				s, ok := got[b]
				if len(before) == 0 {
					if ok {
						t.Fatalf("breaker %s at %v: %+v, want none", b, at, s)
					}
					continue
				}
				if !ok {
					t.Fatalf("breaker %s absent at %v", b, at)
				}
				requireSameSnapshot(t, s, fjFold(t, before))
			}
		})
	}
	t.Run("before what retention left", func(t *testing.T) {
		f := fjOpen(t, path, nil, filejournal.WithMaxBytes(5000), filejournal.WithRetentionHandler(func(filejournal.Removal) {}))
		f.Close()
		oldest, err := filejournal.Oldest(path)
		if err != nil {
			t.Fatal(err)
		}
		p := oldest["p"]
		if p.Seq == 0 {
			t.Fatal("no checkpoint of p in the oldest segment")
		}
		_, err = filejournal.StateAt(path, p.Since)
		var ce *events.CompactedError
		if !errors.As(err, &ce) {
			t.Fatalf("StateAt(%v) = %v, want a CompactedError", p.Since, err)
		}
		fjFileError(t, err, fjSealed(t, path)[0], nil, 0)
		// From the newest time the checkpoint folds on, it can tell.
		at := p.Since
		for _, s := range oldest {
			at = maxT(at, s.Since)
		}
		at = at.Add(time.Second)
		got, err := filejournal.StateAt(path, at)
		if err != nil {
			t.Fatal(err)
		}
		for b, s := range oldest {
			requireSameSnapshot(t, got[b], fjFold(t, hist[b][:s.Seq]))
		}
		// A breaker whose records before a time are held has its state
		// then, whatever retention removed of the others'.
		first := ""
		for b, s := range oldest {
			if first == "" || s.Since.Before(oldest[first].Since) {
				first = b
			}
		}
		at = oldest[first].Since.Add(time.Nanosecond)
		if _, err := filejournal.StateAt(path, at); !errors.As(err, &ce) || ce.Breaker == first {
			t.Fatalf("StateAt(%v) = %v, want a CompactedError of a breaker other than %s", at, err, first)
		}
		only, err := filejournal.StateAtOf(path, at, func(b string) bool { return b == first })
		if err != nil {
			t.Fatalf("StateAtOf(%v, %s): %v", at, first, err)
		}
		if len(only) != 1 {
			t.Fatalf("StateAtOf(%v, %s) = %v, want %s only", at, first, only, first)
		}
		var before []events.Transition
		for _, r := range hist[first] {
			if r.Time.Before(at) {
				before = append(before, r)
			}
		}
		requireSameSnapshot(t, only[first], fjFold(t, before))
	})
}

// Oldest gives the checkpoint the oldest segment held starts from: none
// while the whole history is held, the folds retention left after it
// removed segments.
func TestOldest(t *testing.T) {
	path, hist := fjHistoryJournal(t)
	got, err := filejournal.Oldest(path)
	if err != nil || len(got) != 0 {
		t.Fatalf("Oldest of a whole history = %v, %v; want none", got, err)
	}
	sealed := fjSealed(t, path)
	for _, p := range sealed[:len(sealed)-2] {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	got, err = filejournal.Oldest(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"p", "q", "r"} {
		s, ok := got[b]
		if !ok {
			t.Fatalf("Oldest has no %s: %v", b, got)
		}
		requireSameSnapshot(t, s, fjFold(t, hist[b][:s.Seq]))
	}
	// With only the active segment left, its checkpoint.
	for _, p := range sealed[len(sealed)-2:] {
		os.Remove(p)
	}
	got, err = filejournal.Oldest(path)
	if err != nil || got["r"].Seq != 12 {
		t.Fatalf("Oldest = %v, %v", got, err)
	}
}
