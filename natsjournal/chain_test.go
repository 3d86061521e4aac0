package natsjournal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	chainKey = []byte("natsjournal test chain key, 32 b")
	otherKey = []byte("another key of at least 16 bytes")
)

// chainings are the two kinds of chain: every chain test runs over both.
var chainings = []struct {
	name string
	key  []byte
}{{"bare", nil}, {"keyed", chainKey}}

// keyed returns the options of a journal keyed with key, none when key is
// nil.
func keyed(key []byte, opts ...natsjournal.Option) []natsjournal.Option {
	if key != nil {
		opts = append(opts, natsjournal.WithChainKey(key))
	}
	return opts
}

// storedMsgs returns the messages of breaker's subject in j's stream,
// oldest first, as stored.
func storedMsgs(t *testing.T, nc *nats.Conn, j *natsjournal.Journal, breaker string) []*jetstream.RawStreamMsg {
	t.Helper()
	s := streamOf(t, nc, j)
	var out []*jetstream.RawStreamMsg
	for pos := uint64(1); ; {
		m, err := s.GetMsg(context.Background(), pos, jetstream.WithGetMsgSubject(j.Subject(breaker)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		pos = m.Sequence + 1
	}
}

// datas returns the data of msgs.
func datas(msgs []*jetstream.RawStreamMsg) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Data
	}
	return out
}

func decoded(t *testing.T, data []byte) events.Transition {
	t.Helper()
	var r events.Transition
	if err := r.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	return r
}

func encoded(t *testing.T, r events.Transition) []byte {
	t.Helper()
	data, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// edited returns data with f applied to the record it holds.
func edited(t *testing.T, data []byte, f func(*events.Transition)) []byte {
	t.Helper()
	r := decoded(t, data)
	f(&r)
	return encoded(t, r)
}

// republish replaces breaker's records in j's stream with recs, as anyone
// who can write the stream can: a purge of the subject, and a publish of
// each. It returns their positions.
func republish(t *testing.T, nc *nats.Conn, j *natsjournal.Journal, breaker string, recs [][]byte) []uint64 {
	t.Helper()
	ctx := context.Background()
	removeRecords(t, nc, j, breaker)
	js := jsOf(t, nc)
	var pos []uint64
	for _, data := range recs {
		ack, err := js.Publish(ctx, j.Subject(breaker), data)
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, ack.Sequence)
	}
	return pos
}

// relinked returns recs with each PrevHash recomputed under key (bare with
// none), as whoever rewrites a record and the chain after it does.
func relinked(t *testing.T, recs [][]byte, key []byte) [][]byte {
	t.Helper()
	out := make([][]byte, len(recs))
	for i, data := range recs {
		out[i] = edited(t, data, func(r *events.Transition) {
			r.PrevHash = ""
			if i > 0 {
				r.PrevHash = events.LinkHash(out[i-1], key)
			}
		})
	}
	return out
}

// sameRecord reports whether a and b are the same record, PrevHash
// included, their times the same instant.
func sameRecord(a, b events.Transition) bool {
	ta, tb := a.Time, b.Time
	a.Time, b.Time = ta.UTC(), tb.UTC()
	return a == b && ta.Equal(tb)
}

// broken checks that err reports the link of record seq of breaker, at
// stream position pos, broken: an *events.ChainError naming them, in a
// *natsjournal.MessageError at pos.
func broken(t *testing.T, what string, err error, breaker string, seq, pos uint64) {
	t.Helper()
	var ce *events.ChainError
	var me *natsjournal.MessageError
	if !errors.Is(err, events.ErrBrokenChain) || !errors.Is(err, natsjournal.ErrBadMessage) ||
		!errors.As(err, &ce) || ce.Breaker != breaker || ce.Seq != seq || !errors.As(err, &me) || me.Pos != pos {
		t.Fatalf("%s = %v; want the broken link of %q seq %d at position %d", what, err, breaker, seq, pos)
	}
}

