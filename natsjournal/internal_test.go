package natsjournal

import (
	"testing"

	"github.com/circuitry-go/circuitry/events"
)

func TestCaptures(t *testing.T) {
	for _, c := range []struct {
		have, want string
		ok         bool
	}{
		{"circuitry.transitions.>", "circuitry.transitions.>", true},
		{">", "a.b.>", true},
		{"a.>", "a.b.>", true},
		{"a.*.>", "a.b.>", true},
		{"*.b.>", "a.b.>", true},
		{"a.b.>", "a.>", false},
		{"a.b", "a.b.>", false},
		{"a.b.*", "a.b.>", false},
		{"x.>", "a.b.>", false},
		{"a.b.c.>", "a.b.>", false},
	} {
		if got := captures(c.have, c.want); got != c.ok {
			t.Errorf("captures(%q, %q) = %v, want %v", c.have, c.want, got, c.ok)
		}
	}
}

func TestIndex(t *testing.T) {
	h := func(seq, pos uint64) head { return head{seq: seq, pos: pos} }
	var ix index
	if _, ok := ix.at(5); ok {
		t.Fatal("an empty index knows a record")
	}
	for seq := uint64(1); seq <= indexLen+10; seq++ {
		ix.add(h(seq, seq*3))
	}
	if got := len(ix.recs); got != indexLen {
		t.Fatalf("the index holds %d records, want its bound %d", got, indexLen)
	}
	if got := ix.last(); got != h(indexLen+10, (indexLen+10)*3) {
		t.Fatalf("last = %+v", got)
	}
	for _, c := range []struct {
		seq  uint64
		want head
		ok   bool
	}{
		{0, head{}, false},
		{10, head{}, false}, // forgotten
		{11, h(11, 33), true},
		{40, h(40, 120), true},
		{1000, h(indexLen+10, (indexLen+10)*3), true},
	} {
		if got, ok := ix.at(c.seq); got != c.want || ok != c.ok {
			t.Errorf("at(%d) = %+v, %v; want %+v, %v", c.seq, got, ok, c.want, c.ok)
		}
	}
	ix.add(h(20, 10)) // older than the last known: ignored
	if got := ix.last(); got.seq != indexLen+10 {
		t.Fatalf("an older record replaced the last: %+v", got)
	}
	ix.add(h(1, 1000)) // a later position, history restarted
	if len(ix.recs) != 1 || ix.last() != h(1, 1000) {
		t.Fatalf("after a restarted history the index holds %+v", ix.recs)
	}
}

func TestIndexCheckpoint(t *testing.T) {
	h := func(seq, pos uint64) head { return head{seq: seq, pos: pos} }
	var ix index
	ix.checkpoint(h(1000, 5000))
	if got, ok := ix.at(1000); !ok || got != h(1000, 5000) {
		t.Fatalf("at(1000) with only a checkpoint = %+v, %v", got, ok)
	}
	if _, ok := ix.at(999); ok {
		t.Fatal("at(999) found a record before the checkpoint")
	}
	for seq := uint64(1901); seq <= 2000; seq++ {
		ix.add(h(seq, seq*5))
	}
	for _, c := range []struct {
		seq  uint64
		want head
	}{
		{1000, h(1000, 5000)}, // before the records kept: from the checkpoint
		{1500, h(1000, 5000)},
		{1990, h(1990, 9950)},
	} {
		if got, ok := ix.at(c.seq); !ok || got != c.want {
			t.Errorf("at(%d) = %+v, %v; want %+v", c.seq, got, ok, c.want)
		}
	}
	ix.checkpoint(h(900, 4500)) // an older checkpoint does not replace it
	if got, _ := ix.at(1500); got != h(1000, 5000) {
		t.Errorf("after an older checkpoint, at(1500) = %+v", got)
	}
}

func TestIndexFold(t *testing.T) {
	f := func(seq uint64) folded {
		return folded{snap: events.Snapshot{Breaker: "a", Seq: seq}, pos: seq * 2, ok: true}
	}
	var ix index
	ix.learn(f(5))
	ix.learn(f(3)) // older: the later one stays
	if ix.fold != f(5) {
		t.Fatalf("fold = %+v, want seq 5", ix.fold)
	}
	ix.add(head{seq: 5, pos: 10})
	ix.forget() // the records were removed: their fold is still the state
	if len(ix.recs) != 0 || ix.fold != f(5) {
		t.Fatalf("after forget: records %+v, fold %+v; want none and the fold of seq 5", ix.recs, ix.fold)
	}
	ix.add(head{seq: 5, pos: 10})
	ix.add(head{seq: 1, pos: 20}) // a history restarted: the fold is not its
	if ix.fold.ok {
		t.Fatalf("after a restarted history the fold is %+v", ix.fold)
	}
}
