package natsjournal

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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

func TestLinkHashForms(t *testing.T) {
	bare, keyed := events.LinkHash([]byte("r"), nil), events.LinkHash([]byte("r"), []byte("0123456789abcdef"))
	for _, c := range []struct {
		h  string
		ok bool
	}{
		{bare, true},
		{keyed, true},
		{"", false},
		{"sha256:", false},
		{"md5:" + strings.Repeat("0", 32), false},
		{"sha256:" + strings.Repeat("0", 31), false},
		{"sha256:" + strings.Repeat("A", 32), false},
		{"sha256:" + strings.Repeat("0", 33), false},
	} {
		if got := isLinkHash(c.h); got != c.ok {
			t.Errorf("isLinkHash(%q) = %v, want %v", c.h, got, c.ok)
		}
	}
	if !sameAlg(bare, bare) || sameAlg(bare, keyed) || sameAlg(bare, "") || sameAlg("", "") {
		t.Error("sameAlg tells the kinds of link hash apart wrongly")
	}
}

func TestIndexTail(t *testing.T) {
	var ix index
	ix.add(head{seq: 1, pos: 1, link: "L1"})
	ix.add(head{seq: 2, pos: 5, link: "L2"})
	ix.add(head{seq: 1, pos: 3, link: "old"}) // older: ignored
	if got := ix.last(); got.link != "L2" || ix.recs[1].link != "" {
		t.Fatalf("last = %+v, kept %+v; want the link of the last record only, in the tail", got, ix.recs)
	}
	if h, _ := ix.at(2); h.link != "L2" {
		t.Errorf("at(2) = %+v, want the last record with its link", h)
	}
	if h, _ := ix.at(1); h.link != "" {
		t.Errorf("at(1) = %+v, want no link", h)
	}
	ix.checkpoint(head{seq: 2, pos: 5, link: "L2"})
	ix.forget()
	if ix.tail != "" || ix.base.link != "" {
		t.Errorf("after forget: tail %q, base %+v", ix.tail, ix.base)
	}
}

// A link that does not hold across a gap is broken while the record before
// the gap is held, and unchecked once that record is removed too: the
// stream's limits remove the oldest records first, so records missing
// behind a record read are ones removed since, which the read reports.
func TestCheckLinkAcrossAGap(t *testing.T) {
	ctx := context.Background()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not become ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	j, err := New(ctx, nc, WithStream("GAP"), WithSubjectPrefix("gap.cb"), WithCheckpointEvery(0))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for seq, e := range []events.Event{events.Trip, events.ForceClose, events.ForceOpen, events.ForceClose} {
		r := events.Transition{Breaker: "a", Seq: uint64(seq + 1), Event: e, From: events.Closed, To: events.Open, Time: t0, OpenFor: time.Minute}
		if e == events.ForceClose {
			r.From, r.To, r.OpenFor = events.Open, events.Closed, 0
		}
		if err := j.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	m2, err := j.stream.GetMsg(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	m4, err := j.stream.GetMsg(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	var r4 events.Transition
	if err := r4.UnmarshalJSON(m4.Data); err != nil {
		t.Fatal(err)
	}
	p := pred{seq: 2, pos: 2, data: m2.Data}
	if err := j.checkLink(ctx, m4.Subject, 4, r4, p); !errors.Is(err, events.ErrBrokenChain) {
		t.Fatalf("record 4 after record 2, which is held: %v, want a broken link", err)
	}
	if err := j.stream.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := j.checkLink(ctx, m4.Subject, 4, r4, p); err != nil {
		t.Fatalf("record 4 after record 2, removed since: %v, want it unchecked", err)
	}
}