// A chained history: each record carries the link hash of the one before
// it as stored, whatever the caller put in PrevHash; it reads back, loads,
// is watched and verifies, by the writer and by a journal that never saw
// it.
func TestChainRoundTrips(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	for _, c := range chainings {
		t.Run(c.name, func(t *testing.T) {
			j := newJournal(t, nc, keyed(c.key)...)
			var recs []events.Transition
			for seq := uint64(1); seq <= 12; seq++ {
				r := record("a", seq)
				if seq%5 == 0 {
					r.PrevHash = events.LinkSHA256 + strings.Repeat("0", 32) // replaced
				}
				if err := j.Append(ctx, r); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			msgs := storedMsgs(t, nc, j, "a")
			for i, m := range msgs {
				want := ""
				if i > 0 {
					want = events.LinkHash(msgs[i-1].Data, c.key)
				}
				recs[i].PrevHash = want
				if got := decoded(t, m.Data).PrevHash; got != want {
					t.Fatalf("record %d stored with prev_hash %q, want %q", i+1, got, want)
				}
			}
			if alg := events.LinkSHA256; c.key != nil && !strings.HasPrefix(recs[1].PrevHash, events.LinkHMACSHA256) ||
				c.key == nil && !strings.HasPrefix(recs[1].PrevHash, alg) {
				t.Fatalf("prev_hash %s with key %q", recs[1].PrevHash, c.key)
			}
			for _, r := range []*natsjournal.Journal{j, sameStream(t, nc, j, keyed(c.key)...)} {
				got, err := r.Read(ctx, "a", 0)
				if err != nil || len(got) != len(recs) {
					t.Fatalf("Read = %d records, %v; want %d", len(got), err, len(recs))
				}
				for i := range got {
					if !sameRecord(got[i], recs[i]) {
						t.Fatalf("Read record %d = %+v, want %+v", i+1, got[i], recs[i])
					}
				}
				if s, err := events.Load(ctx, r, "a"); err != nil || !s.Equal(fold(t, "a", recs)) {
					t.Fatalf("Load = %+v, %v", s, err)
				}
				if w, err := r.Watch(ctx, 0); err != nil || len(w) != len(recs) {
					t.Fatalf("Watch(0) = %d records, %v", len(w), err)
				}
			}
			rep, err := j.VerifyChain(ctx, "a", events.ChainCheck{Key: c.key, RequireKey: c.key != nil})
			want := natsjournal.ChainReport{Breaker: "a", Records: 12, First: 1, Last: 12, Linked: 11, Unlinked: 1,
				Head: events.LinkHash(msgs[11].Data, c.key)}
			if err != nil || rep != want {
				t.Fatalf("VerifyChain = %+v, %v; want %+v", rep, err, want)
			}
			if c.key == nil {
				return
			}
			// A journal without the key reads a keyed chain, and counts its
			// links unchecked.
			u := sameStream(t, nc, j)
			if got, err := u.Read(ctx, "a", 0); err != nil || len(got) != 12 {
				t.Fatalf("Read without the key = %d records, %v", len(got), err)
			}
			rep, err = u.VerifyChain(ctx, "a", events.ChainCheck{})
			if err != nil || rep.Unchecked != 11 || rep.Unlinked != 1 || rep.Linked != 0 || rep.Head != events.LinkHash(msgs[11].Data, nil) {
				t.Fatalf("VerifyChain without the key = %+v, %v; want 11 unchecked, 1 unlinked", rep, err)
			}
		})
	}
}

// Writers sharing a breaker keep one linear chain: a writer whose record
// lost its sequence number links its next one to the winner's.
func TestWritersKeepOneChain(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	for _, c := range chainings {
		t.Run(c.name, func(t *testing.T) {
			a := newJournal(t, nc, keyed(c.key)...)
			b := sameStream(t, nc, a, keyed(c.key)...)
			if err := a.Append(ctx, record("x", 1)); err != nil {
				t.Fatal(err)
			}
			theirs := record("x", 2)
			theirs.Writer = "b"
			if err := b.Append(ctx, theirs); err != nil {
				t.Fatal(err)
			}
			mine := record("x", 2)
			mine.Writer = "a"
			var ce *events.ConflictError
			if err := a.Append(ctx, mine); !errors.As(err, &ce) {
				t.Fatalf("Append of an overtaken record = %v, want a conflict", err)
			}
			next := record("x", 3)
			next.Writer = "a"
			if err := a.Append(ctx, next); err != nil {
				t.Fatal(err)
			}
			msgs := storedMsgs(t, nc, a, "x")
			if len(msgs) != 3 || decoded(t, msgs[1].Data).Writer != "b" {
				t.Fatalf("the stream holds %d records, the second by %q; want 3, the second b's", len(msgs), decoded(t, msgs[1].Data).Writer)
			}
			if got, want := decoded(t, msgs[2].Data).PrevHash, events.LinkHash(msgs[1].Data, c.key); got != want {
				t.Fatalf("a's record after the conflict links to %s, want b's record %s", got, want)
			}

			// Three writers racing for every record of a breaker.
			const n = 30
			writers := []*natsjournal.Journal{a, b, sameStream(t, nc, a, keyed(c.key)...)}
			var wg sync.WaitGroup
			for i, j := range writers {
				wg.Go(func() {
					for {
						recs, err := j.Read(ctx, "y", 0)
						if err != nil {
							t.Errorf("writer %d: Read: %v", i, err)
							return
						}
						if len(recs) >= n {
							return
						}
						r := record("y", uint64(len(recs))+1)
						r.Writer = fmt.Sprint("writer-", i)
						if err := j.Append(ctx, r); err != nil && !errors.Is(err, events.ErrConflict) {
							t.Errorf("writer %d: Append: %v", i, err)
							return
						}
					}
				})
			}
			wg.Wait()
			rep, err := a.VerifyChain(ctx, "y", events.ChainCheck{Key: c.key, RequireKey: c.key != nil})
			if err != nil || rep.Records != n || rep.Linked != n-1 || rep.Unlinked != 1 || rep.Broken != 0 {
				t.Fatalf("VerifyChain after the race = %+v, %v; want %d records, all linked but the first", rep, err, n)
			}
		})
	}
}

// A record changed, removed or inserted in the stream breaks the link of
// the record after it: VerifyChain names it, and Read, Load and Watch
// report it rather than return the history.
func TestChangedHistoryIsFound(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	// Each tamper changes the six records of breaker "a" (recs, at
	// positions pos) and returns the record whose link breaks, where, and
	// how many links VerifyChain finds broken.
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, j *natsjournal.Journal, key []byte, recs [][]byte, pos []uint64) (seq, at, n uint64)
	}{
		{"a record changed", func(t *testing.T, j *natsjournal.Journal, _ []byte, recs [][]byte, _ []uint64) (uint64, uint64, uint64) {
			recs[2] = edited(t, recs[2], func(r *events.Transition) { r.Writer = "mallory" })
			pos := republish(t, nc, j, "a", recs)
			return 4, pos[3], 1
		}},
		{"a record removed", func(t *testing.T, j *natsjournal.Journal, _ []byte, _ [][]byte, pos []uint64) (uint64, uint64, uint64) {
			if err := streamOf(t, nc, j).DeleteMsg(ctx, pos[2]); err != nil {
				t.Fatal(err)
			}
			return 4, pos[3], 1
		}},
		{"a record inserted", func(t *testing.T, j *natsjournal.Journal, key []byte, recs [][]byte, _ []uint64) (uint64, uint64, uint64) {
			// A forged record 3 that links to record 2 as it should, before
			// the true one.
			forged := edited(t, recs[2], func(r *events.Transition) { r.Writer = "mallory" })
			pos := republish(t, nc, j, "a", append(recs[:2:2], append([][]byte{forged}, recs[2:]...)...))
			return 3, pos[3], 1
		}},
		{"a record appended by hand", func(t *testing.T, j *natsjournal.Journal, key []byte, recs [][]byte, pos []uint64) (uint64, uint64, uint64) {
			// Record 7, linked to record 4 rather than the last.
			r := record("a", 7)
			r.PrevHash = events.LinkHash(recs[3], key)
			ack, err := jsOf(t, nc).Publish(ctx, j.Subject("a"), encoded(t, r), jetstream.WithExpectLastSequencePerSubject(pos[5]))
			if err != nil {
				t.Fatal(err)
			}
			// The writer, which knows record 6, finds the record after it
			// broken: in its watch, and before its next append.
			broken(t, "the writer's Watch", watchFrom(t, j, pos[5]), "a", 7, ack.Sequence)
			broken(t, "the writer's Append of record 8", j.Append(ctx, record("a", 8)), "a", 7, ack.Sequence)
			return 7, ack.Sequence, 1
		}},
		{"the first record given a prev_hash", func(t *testing.T, j *natsjournal.Journal, key []byte, recs [][]byte, _ []uint64) (uint64, uint64, uint64) {
			recs[0] = edited(t, recs[0], func(r *events.Transition) { r.PrevHash = events.LinkHash([]byte("before"), key) })
			pos := republish(t, nc, j, "a", recs)
			return 1, pos[0], 2 // record 1, and record 2's link to it
		}},
	} {
		for _, c := range chainings {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				j := newJournal(t, nc, keyed(c.key, natsjournal.WithCheckpointEvery(0))...)
				appendN(t, j, "a", 1, 6)
				msgs := storedMsgs(t, nc, j, "a")
				pos := make([]uint64, len(msgs))
				for i, m := range msgs {
					pos[i] = m.Sequence
				}
				seq, at, n := tc.tamper(t, j, c.key, datas(msgs), pos)

				rep, err := j.VerifyChain(ctx, "a", events.ChainCheck{Key: c.key, RequireKey: c.key != nil})
				broken(t, "VerifyChain", err, "a", seq, at)
				if rep.FirstBroken == nil || rep.FirstBroken.Seq != seq || rep.FirstBrokenPos != at || rep.Broken != n {
					t.Fatalf("VerifyChain = %+v; want %d broken links, the first of seq %d at %d", rep, n, seq, at)
				}
				for _, r := range []*natsjournal.Journal{j, sameStream(t, nc, j, keyed(c.key)...)} {
					_, err := r.Read(ctx, "a", 0)
					broken(t, "Read(0)", err, "a", seq, at)
					_, err = r.Watch(ctx, 0)
					broken(t, "Watch(0)", err, "a", seq, at)
				}
				_, err = events.Load(ctx, sameStream(t, nc, j, keyed(c.key)...), "a")
				broken(t, "Load", err, "a", seq, at)
			})
		}
	}
}

