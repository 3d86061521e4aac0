package filejournal_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// A sealed segment verifies on its own, also moved away from its journal,
// and proves it is the one sealed when given the head its checkpoint
// handed over.
func TestVerifySegmentOnItsOwn(t *testing.T) {
	key := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"bare", nil},
		{"keyed", key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			var cps []filejournal.Checkpoint
			opts := []filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { cps = append(cps, c) })}
			if tc.key != nil {
				opts = append(opts, filejournal.WithChainKey(tc.key))
			}
			f := fjOpen(t, path, nil, opts...)
			fjAppend(t, f, history("a", 5)...)
			fjCheckpoint(t, f)
			fjAppend(t, f, history("a", 9)[5:]...)
			fjCheckpoint(t, f)
			vo := filejournal.VerifyOptions{Key: tc.key, RequireKey: tc.key != nil}
			second := cps[1]
			rep, err := filejournal.VerifySegment(second.Path, filejournal.VerifyOptions{Key: vo.Key, RequireKey: vo.RequireKey, Heads: []string{second.Head}})
			if err != nil || rep.Head != second.Head || rep.Index.Segment != 2 || rep.Index.Records != 4 || rep.Linked != 4 || rep.Latest.Seq != 9 {
				t.Fatalf("VerifySegment(%s) = %+v, %v; want segment 2, 4 records linked, head %s", second.Path, rep, err, second.Head)
			}
			// Archived under another name, it still verifies.
			archived := filepath.Join(t.TempDir(), "archive.jsonl")
			b, err := os.ReadFile(second.Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(archived, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := filejournal.VerifySegment(archived, vo); err != nil {
				t.Fatalf("VerifySegment of the archived copy: %v", err)
			}
			// Another segment's head does not prove it.
			if _, err := filejournal.VerifySegment(second.Path, filejournal.VerifyOptions{Key: vo.Key, Heads: []string{cps[0].Head}}); !errors.Is(err, filejournal.ErrHeadNotFound) {
				t.Fatalf("VerifySegment with segment 1's head = %v, want ErrHeadNotFound", err)
			}
			// Named as another segment, it is foreign.
			renamed := path + ".00000007"
			if err := os.WriteFile(renamed, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := filejournal.VerifySegment(renamed, vo); !errors.Is(err, filejournal.ErrForeignSegment) {
				t.Fatalf("VerifySegment of segment 2 named as 7 = %v, want ErrForeignSegment", err)
			}
			os.Remove(renamed)
			// The active segment is not a sealed one.
			if _, err := filejournal.VerifySegment(path, vo); !errors.Is(err, filejournal.ErrCorrupt) {
				t.Fatalf("VerifySegment of the active segment = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestVerifyRequireKeyNeedsAKey(t *testing.T) {
	path := fjPath(t)
	fjOpen(t, path, nil)
	for name, verify := range map[string]func() error{
		"Verify": func() error {
			_, err := filejournal.Verify(path, filejournal.VerifyOptions{RequireKey: true})
			return err
		},
		"VerifySegment": func() error {
			_, err := filejournal.VerifySegment(path, filejournal.VerifyOptions{RequireKey: true})
			return err
		},
	} {
		if err := verify(); !errors.Is(err, events.ErrInvalidOption) {
			t.Errorf("%s with RequireKey and no Key = %v, want ErrInvalidOption", name, err)
		}
	}
}

// A head that is not a link hash (an empty one, as a script passes for a
// variable that is not set) proves nothing: Verify and VerifySegment
// refuse it rather than report it found, or not found.
func TestVerifyRefusesAHeadThatIsNotALinkHash(t *testing.T) {
	path := fjPath(t)
	var cps []filejournal.Checkpoint
	f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { cps = append(cps, c) }))
	fjAppend(t, f, history("a", 5)...)
	fjCheckpoint(t, f)
	for _, head := range []string{"", "sha256:", "SHA256:" + cps[0].Head[len("sha256:"):], cps[0].Head + " "} {
		if _, err := filejournal.VerifySegment(cps[0].Path, filejournal.VerifyOptions{Heads: []string{head}}); !errors.Is(err, events.ErrInvalidOption) {
			t.Errorf("VerifySegment with head %q = %v, want ErrInvalidOption", head, err)
		}
		if _, err := filejournal.Verify(path, filejournal.VerifyOptions{Heads: []string{cps[0].Head, head}}); !errors.Is(err, events.ErrInvalidOption) {
			t.Errorf("Verify with head %q = %v, want ErrInvalidOption", head, err)
		}
	}
	if _, err := filejournal.VerifySegment(cps[0].Path, filejournal.VerifyOptions{Heads: []string{cps[0].Head}}); err != nil {
		t.Fatalf("VerifySegment with its head: %v", err)
	}
}
