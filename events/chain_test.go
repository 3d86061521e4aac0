package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
)

func TestLinkHash(t *testing.T) {
	line := []byte(`{"v":2,"breaker":"payments","seq":1}`)
	key := []byte("0123456789abcdef")
	tests := []struct {
		name, got, prefix string
	}{
		{"bare", events.LinkHash(line, nil), events.LinkSHA256},
		{"keyed", events.LinkHash(line, key), events.LinkHMACSHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.HasPrefix(tt.got, tt.prefix) || len(tt.got) != len(tt.prefix)+32 {
				t.Fatalf("LinkHash = %q, want %s and 32 hex digits", tt.got, tt.prefix)
			}
			if strings.Trim(tt.got[len(tt.prefix):], "0123456789abcdef") != "" {
				t.Fatalf("LinkHash = %q: not lower-case hex", tt.got)
			}
		})
	}
	// The known SHA-256 of the line, cut to 128 bits.
	if got, want := events.LinkHash([]byte("abc"), nil), "sha256:ba7816bf8f01cfea414140de5dae2223"; got != want {
		t.Errorf("LinkHash(abc) = %s, want %s", got, want)
	}
	if events.LinkHash(line, key) == events.LinkHash(line, []byte("another key 0123")) {
		t.Error("two keys give the same keyed link")
	}
}

func TestChainCheckLink(t *testing.T) {
	prev := []byte(`{"v":2,"breaker":"payments","seq":1}`)
	key := []byte("0123456789abcdef")
	bare, keyed := events.LinkHash(prev, nil), events.LinkHash(prev, key)
	tests := []struct {
		name    string
		check   events.ChainCheck
		got     string
		want    events.Link
		wantErr string
	}{
		{"bare link holds", events.ChainCheck{}, bare, events.Linked, ""},
		{"keyed link without the key is unchecked", events.ChainCheck{}, keyed, events.Unchecked, ""},
		{"keyed link holds with the key", events.ChainCheck{Key: key}, keyed, events.Linked, ""},
		{"missing link", events.ChainCheck{}, "", events.Unlinked, ""},
		{"missing link where a key is required", events.ChainCheck{Key: key, RequireKey: true}, "", events.Unlinked, "no prev_hash"},
		{"bare link where a key is required", events.ChainCheck{Key: key, RequireKey: true}, bare, events.Linked, "not keyed"},
		{"changed predecessor", events.ChainCheck{}, events.LinkHash([]byte("other"), nil), events.Linked, "hashes to " + bare},
		{"wrong key", events.ChainCheck{Key: []byte("fedcba9876543210")}, keyed, events.Linked, "with the key given"},
		{"not a link hash", events.ChainCheck{}, "md5:abc", events.Linked, "not a link hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link, err := tt.check.Link("payments", 2, prev, tt.got)
			if tt.wantErr == "" {
				if err != nil || link != tt.want {
					t.Fatalf("Link = %v, %v; want %v, nil", link, err, tt.want)
				}
				return
			}
			var ce *events.ChainError
			if !errors.As(err, &ce) || !errors.Is(err, events.ErrBrokenChain) {
				t.Fatalf("Link error = %v, want a *ChainError matching ErrBrokenChain", err)
			}
			if ce.Breaker != "payments" || ce.Seq != 2 || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Link error = %v (breaker %q seq %d), want one about payments seq 2 saying %q", err, ce.Breaker, ce.Seq, tt.wantErr)
			}
		})
	}
}

func TestChainCheckLinkHead(t *testing.T) {
	head := events.LinkHash([]byte("last folded"), nil)
	tests := []struct {
		name, head, got string
		want            events.Link
		broken          bool
	}{
		{"head matches", head, head, events.Linked, false},
		{"head differs", head, events.LinkHash([]byte("x"), nil), events.Linked, true},
		{"checkpoint without a head", "", head, events.Unchecked, false},
		{"neither", "", "", events.Unlinked, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link, err := events.ChainCheck{}.LinkHead("payments", 9, tt.head, tt.got)
			if link != tt.want || errors.Is(err, events.ErrBrokenChain) != tt.broken {
				t.Fatalf("LinkHead = %v, %v; want %v, broken %v", link, err, tt.want, tt.broken)
			}
		})
	}
}

