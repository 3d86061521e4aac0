package natsjournal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/circuitry-go/circuitry/events"
	"github.com/nats-io/nats.go/jetstream"
)

// link returns the link hash of data, a message as stored, under the
// journal's key: what the record after it carries as its PrevHash.
func (j *Journal) link(data []byte) string { return events.LinkHash(data, j.key) }

// pred is what a check knows of the record before another of the same
// breaker: the message itself (data), or only its sequence number and link
// hash, from the journal's index or a checkpoint's head.
type pred struct {
	seq  uint64
	pos  uint64 // its position in the stream; 0 when not known
	data []byte // the message as stored; nil when only link is known
	link string // its link hash under the journal's key; "" when not known
}

// checkLink checks that t, the record at position pos of subject, links to
// p, the record before it, with the journal's [events.ChainCheck]:
//
//   - p read from the stream: t's PrevHash must be p's link hash (bare,
//     or keyed with the journal's key; a keyed link without a key is
//     unchecked). When it is not, and records are missing between p and
//     t, p may have been removed since it was read (by the stream's
//     limits, which remove the oldest records first): then the link is
//     left unchecked, as the records missing are reported as removed.
//   - p known by its link hash only: the link is checked when t follows p
//     and the link hash is of the same kind as t's PrevHash (a journal
//     keyed otherwise wrote one of them: the records read check it).
//   - nothing known of p: a first record (seq 1) has no PrevHash; any
//     other record is unchecked, as its predecessor is gone.
//
// A record without PrevHash (written before its journal chained records)
// is accepted as unlinked. A broken link is returned as a [*MessageError]
// holding the [*events.ChainError].
func (j *Journal) checkLink(ctx context.Context, subject string, pos uint64, t events.Transition, p pred) error {
	var err error
	switch {
	case p.data != nil:
		_, err = j.check.Link(t.Breaker, t.Seq, p.data, t.PrevHash)
		if err != nil && t.Seq > p.seq+1 && p.pos > 0 {
			switch _, gerr := j.stream.GetMsg(ctx, p.pos); {
			case errors.Is(gerr, jetstream.ErrMsgNotFound):
				return nil
			case gerr != nil:
				return fmt.Errorf("circuitry: natsjournal: reading breaker %q from stream %s at %d: %w", t.Breaker, j.name, p.pos, gerr)
			}
		}
	case t.Seq == 1:
		err = firstLinked(t)
	case p.seq+1 == t.Seq && p.link != "" && sameAlg(p.link, t.PrevHash):
		// The link remembered is under the journal's key: a link under
		// one of its old keys is left unchecked here (VerifyChain, which
		// reads the record before, checks it).
		if t.PrevHash != p.link && strings.HasPrefix(t.PrevHash, events.LinkHMACSHA256) && len(j.check.OldKeys) > 0 {
			break
		}
		_, err = j.check.LinkHead(t.Breaker, t.Seq, p.link, t.PrevHash)
	}
	if err != nil {
		return &MessageError{Stream: j.name, Subject: subject, Pos: pos, Err: err}
	}
	return nil
}

// firstLinked returns the error of t, the first record of its breaker,
// when it has a PrevHash: nothing comes before it to link to.
func firstLinked(t events.Transition) error {
	if t.PrevHash == "" {
		return nil
	}
	return &events.ChainError{Breaker: t.Breaker, Seq: t.Seq, Got: t.PrevHash,
		Reason: fmt.Sprintf("prev_hash %s on the first record of the breaker, which nothing comes before (a record inserted?)", t.PrevHash)}
}

// sameAlg reports whether link hashes a and b are of the same algorithm.
func sameAlg(a, b string) bool {
	x, _, okA := strings.Cut(a, ":")
	y, _, okB := strings.Cut(b, ":")
	return okA && okB && x == y
}

