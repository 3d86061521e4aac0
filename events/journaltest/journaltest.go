// Package journaltest is the conformance suite of the journal contract:
// every implementation of [events.Journal] runs [Run] against itself, as a
// file system runs testing/fstest. It checks what a breaker relies on:
// appends at the expected sequence number and conflicts otherwise, refusals
// for good, reading after a sequence number, records read back as they were
// appended (writer and ID included), compaction that keeps the fold,
// concurrent writers of which exactly one wins each sequence number, and
// done contexts, and, for a journal that is an [events.Watcher], the watch.
//
//	func TestConformance(t *testing.T) {
//		journaltest.Run(t, func(t *testing.T) events.Journal { return newJournal(t) })
//	}
//
// A journal that can do more than the contract asks runs [RunWith], given
// those powers (see [Powers]), and the suite adds the cases that test them:
// reading across a checkpoint, and a broken chain reported.
package journaltest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// Run runs the conformance suite against the journals newJournal makes, one
// new, empty journal per subtest. newJournal should register its own
// cleanup (closing the journal) with t. The cases that need [Powers] are
// skipped.
func Run(t *testing.T, newJournal func(t *testing.T) events.Journal) {
	t.Helper()
	RunWith(t, newJournal, Powers{})
}

// Powers are what a journal can do beyond [events.Journal] that the suite
// can test. Each case that needs a power the journal has not is skipped.
type Powers struct {
	// Checkpoint makes j checkpoint now, as a journal does on its own
	// once it holds enough records: fold what it holds so far and go on
	// from the fold (a file journal seals a segment). A checkpoint with
	// nothing new since the last one must succeed. The case
	// ReadAcrossACheckpoint checks that Read still returns every record
	// and Load the same fold.
	Checkpoint func(ctx context.Context, j events.Journal) error
	// Tamper changes, where j stores it, the record seq of breaker (a
	// field of the record, not its link), as someone with access to the
	// storage would, without recomputing any hash; then it checks j's
	// chain and returns what the check says. The case
	// BrokenChainIsReported checks that j links each record to the one
	// before (PrevHash) and that the error matches [events.ErrBrokenChain].
	Tamper func(t *testing.T, j events.Journal, breaker string, seq uint64) error
}

// RunWith runs the conformance suite as [Run] does, and the cases of the
// powers p gives.
func RunWith(t *testing.T, newJournal func(t *testing.T) events.Journal, p Powers) {
	t.Helper()
	for _, c := range []struct {
		name string
		test func(t *testing.T, j events.Journal)
	}{
		{"EmptyJournal", emptyJournal},
		{"AppendThenRead", appendThenRead},
		{"ReadAfter", readAfter},
		{"ConflictStoresNothing", conflictStoresNothing},
		{"RefusedForGood", refusedForGood},
		{"BreakersAreIndependent", breakersAreIndependent},
		{"ReadReturnsACopy", readReturnsACopy},
		{"LongHistoryKeepsTheFold", longHistoryKeepsTheFold},
		{"ConcurrentWriters", concurrentWriters},
		{"DoneContext", doneContext},
		{"Watch", watch},
		{"ReadAcrossACheckpoint", func(t *testing.T, j events.Journal) { readAcrossACheckpoint(t, j, p.Checkpoint) }},
		{"BrokenChainIsReported", func(t *testing.T, j events.Journal) { brokenChainIsReported(t, j, p.Tamper) }},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, newJournal(t)) })
	}
}

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// cycle is a legal walk through every state: trip, probe, retrip, probe,
// recover, and again.
var cycle = []struct {
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
}

// record returns the legal record seq of breaker (1-based), with every
// field a breaker sets.
func record(breaker string, seq uint64) events.Transition {
	s := cycle[(seq-1)%uint64(len(cycle))]
	r := events.Transition{
		Breaker: breaker, Seq: seq, Event: s.e, From: s.from, To: s.to,
		Time:   t0.Add(time.Duration(seq) * time.Second),
		Writer: "journaltest", ID: fmt.Sprintf("%016x", seq*2654435761+uint64(len(breaker))),
		Reason: events.Reason{Policy: "journaltest", Failures: seq, LastError: "EOF"},
	}
	if s.to == events.Open {
		r.OpenFor = time.Duration(seq) * time.Second
	}
	if s.e.Manual() {
		r.Reason = events.Reason{Policy: events.PolicyManual, Operator: "ops", Note: "journaltest: ünïcode"}
	}
	return r
}

func appendAll(t *testing.T, j events.Journal, recs ...events.Transition) {
	t.Helper()
	for _, r := range recs {
		if err := j.Append(context.Background(), r); err != nil {
			t.Fatalf("Append(%v): %v", r, err)
		}
	}
}

