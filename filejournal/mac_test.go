package filejournal_test

import (
	"os"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// Headers and retention records are linked to by no record. In a keyed
// journal each carries a mac, so that one forged or changed without the key
// (a retention record that pretends the deleted oldest segments were
// removed by retention, say) fails Verify with the key. A bare journal
// cannot tell: the forgery passes, as the docs say.
func TestForgedRetentionAndHeaders(t *testing.T) {
	t.Run("keyed journal, a forged retention record alone is named", func(t *testing.T) {
		key := []byte("0123456789abcdef")
		path := fjPath(t)
		f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithChainKey(key),
			filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
		fjAppend(t, f, history("a", 2)...)
		fjCheckpoint(t, f)
		fjAppend(t, f, history("a", 3)[2])
		f.Close()
		// The active segment: its header, a's checkpoint, a #3, then this.
		fjWrite(t, path, fjRead(t, path)+`{"v":3,"kind":"retention","removed_through":1,"time":"2026-12-02T10:00:00Z"}`+"\n")
		_, err := filejournal.Verify(path, filejournal.VerifyOptions{Key: key, RequireKey: true})
		fjFileError(t, err, path, events.ErrBrokenChain, 4)
	})
	key := []byte("0123456789abcdef")
	forgedRetention := `{"v":3,"kind":"retention","removed_through":2,"time":"2026-12-02T10:00:00Z"}` + "\n"
	build := func(t *testing.T, key []byte) string {
		path := fjPath(t)
		opts := []filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {})}
		if key != nil {
			opts = append(opts, filejournal.WithChainKey(key))
		}
		f := fjOpen(t, path, nil, opts...)
		h := history("a", 6)
		for i := 0; i < len(h); i += 2 {
			fjAppend(t, f, h[i:i+2]...)
			fjCheckpoint(t, f)
		}
		f.Close()
		return path
	}
	// The attacks: delete the two oldest sealed segments and add a
	// retention record that says retention removed them; or say so in the
	// active segment's header.
	dropWithRetention := func(t *testing.T, path string) {
		os.Remove(fjSegment(path, 1))
		os.Remove(fjSegment(path, 2))
		fjWrite(t, path, fjRead(t, path)+forgedRetention)
	}
	dropWithHeader := func(t *testing.T, path string) {
		os.Remove(fjSegment(path, 1))
		os.Remove(fjSegment(path, 2))
		content := fjRead(t, path)
		fjWrite(t, path, strings.Replace(content, `"segment":4,`, `"segment":4,"removed_through":2,`, 1))
	}
	for _, tc := range []struct {
		name   string
		key    []byte
		attack func(*testing.T, string)
		caught bool // false: a bare chain cannot tell, and Verify passes
	}{
		{"bare journal, forged retention record: passes", nil, dropWithRetention, false},
		{"keyed journal, forged retention record", key, dropWithRetention, true},
		{"bare journal, forged header: passes", nil, dropWithHeader, false},
		{"keyed journal, forged header", key, dropWithHeader, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := build(t, tc.key)
			opts := filejournal.VerifyOptions{Key: tc.key, RequireKey: tc.key != nil}
			fjVerify(t, path, opts) // untouched, it passes
			tc.attack(t, path)
			_, err := filejournal.Verify(path, opts)
			if !tc.caught {
				if err != nil {
					t.Fatalf("Verify of a bare journal after the forgery = %v; a bare chain cannot tell, and passes", err)
				}
				return
			}
			// The forged line's mac does not hold, so no retention removed
			// the segments: the oldest problem is that they are missing.
			fjFileError(t, err, fjSegment(path, 1), filejournal.ErrMissingSegment, 0)
		})
	}
}

// Retention by size removes only what is a sealed segment of the journal:
// a file that merely carries a sealed segment's name is kept, with a
// warning, and so is everything after it.
func TestRetentionBySizeKeepsAFileThatIsNotASegment(t *testing.T) {
	path := fjPath(t)
	w := &fjWarnings{}
	f := fjOpen(t, path, w, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}),
		filejournal.WithRetentionHandler(func(filejournal.Removal) {}))
	fjAppend(t, f, history("a", 2)...)
	fjCheckpoint(t, f)
	f.Close()
	fjWrite(t, fjSegment(path, 1), "not a segment, but named as one\n")
	g := fjOpen(t, path, w, filejournal.WithMaxBytes(1), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}),
		filejournal.WithRetentionHandler(func(filejournal.Removal) { t.Error("a removal was reported") }))
	if got := fjRead(t, fjSegment(path, 1)); got != "not a segment, but named as one\n" {
		t.Fatalf("the file named as segment 1 was changed or removed: %q", got)
	}
	if st := g.Stats(); st.RemovedThrough != 0 {
		t.Fatalf("Stats = %+v, want nothing removed", st)
	}
	var warned bool
	for _, err := range w.all() {
		warned = warned || strings.Contains(err.Error(), "keeping "+fjSegment(path, 1))
	}
	if !warned {
		t.Fatalf("warnings %v, want one that keeps %s", w.all(), fjSegment(path, 1))
	}
}

// A keyed head given without the key is said to need it.
func TestVerifyAKeyedHeadWithoutTheKey(t *testing.T) {
	path := fjPath(t)
	var heads []string
	f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithChainKey([]byte("0123456789abcdef")),
		filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { heads = append(heads, c.Head) }))
	fjAppend(t, f, history("a", 2)...)
	fjCheckpoint(t, f)
	_, err := filejournal.Verify(path, filejournal.VerifyOptions{Heads: heads})
	fjFileError(t, err, path, filejournal.ErrHeadNotFound, 0)
	if !strings.Contains(err.Error(), "it is keyed: give the journal's key to find it") {
		t.Fatalf("error %v does not say the head needs the key", err)
	}
}