// watchFrom returns the error of j's Watch after position after.
func watchFrom(t *testing.T, j *natsjournal.Journal, after uint64) error {
	t.Helper()
	recs, err := j.Watch(context.Background(), after)
	if err == nil {
		t.Fatalf("Watch(%d) = %+v, want an error", after, recs)
	}
	return err
}

// A keyed chain rewritten without the key: a record changed and every link
// after it recomputed, bare or under another key. A bare chain recomputed
// holds (a bare chain proves nothing against whoever can write the
// stream); a check that requires the key refuses it, and another key's
// links do not hold under the key.
func TestKeyedChainRewrittenWithoutTheKey(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	for _, c := range []struct {
		name string
		key  []byte // the rewriter's
	}{{"bare", nil}, {"under another key", otherKey}} {
		t.Run(c.name, func(t *testing.T) {
			j := newJournal(t, nc, natsjournal.WithChainKey(chainKey), natsjournal.WithCheckpointEvery(0))
			appendN(t, j, "a", 1, 6)
			recs := datas(storedMsgs(t, nc, j, "a"))
			recs[2] = edited(t, recs[2], func(r *events.Transition) { r.Writer = "mallory" })
			pos := republish(t, nc, j, "a", relinked(t, recs, c.key))

			rep, err := j.VerifyChain(ctx, "a", events.ChainCheck{Key: chainKey, RequireKey: true})
			broken(t, "VerifyChain requiring the key", err, "a", 2, pos[1])
			if rep.Broken != 5 || rep.Unlinked != 1 {
				t.Fatalf("VerifyChain requiring the key = %+v; want 5 broken links", rep)
			}
			rep, err = j.VerifyChain(ctx, "a", events.ChainCheck{Key: chainKey})
			_, rerr := sameStream(t, nc, j, natsjournal.WithChainKey(chainKey)).Read(ctx, "a", 0)
			if c.key == nil {
				if err != nil || rerr != nil || rep.Linked != 5 {
					t.Fatalf("a bare chain recomputed, checked without requiring the key: VerifyChain = %+v, %v; Read: %v; want it to hold", rep, err, rerr)
				}
				return
			}
			broken(t, "VerifyChain with the key", err, "a", 2, pos[1])
			broken(t, "Read by a journal with the key", rerr, "a", 2, pos[1])
		})
	}
}