func history(breaker string, n int) []events.Transition {
	out := make([]events.Transition, n)
	for i := range out {
		out[i] = record(breaker, uint64(i+1))
	}
	return out
}

func read(t *testing.T, j events.Journal, breaker string, after uint64) []events.Transition {
	t.Helper()
	recs, err := j.Read(context.Background(), breaker, after)
	if err != nil {
		t.Fatalf("Read(%q, %d): %v", breaker, after, err)
	}
	return recs
}

// same reports whether got is want as a journal must read it back: every
// field equal, the time as the same instant, except PrevHash, which a
// journal that chains its records sets (BrokenChainIsReported checks the
// links of a journal given Powers.Tamper).
func same(got, want events.Transition) bool {
	g, w := got, want
	g.Time, w.Time = time.Time{}, time.Time{}
	g.PrevHash, w.PrevHash = "", ""
	return g == w && got.Time.Equal(want.Time)
}

func requireRecords(t *testing.T, what string, got, want []events.Transition) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !same(got[i], want[i]) {
			t.Fatalf("%s: record %d\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

func emptyJournal(t *testing.T, j events.Journal) {
	if recs := read(t, j, "nothing", 0); len(recs) != 0 {
		t.Fatalf("Read of a breaker with no records = %v", recs)
	}
	s, err := events.Load(context.Background(), j, "nothing")
	if err != nil || s != events.Initial("nothing") {
		t.Fatalf("Load of a breaker with no records = %+v, %v; want the initial snapshot", s, err)
	}
}

func appendThenRead(t *testing.T, j events.Journal) {
	want := history("payments", len(cycle))
	appendAll(t, j, want...)
	requireRecords(t, "Read(0)", read(t, j, "payments", 0), want)
	s, err := events.Load(context.Background(), j, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if fold, _ := events.Replay("payments", want); s != fold {
		t.Fatalf("Load = %+v, want the fold %+v", s, fold)
	}
}

func readAfter(t *testing.T, j events.Journal) {
	recs := history("payments", 5)
	appendAll(t, j, recs...)
	for after := uint64(0); after <= 7; after++ {
		want := recs[min(after, 5):]
		requireRecords(t, fmt.Sprintf("Read(%d)", after), read(t, j, "payments", after), want)
	}
}

func conflictStoresNothing(t *testing.T, j events.Journal) {
	ctx := context.Background()
	appendAll(t, j, history("payments", 2)...)
	for _, seq := range []uint64{1, 2, 4, 100} {
		r := record("payments", seq)
		r.ID = "ffffffffffffffff"
		err := j.Append(ctx, r)
		if !errors.Is(err, events.ErrConflict) {
			t.Fatalf("Append of seq %d after seq 2 = %v, want an error matching ErrConflict", seq, err)
		}
		if errors.Is(err, events.ErrRefused) {
			t.Fatalf("Append of seq %d after seq 2 = %v: a conflict is not a refusal for good", seq, err)
		}
		var ce *events.ConflictError
		if errors.As(err, &ce) && (ce.Seq != seq || ce.Last != 2 || ce.Breaker != "payments") {
			t.Fatalf("ConflictError = %+v, want breaker payments, seq %d, last 2", ce, seq)
		}
	}
	requireRecords(t, "after the conflicts", read(t, j, "payments", 0), history("payments", 2))
}

func refusedForGood(t *testing.T, j events.Journal) {
	ctx := context.Background()
	appendAll(t, j, history("payments", 1)...)
	next := record("payments", 2)
	for _, c := range []struct {
		name string
		rec  events.Transition
	}{
		{"illegal transition", func() events.Transition { r := next; r.From = events.Closed; return r }()},
		{"undeclared event", func() events.Transition { r := next; r.Event = 0; return r }()},
		{"open without an open period", func() events.Transition {
			r := record("payments", 2)
			r.Event, r.To, r.OpenFor = events.Retrip, events.Open, 0
			r.From = events.Open
			return r
		}()},
		{"name not UTF-8", func() events.Transition { r := record("bad\xffname", 1); return r }()},
		{"1 MiB name", func() events.Transition { r := record(strings.Repeat("n", 1<<20), 1); return r }()},
	} {
		err := j.Append(ctx, c.rec)
		if !errors.Is(err, events.ErrRefused) {
			t.Fatalf("%s: Append = %v, want an error matching ErrRefused", c.name, err)
		}
	}
	requireRecords(t, "after the refusals", read(t, j, "payments", 0), history("payments", 1))
	appendAll(t, j, next) // the journal goes on
}

func breakersAreIndependent(t *testing.T, j events.Journal) {
	a, b := history("a", 4), history("b", 2)
	appendAll(t, j, a[0], b[0], a[1], a[2], b[1], a[3])
	requireRecords(t, "a", read(t, j, "a", 0), a)
	requireRecords(t, "b", read(t, j, "b", 0), b)
}

func readReturnsACopy(t *testing.T, j events.Journal) {
	want := history("payments", 3)
	appendAll(t, j, want...)
	got := read(t, j, "payments", 0)
	for i := range got {
		got[i].Breaker, got[i].Reason.Note = "changed", "changed"
	}
	requireRecords(t, "Read after changing what an earlier Read returned", read(t, j, "payments", 0), want)
}

// longHistoryKeepsTheFold appends enough records that a bounded journal
// compacts, and checks that Load still gives the fold of everything, and
// that what Read no longer returns is in the journal's snapshot.
func longHistoryKeepsTheFold(t *testing.T, j events.Journal) {
	const n = 3000
	recs := history("payments", n)
	appendAll(t, j, recs...)
	fold, _ := events.Replay("payments", recs)
	s, err := events.Load(context.Background(), j, "payments")
	if err != nil || s != fold {
		t.Fatalf("Load after %d records = %+v, %v; want %+v", n, s, err, fold)
	}
	got, err := j.Read(context.Background(), "payments", 0)
	if errors.Is(err, events.ErrCompacted) {
		sn, ok := j.(events.Snapshotter)
		if !ok {
			t.Fatal("Read reports records compacted away, but the journal is not a Snapshotter")
		}
		base, err := sn.Snapshot(context.Background(), "payments")
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := events.Replay("payments", recs[:base.Seq]); base != want {
			t.Fatalf("Snapshot = %+v, want the fold of the records before it %+v", base, want)
		}
		got = read(t, j, "payments", base.Seq)
		requireRecords(t, "Read after the snapshot", got, recs[base.Seq:])
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	requireRecords(t, "Read(0)", got, recs)
}

// concurrentWriters: writers race to append each next record of one
// breaker; for every sequence number exactly one wins, the others get a
// conflict, and the history stays legal.
func concurrentWriters(t *testing.T, j events.Journal) {
	const writers, seqs = 4, 40
	var mu sync.Mutex
	won := map[uint64]int{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			ctx := context.Background()
			for {
				recs, err := j.Read(ctx, "shared", 0)
				if err != nil {
					t.Errorf("writer %d: Read: %v", w, err)
					return
				}
				next := uint64(len(recs)) + 1
				if next > seqs {
					return
				}
				r := record("shared", next)
				r.Writer, r.ID = fmt.Sprintf("writer-%d", w), fmt.Sprintf("%08x%08x", w, next)
				switch err := j.Append(ctx, r); {
				case err == nil:
					mu.Lock()
					won[next]++
					mu.Unlock()
				case !errors.Is(err, events.ErrConflict):
					t.Errorf("writer %d: Append of seq %d: %v, want nil or a conflict", w, next, err)
					return
				}
			}
		})
	}
	wg.Wait()
	recs := read(t, j, "shared", 0)
	if len(recs) != seqs {
		t.Fatalf("%d records, want %d", len(recs), seqs)
	}
	if _, err := events.Replay("shared", recs); err != nil {
		t.Fatalf("the history is not legal: %v", err)
	}
	for seq := uint64(1); seq <= seqs; seq++ {
		if won[seq] != 1 {
			t.Fatalf("seq %d was appended %d times", seq, won[seq])
		}
		want := fmt.Sprintf("%08x", seq)
		if !strings.HasSuffix(recs[seq-1].ID, want) || !strings.HasPrefix(recs[seq-1].Writer, "writer-") {
			t.Fatalf("record %d = %+v is not a winner's", seq, recs[seq-1])
		}
	}
}

// doneContext: given a context that is already done, Append and Read return
// promptly; an Append that returns an error matching the context's stored
// nothing, and one that returns nil stored its record.
func doneContext(t *testing.T, j events.Journal) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := record("payments", 1)
	err := j.Append(ctx, r)
	switch {
	case err == nil:
		requireRecords(t, "after an Append that returned nil", read(t, j, "payments", 0), []events.Transition{r})
	case errors.Is(err, context.Canceled):
		requireRecords(t, "after an Append that returned the context's error", read(t, j, "payments", 0), nil)
	default:
		t.Fatalf("Append with a cancelled context = %v, want nil or context.Canceled", err)
	}
	if _, err := j.Read(ctx, "payments", 0); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context = %v, want nil or context.Canceled", err)
	}
}

