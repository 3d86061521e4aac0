package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// A journal that chains its records sets each record's PrevHash to the link
// hash of the record before it in the same breaker's history: a hash of the
// predecessor exactly as the journal stored it (its encoded line, without
// the newline). Changing, removing or inserting a record then breaks the
// link of the record after it. The first record of a breaker has no
// predecessor and no PrevHash; the first record after a checkpoint links to
// the head the checkpoint carries (the link hash of the last record it
// folded).
//
// A link hash is written as its algorithm, a colon and 32 hex digits (the
// first 128 bits of the digest):
//
//	sha256:9f86d081884c7d659a2feaa0c55ad015          SHA-256, anyone can compute it
//	hmac-sha256:2c26b46b68ffc68ff99b453c1d304134     HMAC-SHA-256 with a key the user holds
//
// What each proves: a bare (sha256) chain catches accidents and partial
// edits, but whoever can edit the journal can recompute every hash after the
// record they changed. A keyed chain (hmac-sha256) cannot be recomputed
// without the key. Neither shows that the newest records were dropped, nor
// vouches for the newest record of each breaker (no successor links to it):
// for those, compare the journal's head with one witnessed outside it, in
// logs or traces.
const (
	// LinkSHA256 prefixes a link hash computed with SHA-256.
	LinkSHA256 = "sha256:"
	// LinkHMACSHA256 prefixes a link hash computed with HMAC-SHA-256.
	LinkHMACSHA256 = "hmac-sha256:"
)

// linkDigits is the number of hex digits of a link hash: 128 bits.
const linkDigits = 32

// MinChainKeySize is the fewest bytes a chain key may have.
const MinChainKeySize = 16

// LinkHash returns the link hash of line, the stored form of a record: with
// a nil key, its SHA-256 ("sha256:…"); with a key, its HMAC-SHA-256 under
// key ("hmac-sha256:…"). The record that follows it in its breaker's
// history carries this value as its PrevHash.
func LinkHash(line, key []byte) string {
	var sum [sha256.Size]byte
	prefix := LinkSHA256
	if key == nil {
		sum = sha256.Sum256(line)
	} else {
		m := hmac.New(sha256.New, key)
		m.Write(line)
		m.Sum(sum[:0])
		prefix = LinkHMACSHA256
	}
	var buf [len(LinkHMACSHA256) + linkDigits]byte
	n := copy(buf[:], prefix)
	hex.Encode(buf[n:], sum[:linkDigits/2])
	return string(buf[:n+linkDigits])
}

// CheckChainKey says why key cannot key a chain, or returns nil.
func CheckChainKey(key []byte) error {
	if len(key) < MinChainKeySize {
		return fmt.Errorf("a chain key needs at least %d bytes, got %d", MinChainKeySize, len(key))
	}
	return nil
}

// ErrBrokenChain is matched by the error of a record whose PrevHash does not
// link it to its predecessor: a record before it was changed, removed or
// inserted, or it was itself changed. The error is a [*ChainError].
var ErrBrokenChain = errors.New("broken hash chain")

// ChainError is the detail of an [ErrBrokenChain]: the first record whose
// link does not hold, and why.
type ChainError struct {
	// Breaker and Seq name the record.
	Breaker string
	Seq     uint64
	// Got is the record's PrevHash; Want is the link hash of its
	// predecessor as stored, or the head of the checkpoint before it. Want
	// is empty when the link could not be computed (see Reason).
	Got, Want string
	// Reason says what is wrong, for people.
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("%v: breaker %q seq %d: %s", ErrBrokenChain, e.Breaker, e.Seq, e.Reason)
}

// Is makes errors.Is(err, ErrBrokenChain) true.
func (e *ChainError) Is(target error) bool { return target == ErrBrokenChain }

// Link is how a record's PrevHash links it to its predecessor, as
// [ChainCheck.Link] found it.
type Link uint8

const (
	// Linked: the PrevHash is the predecessor's link hash, checked.
	Linked Link = iota
	// Unlinked: the record has no PrevHash (it was written before its
	// journal chained records, or it is the first of its breaker).
	Unlinked
	// Unchecked: the PrevHash is keyed and no key was given to check it.
	Unchecked
)

// ChainCheck checks the links of a chain. Its zero value checks bare links
// and counts keyed ones as [Unchecked].
type ChainCheck struct {
	// Key checks keyed links (hmac-sha256).
	Key []byte
	// OldKeys check keyed links made before the key was changed: a chain
	// that outlives its keys links some records under each.
	OldKeys [][]byte
	// RequireKey refuses every link that is not keyed with Key or one of
	// OldKeys: a bare or missing link, where a keyed chain is expected, is
	// how a chain recomputed without the key shows.
	RequireKey bool
}