// isLinkHash reports whether h is a link hash as [events.LinkHash] writes
// it: its algorithm, a colon and 32 lowercase hex digits.
func isLinkHash(h string) bool {
	digits, ok := strings.CutPrefix(h, events.LinkSHA256)
	if !ok {
		digits, ok = strings.CutPrefix(h, events.LinkHMACSHA256)
	}
	if !ok || len(digits) != 32 {
		return false
	}
	for _, c := range digits {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ChainReport is what [Journal.VerifyChain] found of a breaker's chain.
type ChainReport struct {
	Breaker string
	// Records is how many records the stream holds for the breaker, First
	// and Last the sequence numbers of the oldest and newest (0 when it
	// holds none). Records before First were removed (by the stream's
	// limits or a purge).
	Records     uint64
	First, Last uint64
	// Checkpoint is the sequence number of the breaker's checkpoint (0:
	// none), and CheckpointHead the link hash it holds of that record (""
	// in checkpoints stored before they carried one).
	Checkpoint     uint64
	CheckpointHead string
	// How the records' links were found, one count per record (see
	// [events.Link]): Linked, checked to their predecessor (or, for the
	// first record held when its predecessor was removed, to the
	// checkpoint's head); Unlinked, without PrevHash (the first record of
	// the breaker, and records written before their journal chained them);
	// Unchecked, keyed links checked without the key, and the first
	// record held when its predecessor was removed and the checkpoint does
	// not name it. Broken counts the links that do not hold.
	Linked, Unlinked, Unchecked, Broken uint64
	// FirstBroken is the first link that does not hold, at stream
	// position FirstBrokenPos; nil when all of them hold.
	FirstBroken    *events.ChainError
	FirstBrokenPos uint64
	// Head is the link hash of the newest record under the check's key
	// (bare when it has none): a record that is the newest has no
	// successor to vouch for it, and records dropped from the end leave a
	// chain that holds, so compare Head with a head witnessed outside the
	// stream (logged, or kept by another system). "" when no record is held.
	Head string
}

// VerifyChain reads every record the stream holds for breaker, oldest
// first, and checks that each links to the one before it with check (see
// [events.ChainCheck]): an audit, the [Journal.Read] of a whole history
// with a check of the caller's, such as one that requires the key of a
// keyed chain, going on past a broken link to count them all. It changes
// nothing and stores no checkpoint.
//
// Each record's PrevHash must be the link hash of the record before it in
// the subject. The first record of a breaker (seq 1) has none. A record
// whose sequence number does not follow its predecessor's is a broken link
// too: a record was removed or inserted by hand, as the journal never
// stores one that does not follow. The first record held after older ones
// were removed by the stream's limits links to a record that is gone: it
// is checked against the head of the breaker's checkpoint when the
// checkpoint folds exactly the records before it, and otherwise counted
// as unchecked, not broken (the oldest records removed by hand look the
// same as a limit's work; the checkpoint, which must fold them, says what
// the history was). The checkpoint's head is checked against its record
// when that is still held.
//
// The error is a [*MessageError] holding the first [*events.ChainError]
// (errors.Is(err, [events.ErrBrokenChain])) when a link does not hold, with
// the report complete; a message that is not a record of breaker, or a
// failure to read the stream or the checkpoint, ends the audit with that
// error and the report so far.
func (j *Journal) VerifyChain(ctx context.Context, breaker string, check events.ChainCheck) (ChainReport, error) {
	rep := ChainReport{Breaker: breaker}
	if ctx == nil {
		return rep, errors.New("circuitry: natsjournal VerifyChain: nil context")
	}
	if j.isClosed() {
		return rep, fmt.Errorf("circuitry: natsjournal VerifyChain of breaker %q: %w", breaker, ErrClosed)
	}
	cp, err := j.storedCheckpoint(ctx, breaker)
	if err != nil {
		return rep, err
	}
	if cp.rev != 0 {
		rep.Checkpoint, rep.CheckpointHead = cp.snap.Seq, cp.head
	}
	subject := j.Subject(breaker)
	var prev pred
	var brokenErr error
	broken := func(pos uint64, err error) {
		var ce *events.ChainError
		if !errors.As(err, &ce) {
			ce = &events.ChainError{Breaker: breaker, Reason: err.Error()}
		}
		rep.Broken++
		if rep.FirstBroken == nil {
			rep.FirstBroken, rep.FirstBrokenPos = ce, pos
			brokenErr = &MessageError{Stream: j.name, Subject: subject, Pos: pos, Err: ce}
		}
	}
	err = j.consume(ctx, breaker, subject, 1, func(subject string, pos uint64, data []byte) error {
		t, err := j.decode(subject, pos, data, breaker)
		if err != nil {
			return err
		}
		rep.Records++
		if rep.First == 0 {
			rep.First = t.Seq
		}
		rep.Last = t.Seq
		var l events.Link
		switch {
		case prev.data != nil:
			l, err = check.Link(breaker, t.Seq, prev.data, t.PrevHash)
			if err == nil && t.Seq != prev.seq+1 {
				err = &events.ChainError{Breaker: breaker, Seq: t.Seq, Got: t.PrevHash,
					Reason: fmt.Sprintf("record seq %d follows record seq %d in the stream (a record removed or inserted by hand)", t.Seq, prev.seq)}
			}
		case t.Seq == 1:
			l, err = events.Unlinked, firstLinked(t)
		default:
			// The records before it were removed: its link is checked
			// against the checkpoint's head if the checkpoint folds exactly
			// those records; an empty head checks nothing.
			head := ""
			if cp.rev != 0 && cp.snap.Seq == t.Seq-1 {
				head = cp.head
			}
			l, err = check.LinkHead(breaker, t.Seq, head, t.PrevHash)
			if err == nil && check.RequireKey && t.PrevHash != "" && !strings.HasPrefix(t.PrevHash, events.LinkHMACSHA256) {
				err = &events.ChainError{Breaker: breaker, Seq: t.Seq, Got: t.PrevHash,
					Reason: fmt.Sprintf("prev_hash %s is not keyed where a keyed chain is required (recomputed without the key?)", t.PrevHash)}
			}
		}
		switch {
		case err != nil:
			broken(pos, err)
		case l == events.Linked:
			rep.Linked++
		case l == events.Unlinked:
			rep.Unlinked++
		default:
			rep.Unchecked++
		}
		if cp.rev != 0 && pos == cp.pos && cp.head != "" {
			if err := checkHead(check, cp, t, data); err != nil {
				broken(pos, err)
			}
		}
		prev = pred{seq: t.Seq, pos: pos, data: data}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if prev.data != nil {
		rep.Head = events.LinkHash(prev.data, check.Key)
	}
	return rep, brokenErr
}

// checkHead checks that cp's head is the link hash of data, record t of the
// stream at the checkpoint's position, when check can compute it.
func checkHead(check events.ChainCheck, cp stored, t events.Transition, data []byte) error {
	checked, ok := check.Matches(cp.head, data)
	if !checked {
		return nil // a keyed head, and no key to check it
	}
	if !ok || t.Seq != cp.snap.Seq {
		key := check.Key
		if !strings.HasPrefix(cp.head, events.LinkHMACSHA256) {
			key = nil
		}
		want := events.LinkHash(data, key)
		return &events.ChainError{Breaker: t.Breaker, Seq: t.Seq, Got: cp.head, Want: want,
			Reason: fmt.Sprintf("the checkpoint of seq %d holds head %s, but the record at its position hashes to %s", cp.snap.Seq, cp.head, want)}
	}
	return nil
}
