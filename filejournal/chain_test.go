package filejournal_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// Every record the journal writes links to its breaker's previous record
// as stored (the first after a checkpoint to the head the checkpoint
// carries, which is that same record's link hash); a breaker's first
// record has no link; each segment's header links to the whole sealed
// segment before it. Checked on the raw files, across seals and reopens.
func TestChainLinksEveryRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"bare", nil},
		{"keyed", []byte("sixteen bytes at least")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			opts := []filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(900), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {})}
			if tc.key != nil {
				opts = append(opts, filejournal.WithChainKey(tc.key))
			}
			f := fjOpen(t, path, nil, opts...)
			a, b, c := history("a", 30), history("b", 12), history("c", 1)
			fjAppend(t, f, fjInterleave(a[:20], b[:6], c)...)
			f.Close()
			f = fjOpen(t, path, nil, opts...) // the links go on from what was stored
			fjAppend(t, f, fjInterleave(a[20:], b[6:])...)
			f.Close()

			last := map[string][]byte{} // each breaker's last record as stored
			prevFile := ""
			records := 0
			for _, file := range append(fjSealed(t, path), path) {
				content := fjRead(t, file)
				for i, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
					var p struct {
						Kind    string `json:"kind"`
						Breaker string `json:"breaker"`
						Prev    string `json:"prev"`
						Head    string `json:"head"`
					}
					if err := json.Unmarshal([]byte(line), &p); err != nil {
						t.Fatal(err)
					}
					switch p.Kind {
					case "segment":
						if i != 0 || p.Prev != prevFile {
							t.Fatalf("%s line %d: header prev %q, want %q, the link hash of the segment before", file, i+1, p.Prev, prevFile)
						}
					case "snapshot":
						if want := events.LinkHash(last[p.Breaker], tc.key); p.Head != want {
							t.Fatalf("%s line %d: checkpoint head %s, want %s", file, i+1, p.Head, want)
						}
					case "":
						var r events.Transition
						if err := r.UnmarshalJSON([]byte(line)); err != nil {
							t.Fatal(err)
						}
						want := ""
						if prev, ok := last[r.Breaker]; ok {
							want = events.LinkHash(prev, tc.key)
						}
						if r.PrevHash != want {
							t.Fatalf("%s line %d: %s #%d prev_hash %q, want %q", file, i+1, r.Breaker, r.Seq, r.PrevHash, want)
						}
						if tc.key != nil && want != "" && !strings.HasPrefix(r.PrevHash, events.LinkHMACSHA256) {
							t.Fatalf("%s line %d: a bare link in a keyed journal", file, i+1)
						}
						last[r.Breaker] = []byte(line)
						records++
					}
				}
				prevFile = events.LinkHash([]byte(content), tc.key)
			}
			if records != 43 {
				t.Fatalf("%d records in the files, want 43", records)
			}
			// Read returns the links as stored.
			recs := fjReadAll(t, f, "a")
			if recs[0].PrevHash != "" || recs[1].PrevHash == "" {
				t.Fatalf("Read: the first record's link %q, the second's %q", recs[0].PrevHash, recs[1].PrevHash)
			}
		})
	}
}

// What Verify says of a keyed journal, by what it is given.
func TestVerifyKeyedJournal(t *testing.T) {
	key := []byte("sixteen bytes at least")
	path := fjPath(t)
	var heads []string
	f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithChainKey(key),
		filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { heads = append(heads, c.Head) }))
	fjAppend(t, f, fjInterleave(history("a", 10), history("b", 4))...)
	fjCheckpoint(t, f)
	fjAppend(t, f, history("a", 12)[10:]...)
	f.Close()

	rep := fjVerify(t, path, filejournal.VerifyOptions{Key: key, RequireKey: true, Heads: heads})
	if rep.Linked != 14 || rep.Unlinked != 2 || rep.Unchecked != 0 || rep.Keyed != 14 || rep.Heads != 1 {
		t.Fatalf("with the key: %+v; want 14 links checked, the 2 first records unlinked", rep)
	}
	rep = fjVerify(t, path, filejournal.VerifyOptions{})
	if rep.Linked != 0 || rep.Unchecked != 14 {
		t.Fatalf("without the key: %+v; want 14 links unchecked", rep)
	}
	_, err := filejournal.Verify(path, filejournal.VerifyOptions{Heads: heads})
	fjFileError(t, err, path, filejournal.ErrHeadNotFound, 0) // a keyed head needs the key

	_, err = filejournal.Verify(path, filejournal.VerifyOptions{Key: []byte("another key, as long")})
	fjFileError(t, err, fjSegment(path, 1), events.ErrBrokenChain, 1) // its header's mac

	// A bare journal where a key is required.
	bare := fjPath(t)
	g := fjOpen(t, bare, nil)
	fjAppend(t, g, history("a", 3)...)
	_, err = filejournal.Verify(bare, filejournal.VerifyOptions{Key: key, RequireKey: true})
	fjFileError(t, err, bare, events.ErrBrokenChain, 1) // its header has no mac
}