// keys returns Key and OldKeys, the keys a keyed link may be made with.
func (c ChainCheck) keys() [][]byte {
	var out [][]byte
	if c.Key != nil {
		out = append(out, c.Key)
	}
	for _, k := range c.OldKeys {
		if k != nil {
			out = append(out, k)
		}
	}
	return out
}

// Matches reports whether h is the link hash of data: bare, or keyed with
// Key or one of OldKeys. checked is false when h is keyed and no key was
// given to check it; ok is then false too.
func (c ChainCheck) Matches(h string, data []byte) (checked, ok bool) {
	switch {
	case strings.HasPrefix(h, LinkSHA256):
		return true, h == LinkHash(data, nil)
	case strings.HasPrefix(h, LinkHMACSHA256):
		keys := c.keys()
		for _, k := range keys {
			if h == LinkHash(data, k) {
				return true, true
			}
		}
		return len(keys) > 0, false
	}
	return true, false
}

// Link checks that got, the PrevHash of record seq of breaker, is the link
// hash of prev, the stored form of its predecessor. An error is a
// [*ChainError].
func (c ChainCheck) Link(breaker string, seq uint64, prev []byte, got string) (Link, error) {
	return c.link(breaker, seq, got, func(key []byte) string { return LinkHash(prev, key) })
}

// LinkHead checks that got, the PrevHash of record seq of breaker, is head,
// the link hash a checkpoint holds of the record before it. An empty head
// (a checkpoint that predates chaining) checks nothing.
func (c ChainCheck) LinkHead(breaker string, seq uint64, head, got string) (Link, error) {
	if head == "" {
		switch {
		case got == "":
			return Unlinked, c.missing(breaker, seq)
		case c.RequireKey && !strings.HasPrefix(got, LinkHMACSHA256):
			return Unchecked, &ChainError{Breaker: breaker, Seq: seq, Got: got, Reason: fmt.Sprintf("prev_hash %s is not keyed where a keyed chain is required (recomputed without the key?)", got)}
		}
		return Unchecked, nil
	}
	return c.link(breaker, seq, got, func(key []byte) string {
		if strings.HasPrefix(head, LinkHMACSHA256) != (key != nil) {
			return "(a " + linkAlg(head) + " head)"
		}
		return head
	})
}

func (c ChainCheck) missing(breaker string, seq uint64) error {
	if c.RequireKey {
		return &ChainError{Breaker: breaker, Seq: seq, Reason: "the record has no prev_hash where a keyed chain is required"}
	}
	return nil
}

// link checks got against want, the link hash expected under a key (nil:
// bare); a keyed link is checked under Key and each of OldKeys.
func (c ChainCheck) link(breaker string, seq uint64, got string, want func(key []byte) string) (Link, error) {
	fail := func(w, reason string) (Link, error) {
		return Linked, &ChainError{Breaker: breaker, Seq: seq, Got: got, Want: w, Reason: reason}
	}
	switch {
	case got == "":
		return Unlinked, c.missing(breaker, seq)
	case strings.HasPrefix(got, LinkSHA256):
		if c.RequireKey {
			return fail("", fmt.Sprintf("prev_hash %s is not keyed where a keyed chain is required (recomputed without the key?)", got))
		}
		if w := want(nil); got != w {
			return fail(w, fmt.Sprintf("prev_hash %s, but the record before it hashes to %s", got, w))
		}
		return Linked, nil
	case strings.HasPrefix(got, LinkHMACSHA256):
		keys := c.keys()
		if len(keys) == 0 {
			return Unchecked, nil
		}
		for _, k := range keys {
			if got == want(k) {
				return Linked, nil
			}
		}
		w := want(keys[0])
		return fail(w, fmt.Sprintf("prev_hash %s, but the record before it hashes to %s with the key given", got, w))
	}
	return fail("", fmt.Sprintf("prev_hash %q is not a link hash (sha256:… or hmac-sha256:…)", got))
}

// linkAlg names the algorithm of a link hash.
func linkAlg(h string) string {
	alg, _, _ := strings.Cut(h, ":")
	return alg
}

// LinkHasher computes the link hash of data written to it in parts, such as
// a whole file: the same value [LinkHash] gives for all of it at once.
type LinkHasher struct {
	h      hash.Hash
	prefix string
}

// NewLinkHasher returns a LinkHasher, keyed when key is not nil.
func NewLinkHasher(key []byte) *LinkHasher {
	if key == nil {
		return &LinkHasher{h: sha256.New(), prefix: LinkSHA256}
	}
	return &LinkHasher{h: hmac.New(sha256.New, key), prefix: LinkHMACSHA256}
}

// Write adds p to the data hashed. It never fails.
func (l *LinkHasher) Write(p []byte) (int, error) { return l.h.Write(p) }

// Sum returns the link hash of the data written so far.
func (l *LinkHasher) Sum() string {
	sum := l.h.Sum(nil)
	return l.prefix + hex.EncodeToString(sum[:linkDigits/2])
}