// Records written before the journal chained them are accepted as
// unlinked, and the first record appended after them links to the last;
// an audit that requires the key refuses them.
func TestRecordsWrittenBeforeChaining(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	for _, c := range chainings {
		t.Run(c.name, func(t *testing.T) {
			j := newJournal(t, nc, keyed(c.key)...)
			js := jsOf(t, nc)
			var last uint64
			for seq := uint64(1); seq <= 3; seq++ {
				ack, err := js.Publish(ctx, j.Subject("a"), encoded(t, record("a", seq)), jetstream.WithExpectLastSequencePerSubject(last))
				if err != nil {
					t.Fatal(err)
				}
				last = ack.Sequence
			}
			appendN(t, j, "a", 4, 5)
			msgs := storedMsgs(t, nc, j, "a")
			if got, want := decoded(t, msgs[3].Data).PrevHash, events.LinkHash(msgs[2].Data, c.key); got != want {
				t.Fatalf("the first record chained links to %s, want the last unchained one %s", got, want)
			}
			for _, r := range []*natsjournal.Journal{j, sameStream(t, nc, j, keyed(c.key)...)} {
				if got, err := r.Read(ctx, "a", 0); err != nil || len(got) != 5 {
					t.Fatalf("Read = %d records, %v", len(got), err)
				}
				if got, err := r.Watch(ctx, 0); err != nil || len(got) != 5 {
					t.Fatalf("Watch = %d records, %v", len(got), err)
				}
			}
			rep, err := j.VerifyChain(ctx, "a", events.ChainCheck{Key: c.key})
			if err != nil || rep.Unlinked != 3 || rep.Linked != 2 {
				t.Fatalf("VerifyChain = %+v, %v; want 3 unlinked, 2 linked", rep, err)
			}
			if c.key != nil {
				rep, err := j.VerifyChain(ctx, "a", events.ChainCheck{Key: c.key, RequireKey: true})
				broken(t, "VerifyChain requiring the key", err, "a", 2, msgs[1].Sequence)
				if rep.Broken != 2 {
					t.Fatalf("VerifyChain requiring the key = %+v; want records 2 and 3 refused", rep)
				}
			}
		})
	}
}