// watch checks a journal that pushes its records ([events.Watcher]):
// records of every breaker, in the order stored, with rising positions,
// the last of which is the head; a Watch that waits returns the next record
// stored; a done context ends it. Journals that are not Watchers skip it.
func watch(t *testing.T, j events.Journal) {
	w, ok := j.(events.Watcher)
	if !ok {
		t.Skip("the journal is not an events.Watcher")
	}
	ctx := context.Background()
	head0, err := w.Head(ctx)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	a, b := history("a", 2), history("b", 1)
	order := []events.Transition{a[0], b[0], a[1]}
	appendAll(t, j, order...)
	got, err := w.Watch(ctx, head0)
	if err != nil {
		t.Fatalf("Watch(%d): %v", head0, err)
	}
	if len(got) != len(order) {
		t.Fatalf("Watch(%d) = %d records, want %d", head0, len(got), len(order))
	}
	last := head0
	for i, s := range got {
		if s.Pos <= last || !same(s.Transition, order[i]) {
			t.Fatalf("Watch record %d = %+v at %d, want %+v after position %d", i, s.Transition, s.Pos, order[i], last)
		}
		last = s.Pos
	}
	if head, err := w.Head(ctx); err != nil || head != last {
		t.Fatalf("Head() = %d, %v; want %d, the last position", head, err, last)
	}
	more := make(chan []events.Stored, 1)
	go func() {
		recs, err := w.Watch(ctx, last)
		if err != nil {
			t.Errorf("a waiting Watch: %v", err)
		}
		more <- recs
	}()
	next := record("b", 2)
	appendAll(t, j, next)
	select {
	case recs := <-more:
		if len(recs) != 1 || !same(recs[0].Transition, next) || recs[0].Pos <= last {
			t.Fatalf("a waiting Watch returned %+v, want %+v after %d", recs, next, last)
		}
	case <-time.After(20 * time.Second): // a watchdog, not a timing assertion
		t.Fatal("a waiting Watch did not return the record stored")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.Watch(cctx, last+1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch with a cancelled context = %v, want context.Canceled", err)
	}
}

// readAcrossACheckpoint appends, checkpoints, appends, checkpoints twice
// (the second with nothing new) and appends again; Read returns every
// record of each breaker after any sequence number, the snapshot (of a
// Snapshotter) is the fold of the records up to it, and Load the fold of
// everything.
func readAcrossACheckpoint(t *testing.T, j events.Journal, checkpoint func(context.Context, events.Journal) error) {
	if checkpoint == nil {
		t.Skip("the journal cannot be made to checkpoint (Powers.Checkpoint)")
	}
	ctx := context.Background()
	a, b := history("a", 16), history("b", 5)
	cp := func() {
		t.Helper()
		if err := checkpoint(ctx, j); err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
	}
	appendAll(t, j, a[0], b[0], a[1], a[2], b[1], a[3], a[4], a[5], b[2], a[6], a[7], a[8], a[9])
	cp()
	appendAll(t, j, a[10:15]...)
	cp()
	cp()
	appendAll(t, j, a[15], b[3], b[4])
	for _, h := range [][]events.Transition{a, b} {
		name := h[0].Breaker
		for after := 0; after <= len(h); after++ {
			requireRecords(t, fmt.Sprintf("Read(%q, %d)", name, after), read(t, j, name, uint64(after)), h[after:])
		}
		fold, _ := events.Replay(name, h)
		if s, err := events.Load(ctx, j, name); err != nil || s != fold {
			t.Fatalf("Load(%q) = %+v, %v; want %+v", name, s, err, fold)
		}
		if sn, ok := j.(events.Snapshotter); ok {
			base, err := sn.Snapshot(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := events.Replay(name, h[:base.Seq]); base.Seq > 0 && base != want {
				t.Fatalf("Snapshot(%q) = %+v, want the fold of the records before it %+v", name, base, want)
			}
		}
	}
}

// brokenChainIsReported appends a history, checks that each record but the
// first links to the one before, changes a record where the journal stores
// it, and checks that the journal's check of its chain reports it.
func brokenChainIsReported(t *testing.T, j events.Journal, tamper func(*testing.T, events.Journal, string, uint64) error) {
	if tamper == nil {
		t.Skip("the journal's storage cannot be changed behind it (Powers.Tamper)")
	}
	appendAll(t, j, history("a", 6)...)
	recs := read(t, j, "a", 0)
	seen := map[string]bool{}
	for i, r := range recs {
		if (r.PrevHash == "") != (i == 0) || seen[r.PrevHash] {
			t.Fatalf("record %d has PrevHash %q: want none on the first record, and a link of its own on each after it", r.Seq, r.PrevHash)
		}
		seen[r.PrevHash] = true
	}
	err := tamper(t, j, "a", 3)
	if !errors.Is(err, events.ErrBrokenChain) {
		t.Fatalf("the chain check after record 3 was changed = %v, want an error matching ErrBrokenChain", err)
	}
}
