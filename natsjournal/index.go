package natsjournal

import (
	"sort"

	"github.com/circuitry-go/circuitry/events"
)

// head is where a record of a breaker is: its sequence number and state,
// its position in the stream, and its link hash (the [events.LinkHash] of
// the message's data under the journal's key), which the record after it
// carries as its PrevHash; empty when not known.
type head struct {
	seq   uint64
	state events.State
	pos   uint64
	link  string
}

// indexLen bounds how many records of a breaker an index remembers: enough
// for a breaker to read what it missed after a conflict without rescanning
// its subject, little enough for thousands of breakers.
const indexLen = 64

// index remembers where the last records of one breaker are, in sequence
// order, so that an append knows the stream position to expect and a read
// starts near the records asked for.
type index struct {
	recs []head // without their links: only the last one's is kept, in tail
	// tail is the link hash of the last record known: what the next
	// record appended links to.
	tail string
	// base is where the record of the latest checkpoint read is: a read
	// after it starts there even when recs has moved on.
	base head
	// fold is the latest fold of the breaker's records the journal knows:
	// from a checkpoint, or from none, and the records it appended or read
	// after it. A checkpoint of it needs no read of the records.
	fold folded
}

// folded is the fold of a breaker's records up to snap.Seq, where record
// snap.Seq is in the stream, and its link hash: the chain's head, which a
// checkpoint of the fold carries.
type folded struct {
	snap events.Snapshot
	pos  uint64
	link string // "" when not known, or when no record is folded
	ok   bool   // the fold is known
}

// learn remembers f if it is later than the fold known.
func (ix *index) learn(f folded) {
	if !ix.fold.ok || f.snap.Seq > ix.fold.snap.Seq {
		ix.fold = f
	}
}

// add remembers h. A record older than the last one known is ignored; one
// at a later position with a sequence number that is not higher means the
// history was purged and restarted, and replaces what was known.
func (ix *index) add(h head) {
	if n := len(ix.recs); n > 0 {
		last := ix.recs[n-1]
		switch {
		case h.pos <= last.pos:
			return
		case h.seq <= last.seq:
			ix.forget()
			ix.fold = folded{}
		}
	}
	if len(ix.recs) == indexLen {
		ix.recs = append(ix.recs[:0], ix.recs[1:]...)
	}
	ix.tail, h.link = h.link, ""
	ix.recs = append(ix.recs, h)
}

// last returns the latest record known, with its link hash; the index must
// hold one.
func (ix *index) last() head {
	h := ix.recs[len(ix.recs)-1]
	h.link = ix.tail
	return h
}

// at returns the latest record known with a sequence number of at most
// seq, among the last records and the latest checkpoint's, and false when
// none is known (or seq is 0). Its link hash is known when it is the last
// record or the checkpoint's.
func (ix *index) at(seq uint64) (head, bool) {
	var h head
	if i := sort.Search(len(ix.recs), func(i int) bool { return ix.recs[i].seq > seq }); i == len(ix.recs) && i > 0 {
		h = ix.last()
	} else if i > 0 {
		h = ix.recs[i-1]
	}
	if ix.base.pos > 0 && ix.base.seq <= seq && ix.base.seq > h.seq {
		h = ix.base
	}
	return h, h.pos > 0
}

// checkpoint remembers where the record of a checkpoint is.
func (ix *index) checkpoint(h head) {
	if h.seq > ix.base.seq {
		ix.base = h
	}
}

// forget drops every position known: the records are no longer there.
// Their fold stays true.
func (ix *index) forget() {
	ix.recs, ix.base, ix.tail = ix.recs[:0], head{}, ""
}