// Open checks the links of the active segment: a changed record is
// refused as corrupt (and a broken chain), naming the line after it.
func TestOpenChecksTheActiveSegmentsLinks(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil)
	fjAppend(t, f, history("a", 4)...)
	f.Close()
	fjEditLine(t, path, fjLineOf(t, path, "a", 2), func(s string) string { return strings.Replace(s, `"failures":2}`, `"failures":3}`, 1) })
	_, err := filejournal.Open(path, filejournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
	fe := fjFileError(t, err, path, events.ErrBrokenChain, fjLineOf(t, path, "a", 3))
	if !strings.Contains(fe.Error(), "corrupt") {
		t.Fatalf("%v", fe)
	}
}

// A changed chain key: without the old key, Open refuses an active segment
// linked under it, and accepts one that starts from a checkpoint, and
// Verify with one key finds the other's links broken; with the old key
// kept (WithChainKey's oldKeys, VerifyOptions.OldKeys), both work.
func TestChainKeyChanged(t *testing.T) {
	oldKey, newKey := []byte("the key of last year"), []byte("the key of this year")
	build := func(t *testing.T, seal bool) string {
		path := fjPath(t)
		f := fjOpen(t, path, nil, filejournal.WithChainKey(oldKey), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
		fjAppend(t, f, history("a", 4)...)
		if seal {
			fjCheckpoint(t, f)
		}
		f.Close()
		return path
	}
	t.Run("without a checkpoint", func(t *testing.T) {
		path := build(t, false)
		_, err := filejournal.Open(path, filejournal.WithChainKey(newKey), filejournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
		fjFileError(t, err, path, events.ErrBrokenChain, 3)
	})
	t.Run("after a checkpoint", func(t *testing.T) {
		path := build(t, true)
		f := fjOpen(t, path, nil, filejournal.WithChainKey(newKey))
		fjAppend(t, f, history("a", 6)[4:]...)
		requireSameRecords(t, fjReadAll(t, f, "a"), history("a", 6))
		f.Close()
		_, err := filejournal.Verify(path, filejournal.VerifyOptions{Key: newKey})
		fjFileError(t, err, fjSegment(path, 1), events.ErrBrokenChain, 1) // its header's mac, made with the old key
		_, err = filejournal.Verify(path, filejournal.VerifyOptions{Key: oldKey})
		fjFileError(t, err, path, events.ErrBrokenChain, 4)
		fjVerify(t, path, filejournal.VerifyOptions{}) // keyed links unchecked
	})
	// Given the old key among the old keys, the journal opens where the
	// active segment was linked under it, goes on under the new key, and
	// verifies whole with both, a key required, and the heads of either
	// era found.
	for _, seal := range []bool{false, true} {
		t.Run(fmt.Sprintf("with the old key kept, sealed first %v", seal), func(t *testing.T) {
			path := build(t, seal)
			var heads []string
			f := fjOpen(t, path, nil, filejournal.WithChainKey(newKey, oldKey),
				filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { heads = append(heads, c.Head) }))
			fjAppend(t, f, history("a", 6)[4:]...)
			fjCheckpoint(t, f)
			fjAppend(t, f, history("a", 8)[6:]...)
			requireSameRecords(t, fjReadAll(t, f, "a"), history("a", 8))
			f.Close()
			rep := fjVerify(t, path, filejournal.VerifyOptions{Key: newKey, OldKeys: [][]byte{oldKey}, RequireKey: true, Heads: heads})
			if rep.Linked != 7 || rep.Keyed != 7 || rep.Heads != len(heads) {
				t.Fatalf("Verify = %+v; want 7 keyed links checked and %d heads found", rep, len(heads))
			}
			if _, err := filejournal.Verify(path, filejournal.VerifyOptions{Key: newKey, RequireKey: true}); !errors.Is(err, events.ErrBrokenChain) {
				t.Fatalf("Verify without the old key = %v, want ErrBrokenChain", err)
			}
			if _, err := filejournal.Verify(path, filejournal.VerifyOptions{Key: newKey, OldKeys: [][]byte{[]byte("a key never used here")}, RequireKey: true}); !errors.Is(err, events.ErrBrokenChain) {
				t.Fatalf("Verify with a wrong old key = %v, want ErrBrokenChain", err)
			}
		})
	}
}