// A checkpoint carries the chain's head, the link hash of the record it
// folds, and the next record links to it: when the records before it are
// removed, as a stream's limits do, the first record left is checked
// against it, and a first record left whose predecessor no checkpoint
// names is unchecked, not broken.
func TestCheckpointCarriesTheHead(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	for _, c := range chainings {
		t.Run(c.name, func(t *testing.T) {
			check := events.ChainCheck{Key: c.key, RequireKey: c.key != nil}
			j := newJournal(t, nc, keyed(c.key, natsjournal.WithCheckpointEvery(0))...)
			recs := appendN(t, j, "a", 1, 5)
			if err := j.Checkpoint(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			e, err := bucketOf(t, nc, j).Get(ctx, j.CheckpointKey("a"))
			if err != nil {
				t.Fatal(err)
			}
			var w struct {
				V    int
				Seq  uint64
				Head string
			}
			if err := json.Unmarshal(e.Value(), &w); err != nil {
				t.Fatal(err)
			}
			msgs := storedMsgs(t, nc, j, "a")
			if w.V != 1 || w.Seq != 5 || w.Head != events.LinkHash(msgs[4].Data, c.key) {
				t.Fatalf("the checkpoint is %s; want version 1, seq 5, head %s", e.Value(), events.LinkHash(msgs[4].Data, c.key))
			}
			recs = append(recs, appendN(t, j, "a", 6, 8)...)
			msgs = storedMsgs(t, nc, j, "a")
			if got := decoded(t, msgs[5].Data).PrevHash; got != w.Head {
				t.Fatalf("record 6 links to %s, want the checkpoint's head %s", got, w.Head)
			}

			s := streamOf(t, nc, j)
			if err := s.Purge(ctx, jetstream.WithPurgeSubject(j.Subject("a")), jetstream.WithPurgeKeep(3)); err != nil {
				t.Fatal(err)
			}
			r := sameStream(t, nc, j, keyed(c.key)...)
			if got, err := events.Load(ctx, r, "a"); err != nil || !got.Equal(fold(t, "a", recs)) {
				t.Fatalf("Load from the checkpoint = %+v, %v", got, err)
			}
			rep, err := r.VerifyChain(ctx, "a", check)
			if err != nil || rep.First != 6 || rep.Linked != 3 || rep.Unchecked != 0 || rep.Checkpoint != 5 || rep.CheckpointHead != w.Head {
				t.Fatalf("VerifyChain of records 6 to 8 = %+v, %v; want all 3 linked, record 6 to the checkpoint's head", rep, err)
			}

			// Record 6 removed too: record 7 links to a record that no
			// checkpoint names.
			if err := s.Purge(ctx, jetstream.WithPurgeSubject(j.Subject("a")), jetstream.WithPurgeKeep(2)); err != nil {
				t.Fatal(err)
			}
			rep, err = r.VerifyChain(ctx, "a", check)
			if err != nil || rep.First != 7 || rep.Linked != 1 || rep.Unchecked != 1 || rep.Broken != 0 {
				t.Fatalf("VerifyChain of records 7 and 8 = %+v, %v; want record 7 unchecked, 8 linked", rep, err)
			}
			if got, err := sameStream(t, nc, j, keyed(c.key)...).Read(ctx, "a", 6); err != nil || len(got) != 2 {
				t.Fatalf("Read(6) = %d records, %v; want records 7 and 8", len(got), err)
			}

			// A forged record 6 in place of the history after the
			// checkpoint does not link to its head.
			forged := record("a", 6)
			forged.Writer, forged.PrevHash = "mallory", events.LinkHash([]byte("forged"), c.key)
			pos := republish(t, nc, j, "a", [][]byte{encoded(t, forged)})
			_, err = events.Load(ctx, sameStream(t, nc, j, keyed(c.key)...), "a")
			broken(t, "Load over a forged record after the checkpoint", err, "a", 6, pos[0])
			_, err = r.VerifyChain(ctx, "a", check)
			broken(t, "VerifyChain over a forged record after the checkpoint", err, "a", 6, pos[0])
		})
	}
}

// A breaker whose records were all removed goes on from its checkpoint:
// its next record links to the checkpoint's head; after a checkpoint
// stored before heads, it is unlinked.
func TestRecordAfterRemovedRecordsLinksToTheHead(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	for _, c := range chainings {
		t.Run(c.name, func(t *testing.T) {
			w := limitedJournal(t, nc, keyed(c.key)...)
			appendN(t, w, "a", 1, 3)
			checkpointedAt(t, w, "a", 3)
			head := events.LinkHash(storedMsgs(t, nc, w, "a")[2].Data, c.key)
			removeRecords(t, nc, w, "a")
			appendN(t, w, "a", 4, 4)
			msgs := storedMsgs(t, nc, w, "a")
			if got := decoded(t, msgs[0].Data).PrevHash; len(msgs) != 1 || got != head {
				t.Fatalf("record 4 links to %s, want the checkpoint's head %s", got, head)
			}
			if s, err := events.Load(ctx, sameStream(t, nc, w, keyed(c.key)...), "a"); err != nil || s.Seq != 4 {
				t.Fatalf("Load = %+v, %v", s, err)
			}
		})
	}
	t.Run("a checkpoint without a head", func(t *testing.T) {
		j := newJournal(t, nc, natsjournal.WithCheckpointEvery(0))
		appendN(t, j, "a", 1, 3)
		pos := storedMsgs(t, nc, j, "a")[2].Sequence
		old := fmt.Sprintf(`{"v":1,"breaker":"a","seq":3,"state":"open","event":"force_open","since":"2026-12-01T10:00:03Z","open_for":"1m0s","pos":%d}`, pos)
		if _, err := bucketOf(t, nc, j).Put(ctx, j.CheckpointKey("a"), []byte(old)); err != nil {
			t.Fatal(err)
		}
		removeRecords(t, nc, j, "a")
		r := sameStream(t, nc, j)
		if s, err := r.Snapshot(ctx, "a"); err != nil || s.Seq != 3 {
			t.Fatalf("Snapshot of a checkpoint without a head = %+v, %v", s, err)
		}
		appendN(t, r, "a", 4, 4)
		if got := decoded(t, storedMsgs(t, nc, j, "a")[0].Data).PrevHash; got != "" {
			t.Fatalf("record 4 after a checkpoint without a head links to %q, want nothing", got)
		}
		if rep, err := r.VerifyChain(ctx, "a", events.ChainCheck{}); err != nil || rep.Unlinked != 1 || rep.Checkpoint != 3 {
			t.Fatalf("VerifyChain = %+v, %v; want record 4 unlinked", rep, err)
		}
	})
}

func TestVerifyChainRefuses(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	j := newJournal(t, nc)
	if rep, err := j.VerifyChain(ctx, "none", events.ChainCheck{}); err != nil || rep.Records != 0 || rep.Head != "" {
		t.Fatalf("VerifyChain of a breaker without records = %+v, %v", rep, err)
	}
	ack, err := jsOf(t, nc).Publish(ctx, j.Subject("b"), []byte("not json"))
	if err != nil {
		t.Fatal(err)
	}
	var me *natsjournal.MessageError
	if _, err := j.VerifyChain(ctx, "b", events.ChainCheck{}); !errors.As(err, &me) || me.Pos != ack.Sequence || errors.Is(err, events.ErrBrokenChain) {
		t.Fatalf("VerifyChain over a message that is not a record = %v, want its *MessageError", err)
	}
	var nilCtx context.Context
	if _, err := j.VerifyChain(nilCtx, "a", events.ChainCheck{}); err == nil {
		t.Fatal("VerifyChain(nil ctx) = nil error")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.VerifyChain(ctx, "a", events.ChainCheck{}); !errors.Is(err, natsjournal.ErrClosed) {
		t.Fatalf("VerifyChain after Close = %v, want ErrClosed", err)
	}
}

// VerifyChain checks a checkpoint's head against the record it folds,
// while that record is held: a head of the kind the check computes.
func TestVerifyChainChecksTheCheckpointsHead(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	for _, c := range []struct {
		name, head string
		broken     bool
	}{
		{"a bare head of another record", events.LinkHash([]byte("another"), nil), true},
		{"a keyed head, checked with the key", events.LinkHash([]byte("another"), chainKey), true},
		{"the record's own head", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := newJournal(t, nc, natsjournal.WithCheckpointEvery(0))
			appendN(t, j, "a", 1, 3)
			m := storedMsgs(t, nc, j, "a")[2]
			head := c.head
			if head == "" {
				head = events.LinkHash(m.Data, chainKey)
			}
			cp := fmt.Sprintf(`{"v":1,"breaker":"a","seq":3,"state":"open","event":"force_open","since":"2026-12-01T10:00:03Z","open_for":"1m0s","pos":%d,"head":%q}`, m.Sequence, head)
			if _, err := bucketOf(t, nc, j).Put(ctx, j.CheckpointKey("a"), []byte(cp)); err != nil {
				t.Fatal(err)
			}
			// Without the key, a keyed head is not checked.
			if _, err := j.VerifyChain(ctx, "a", events.ChainCheck{}); err != nil && strings.HasPrefix(head, events.LinkHMACSHA256) {
				t.Fatalf("VerifyChain without the key = %v, want a keyed head unchecked", err)
			}
			rep, err := j.VerifyChain(ctx, "a", events.ChainCheck{Key: chainKey})
			if !c.broken {
				if err != nil || rep.Checkpoint != 3 || rep.CheckpointHead != head {
					t.Fatalf("VerifyChain = %+v, %v", rep, err)
				}
				return
			}
			broken(t, "VerifyChain", err, "a", 3, m.Sequence)
			if rep.Broken != 1 || rep.Linked != 2 {
				t.Fatalf("VerifyChain = %+v; want only the checkpoint's head broken", rep)
			}
		})
	}
}

// After a key change, a journal given the old key among its old keys reads
// the records linked under it, links the next ones under the new key, and
// VerifyChain with both keys finds one unbroken chain; without the old
// key it finds the older links broken.
func TestChainKeyChangedWithTheOldKeyKept(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	oldKey, newKey := []byte("the key of last year"), []byte("the key of this year")
	before := newJournal(t, nc, natsjournal.WithChainKey(oldKey))
	appendN(t, before, "a", 1, 3)
	// The same stream and subjects (a breaker's subject is the prefix and
	// the base64url of its name: "YQ" for "a"), under the new key.
	after := newJournal(t, nc, natsjournal.WithStream(before.Stream()), natsjournal.WithSubjectPrefix(strings.TrimSuffix(before.Subject("a"), ".YQ")),
		natsjournal.WithChainKey(newKey, oldKey))
	if _, err := after.Read(ctx, "a", 0); err != nil {
		t.Fatalf("Read under the new key, the old one kept: %v", err)
	}
	appendN(t, after, "a", 4, 5)
	got, err := after.Read(ctx, "a", 0)
	if err != nil || len(got) != 5 {
		t.Fatalf("Read = %d records, %v; want 5", len(got), err)
	}
	rep, err := after.VerifyChain(ctx, "a", events.ChainCheck{Key: newKey, OldKeys: [][]byte{oldKey}, RequireKey: true})
	if err != nil || rep.Broken != 0 || rep.Linked != 4 {
		t.Fatalf("VerifyChain with both keys = %+v, %v; want 4 links, none broken", rep, err)
	}
	if _, err := after.VerifyChain(ctx, "a", events.ChainCheck{Key: newKey, RequireKey: true}); !errors.Is(err, events.ErrBrokenChain) {
		t.Fatalf("VerifyChain without the old key = %v, want ErrBrokenChain", err)
	}
}