// Under RequireKey, a bare link is refused even where there is no head to
// check it against.
func TestChainCheckLinkHeadRequiresAKeyWithoutAHead(t *testing.T) {
	check := events.ChainCheck{Key: []byte("0123456789abcdef"), RequireKey: true}
	if _, err := check.LinkHead("payments", 9, "", events.LinkHash([]byte("x"), nil)); !errors.Is(err, events.ErrBrokenChain) {
		t.Fatalf("a bare link without a head = %v, want ErrBrokenChain", err)
	}
	if link, err := check.LinkHead("payments", 9, "", events.LinkHash([]byte("x"), check.Key)); link != events.Unchecked || err != nil {
		t.Fatalf("a keyed link without a head = %v, %v; want unchecked", link, err)
	}
}

func TestCheckChainKey(t *testing.T) {
	if err := events.CheckChainKey(make([]byte, 15)); err == nil {
		t.Error("a 15-byte key was accepted")
	}
	if err := events.CheckChainKey(make([]byte, 16)); err != nil {
		t.Errorf("a 16-byte key: %v", err)
	}
}

func TestLinkHasherMatchesLinkHash(t *testing.T) {
	data := []byte(`{"v":2,"breaker":"payments","seq":1}` + "\n" + `{"v":2,"breaker":"payments","seq":2}`)
	for _, key := range [][]byte{nil, []byte("0123456789abcdef")} {
		h := events.NewLinkHasher(key)
		h.Write(data[:10])
		h.Write(data[10:])
		if got, want := h.Sum(), events.LinkHash(data, key); got != want {
			t.Errorf("key %q: LinkHasher = %s, LinkHash = %s", key, got, want)
		}
	}
}

// A chain that outlives its key links older records under the old key: a
// check given the old key too accepts them, and still refuses a third.
func TestChainCheckOldKeys(t *testing.T) {
	prev := []byte(`{"v":2,"breaker":"payments","seq":1}`)
	oldKey, newKey, other := []byte("0123456789abcdef"), []byte("fedcba9876543210"), []byte("another key 0123")
	rotated := events.ChainCheck{Key: newKey, OldKeys: [][]byte{oldKey}, RequireKey: true}
	tests := []struct {
		name   string
		check  events.ChainCheck
		got    string
		broken bool
	}{
		{"a link under the current key", rotated, events.LinkHash(prev, newKey), false},
		{"a link under the old key", rotated, events.LinkHash(prev, oldKey), false},
		{"a link under another key", rotated, events.LinkHash(prev, other), true},
		{"a link under the old key, without it", events.ChainCheck{Key: newKey}, events.LinkHash(prev, oldKey), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link, err := tt.check.Link("payments", 2, prev, tt.got)
			if errors.Is(err, events.ErrBrokenChain) != tt.broken || (!tt.broken && link != events.Linked) {
				t.Fatalf("Link = %v, %v; want broken %v", link, err, tt.broken)
			}
			checked, ok := tt.check.Matches(tt.got, prev)
			if !checked || ok == tt.broken {
				t.Fatalf("Matches = %v, %v; want checked, %v", checked, ok, !tt.broken)
			}
		})
	}
	if checked, ok := (events.ChainCheck{}).Matches(events.LinkHash(prev, oldKey), prev); checked || ok {
		t.Errorf("Matches of a keyed hash without a key = %v, %v; want unchecked", checked, ok)
	}
	if checked, ok := (events.ChainCheck{}).Matches(events.LinkHash(prev, nil), prev); !checked || !ok {
		t.Errorf("Matches of a bare hash = %v, %v; want checked and true", checked, ok)
	}
}
