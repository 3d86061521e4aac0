package natsjournal_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats.go/jetstream"
)

func TestNewRefusesBadOptions(t *testing.T) {
	nc := connect(t, startServer(t))
	for _, c := range []struct {
		name string
		opt  natsjournal.Option
		want string // in the error
	}{
		{"empty stream", natsjournal.WithStream(""), `natsjournal.WithStream("")`},
		{"stream with a dot", natsjournal.WithStream("a.b"), `natsjournal.WithStream("a.b")`},
		{"stream with a wildcard", natsjournal.WithStream("A*"), `natsjournal.WithStream("A*")`},
		{"huge stream", natsjournal.WithStream(strings.Repeat("S", 256)), "natsjournal.WithStream"},
		{"empty prefix", natsjournal.WithSubjectPrefix(""), `natsjournal.WithSubjectPrefix("")`},
		{"empty token", natsjournal.WithSubjectPrefix("a..b"), `natsjournal.WithSubjectPrefix("a..b")`},
		{"trailing dot", natsjournal.WithSubjectPrefix("a."), `natsjournal.WithSubjectPrefix("a.")`},
		{"wildcard prefix", natsjournal.WithSubjectPrefix("a.>"), `natsjournal.WithSubjectPrefix("a.>")`},
		{"space in prefix", natsjournal.WithSubjectPrefix("a b"), `natsjournal.WithSubjectPrefix("a b")`},
		{"no replicas", natsjournal.WithReplicas(0), "natsjournal.WithReplicas(0)"},
		{"six replicas", natsjournal.WithReplicas(6), "natsjournal.WithReplicas(6)"},
		{"negative checkpoint interval", natsjournal.WithCheckpointEvery(-1), "natsjournal.WithCheckpointEvery(-1)"},
		{"no age", natsjournal.WithMaxAge(0), "natsjournal.WithMaxAge(0s)"},
		{"negative age", natsjournal.WithMaxAge(-time.Second), "natsjournal.WithMaxAge(-1s)"},
		{"no bytes", natsjournal.WithMaxBytes(0), "natsjournal.WithMaxBytes(0)"},
		{"negative bytes", natsjournal.WithMaxBytes(-5), "natsjournal.WithMaxBytes(-5)"},
		{"empty bucket", natsjournal.WithCheckpointBucket(""), `natsjournal.WithCheckpointBucket("")`},
		{"bucket with a dot", natsjournal.WithCheckpointBucket("a.b"), `natsjournal.WithCheckpointBucket("a.b")`},
		{"huge bucket", natsjournal.WithCheckpointBucket(strings.Repeat("B", 253)), "natsjournal.WithCheckpointBucket"},
		{"stream naming no bucket", natsjournal.WithStream("S$1"), `natsjournal.WithStream("S$1"): the checkpoint bucket named after the stream, "S$1_CHECKPOINTS", is not a valid bucket name`},
		{"nil warning handler", natsjournal.WithWarningHandler(nil), "natsjournal.WithWarningHandler(nil)"},
		{"no chain key", natsjournal.WithChainKey(nil), "natsjournal.WithChainKey(a key of 0 bytes)"},
		{"short chain key", natsjournal.WithChainKey([]byte("fifteen bytes..")), "natsjournal.WithChainKey(a key of 15 bytes): a chain key needs at least 16 bytes"},
		{"nil option", nil, "natsjournal.New option(nil)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, err := natsjournal.New(context.Background(), nc, c.opt)
			var oe *events.OptionError
			if j != nil || !errors.As(err, &oe) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "fifteen") {
				t.Fatalf("New = %v, %v; want an *events.OptionError naming %s (and not a key)", j, err, c.want)
			}
		})
	}
}

func TestNewRefusesNilArguments(t *testing.T) {
	nc := connect(t, startServer(t))
	var nilCtx context.Context
	if _, err := natsjournal.New(nilCtx, nc); err == nil || !strings.Contains(err.Error(), "nil context") {
		t.Errorf("New(nil ctx) = %v, want an error naming the nil context", err)
	}
	if _, err := natsjournal.New(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "nil *nats.Conn") {
		t.Errorf("New(nil conn) = %v, want an error naming the nil connection", err)
	}
}

func TestNewWithAnExistingStream(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	js := jsOf(t, nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SVC", Subjects: []string{"svc.>"}}); err != nil {
		t.Fatal(err)
	}
	t.Run("capturing the subjects", func(t *testing.T) {
		j, err := natsjournal.New(ctx, nc, natsjournal.WithStream("SVC"), natsjournal.WithSubjectPrefix("svc.breakers"))
		if err != nil {
			t.Fatalf("New on a stream of svc.>: %v", err)
		}
		defer j.Close()
		if err := j.Append(ctx, record("payments", 1)); err != nil {
			t.Fatal(err)
		}
		if got := j.Subject("payments"); !strings.HasPrefix(got, "svc.breakers.") {
			t.Fatalf("Subject = %s, want it under svc.breakers", got)
		}
	})
	t.Run("not capturing them", func(t *testing.T) {
		j, err := natsjournal.New(ctx, nc, natsjournal.WithStream("SVC"), natsjournal.WithSubjectPrefix("other.breakers"))
		if j != nil || !errors.Is(err, natsjournal.ErrStream) || !strings.Contains(err.Error(), "other.breakers.>") {
			t.Fatalf("New on a stream of svc.> for other.breakers = %v, %v; want ErrStream naming the subjects", j, err)
		}
	})
}

// record is the legal record seq of breaker: a trip, then manual controls
// between open and closed.
func record(breaker string, seq uint64) events.Transition {
	r := events.Transition{Breaker: breaker, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Writer: "test", ID: "id"}
	switch {
	case seq == 1:
		r.Event, r.From, r.To, r.OpenFor = events.Trip, events.Closed, events.Open, time.Minute
	case seq%2 == 0:
		r.Event, r.From, r.To = events.ForceClose, events.Open, events.Closed
	default:
		r.Event, r.From, r.To, r.OpenFor = events.ForceOpen, events.Closed, events.Open, time.Minute
	}
	return r
}

func TestReadRefusesAMessageThatIsNotARecord(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	j := newJournal(t, nc)
	js := jsOf(t, nc)
	if err := j.Append(ctx, record("a", 1)); err != nil {
		t.Fatal(err)
	}
	another, err := record("a", 2).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, breaker string
		data          []byte
	}{
		{"garbage", "b", []byte("not json")},
		{"a record of another breaker", "c", another},
	} {
		t.Run(c.name, func(t *testing.T) {
			ack, err := js.Publish(ctx, j.Subject(c.breaker), c.data)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := j.Read(ctx, c.breaker, 0)
			var me *natsjournal.MessageError
			if recs != nil || !errors.As(err, &me) || !errors.Is(err, natsjournal.ErrBadMessage) || me.Pos != ack.Sequence {
				t.Fatalf("Read = %v, %v; want a *MessageError at %d", recs, err, ack.Sequence)
			}
			if _, err := j.Watch(ctx, ack.Sequence-1); !errors.Is(err, natsjournal.ErrBadMessage) {
				t.Fatalf("Watch = %v, want ErrBadMessage", err)
			}
			if err := j.Append(ctx, record(c.breaker, 1)); err == nil || errors.Is(err, events.ErrRefused) {
				t.Fatalf("Append after a bad message = %v, want a reported error, not a refusal for good", err)
			}
		})
	}
	if _, err := events.Load(ctx, j, "a"); err != nil {
		t.Fatalf("breaker a, whose subject is sound: %v", err)
	}
}

func TestPurgedRecordsAreReportedAsCompacted(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	j := newJournal(t, nc)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := j.Append(ctx, record("a", seq)); err != nil {
			t.Fatal(err)
		}
	}
	s := streamOf(t, nc, j)
	if err := s.Purge(ctx, jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Read(ctx, "a", 0); !errors.Is(err, events.ErrCompacted) {
		t.Errorf("Read(0) after a purge = %v, want ErrCompacted", err)
	}
	if err := j.Append(ctx, record("a", 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Watch(ctx, 1); !errors.Is(err, events.ErrCompacted) {
		t.Errorf("Watch(1) after a purge = %v, want ErrCompacted", err)
	}
	if got, err := j.Read(ctx, "a", 3); err != nil || len(got) != 1 || got[0].Seq != 4 {
		t.Errorf("Read(3) = %v, %v; want the record appended after the purge", got, err)
	}
}

func TestClosedJournal(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	j := newJournal(t, nc)
	waiting := make(chan error, 1)
	go func() {
		_, err := j.Watch(ctx, 0)
		waiting <- err
	}()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, natsjournal.ErrClosed) {
			t.Errorf("a Watch waiting at Close = %v, want ErrClosed", err)
		}
	case <-time.After(20 * time.Second): // a watchdog, not a timing assertion
		t.Fatal("Close did not end a waiting Watch")
	}
	if err := j.Close(); err != nil {
		t.Errorf("a second Close = %v", err)
	}
	if err := j.Append(ctx, record("a", 1)); !errors.Is(err, events.ErrRefused) || !errors.Is(err, natsjournal.ErrClosed) {
		t.Errorf("Append after Close = %v, want a refusal for ErrClosed", err)
	}
	if _, err := j.Read(ctx, "a", 0); !errors.Is(err, natsjournal.ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
	if !nc.IsConnected() {
		t.Error("Close closed the connection it was given")
	}
}

func TestNilContexts(t *testing.T) {
	j := newJournal(t, connect(t, startServer(t)))
	var nilCtx context.Context
	if err := j.Append(nilCtx, record("a", 1)); err == nil {
		t.Error("Append(nil ctx) = nil")
	}
	if _, err := j.Read(nilCtx, "a", 0); err == nil {
		t.Error("Read(nil ctx) = nil error")
	}
	if _, err := j.Watch(nilCtx, 0); err == nil {
		t.Error("Watch(nil ctx) = nil error")
	}
	if _, err := j.Head(nilCtx); err == nil {
		t.Error("Head(nil ctx) = nil error")
	}
}

// A server that goes away does not wedge a breaker: its callers are
// protected in memory, the failed appends are reported, and Close returns.
func TestServerGoneBreakerGoesOn(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	j := newJournal(t, connect(t, s))
	reported := make(chan error, 64)
	b, err := machine.New("payments", machine.WithJournal(j), machine.WithJournalTimeout(time.Second),
		machine.WithErrorHandler(func(err error) {
			select {
			case reported <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	s.WaitForShutdown()
	for range machine.DefaultFailureThreshold {
		_ = b.Do(ctx, failCall)
	}
	if got := b.State(); got != events.Open {
		t.Fatalf("State after the threshold of failures = %s, want open", got)
	}
	if err := b.Do(ctx, failCall); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("a call of the open breaker = %v, want a rejection", err)
	}
	select {
	case err := <-reported:
		var je *machine.JournalError
		if !errors.As(err, &je) {
			t.Fatalf("reported %v, want a *machine.JournalError", err)
		}
	case <-time.After(20 * time.Second): // a watchdog, not a timing assertion
		t.Fatal("the failed append was never reported")
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = b.Close(cctx) // an error is expected (the record is unstored); returning is the point
}

// A long read streams through a consumer of its own, and removes it.
func TestLongReadLeavesNoConsumer(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	w := newJournal(t, nc)
	const n = 100
	for seq := uint64(1); seq <= n; seq++ {
		if err := w.Append(ctx, record("a", seq)); err != nil {
			t.Fatal(err)
		}
	}
	r := sameStream(t, nc, w)
	recs, err := r.Read(ctx, "a", 0)
	if err != nil || len(recs) != n || recs[n-1].Seq != n {
		t.Fatalf("Read(0) of %d records by another journal = %d records, %v", n, len(recs), err)
	}
	s := streamOf(t, nc, w)
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each open journal keeps one consumer, which tells it of new records.
	if info.State.Consumers != 2 {
		t.Fatalf("the stream has %d consumers after the read, want the 2 journals' own", info.State.Consumers)
	}
}

// A journal that remembers an old head of a breaker does not refuse for
// good a record that is illegal only after that old head: another writer
// went on, and the record conflicts.
func TestStaleHeadGivesAConflictNotARefusal(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	a := newJournal(t, nc)
	b := sameStream(t, nc, a)
	if err := a.Append(ctx, record("x", 1)); err != nil { // a trip: x is open
		t.Fatal(err)
	}
	if err := b.Append(ctx, record("x", 2)); err != nil { // b closes it
		t.Fatal(err)
	}
	// a, which still has x open, appends a force_open from closed at seq 2.
	late := record("x", 3)
	late.Seq = 2
	err := a.Append(ctx, late)
	var ce *events.ConflictError
	if !errors.As(err, &ce) || ce.Last != 2 {
		t.Fatalf("Append over a stale head = %v, want a *ConflictError with last seq 2", err)
	}
	late.Seq = 3 // and once it follows the stream, it is stored
	if err := a.Append(ctx, late); err != nil {
		t.Fatalf("Append of seq 3: %v", err)
	}
}

// The server itself refuses an append that another writer overtook: the
// journal publishes expecting the position of the last record it knows,
// and the pinned nats-server checks that expectation against the subject.
func TestServerRefusesAnOvertakenAppend(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	a := newJournal(t, nc)
	b := sameStream(t, nc, a)
	if err := a.Append(ctx, record("x", 1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ctx, record("x", 2)); err != nil {
		t.Fatal(err)
	}
	// a still knows seq 1 as the last: its record 2 is legal after it, so
	// only the server's check can refuse it.
	mine := record("x", 2)
	mine.Writer = "a"
	err := a.Append(ctx, mine)
	var ce *events.ConflictError
	if !errors.As(err, &ce) || ce.Seq != 2 || ce.Last != 2 {
		t.Fatalf("Append of an overtaken seq 2 = %v, want a *ConflictError for seq 2, last 2", err)
	}
	recs, err := b.Read(ctx, "x", 0)
	if err != nil || len(recs) != 2 || recs[1].Writer != "test" {
		t.Fatalf("the stream holds %+v, %v; want b's two records only", recs, err)
	}
}

// A rolling deploy: a replica of a later release writes records with a
// field this one does not know (a later minor format), which this journal
// reads and appends after; a record of a later major format is named, not
// skipped, and the breaker goes on serving calls.
func TestRollingDeployFormats(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	j := newJournal(t, nc)
	js := jsOf(t, nc)
	if err := j.Append(ctx, record("x", 1)); err != nil {
		t.Fatal(err)
	}
	later, err := record("x", 2).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	later = bytes.Replace(later, []byte(`{"v":2,`), []byte(`{"v":2,"lease":"fleet-probe-7",`), 1)
	if _, err := js.Publish(ctx, j.Subject("x"), later, jetstream.WithExpectLastSequencePerSubject(1)); err != nil {
		t.Fatal(err)
	}
	if recs, err := j.Read(ctx, "x", 0); err != nil || len(recs) != 2 || recs[1].Seq != 2 {
		t.Fatalf("Read of a later minor format = %+v, %v; want both records", recs, err)
	}
	if err := j.Append(ctx, record("x", 3)); err != nil {
		t.Fatalf("Append after a later minor format: %v", err)
	}

	// A running breaker of this release meets a record of a later major
	// format: it says so and goes on serving calls.
	b, err := machine.New("y", machine.WithJournal(j), machine.WithErrorHandler(func(error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	major := bytes.Replace(later, []byte(`{"v":2,`), []byte(`{"v":3,`), 1)
	major = bytes.Replace(major, []byte(`"breaker":"x"`), []byte(`"breaker":"y"`), 1)
	major = bytes.Replace(major, []byte(`"seq":2`), []byte(`"seq":1`), 1)
	ack, err := js.Publish(ctx, j.Subject("y"), major)
	if err != nil {
		t.Fatal(err)
	}
	_, err = j.Read(ctx, "y", 0)
	var me *natsjournal.MessageError
	if !errors.As(err, &me) || me.Pos != ack.Sequence || !errors.Is(err, events.ErrDecode) {
		t.Fatalf("Read of a later major format = %v, want a *MessageError at %d matching events.ErrDecode", err, ack.Sequence)
	}
	if err := b.Sync(ctx); !errors.Is(err, natsjournal.ErrBadMessage) {
		t.Fatalf("Sync over the later major format = %v, want ErrBadMessage", err)
	}
	if err := b.Do(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("a call after the breaker met an unreadable record: %v", err)
	}
	// A breaker of this release cannot start from that history, and says
	// which message stops it.
	if _, err := machine.New("y", machine.WithJournal(j)); !errors.As(err, &me) || me.Pos != ack.Sequence {
		t.Fatalf("machine.New over the later major format = %v, want the *MessageError at %d", err, ack.Sequence)
	}
}

// Breakers lists the names as they were given, whatever their characters
// (the subjects escape them), with their record counts.
func TestBreakers(t *testing.T) {
	ctx := context.Background()
	j := newJournal(t, connect(t, startServer(t)))
	if names, _, err := j.Breakers(ctx); err != nil || len(names) != 0 {
		t.Fatalf("Breakers of an empty stream = %q, %v", names, err)
	}
	odd := "payments.eu-west/1 *>ü"
	for _, r := range []events.Transition{record(odd, 1), record("a", 1), record(odd, 2)} {
		if err := j.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	names, counts, err := j.Breakers(ctx)
	if err != nil || len(names) != 2 || names[0] != "a" || names[1] != odd || counts[odd] != 2 || counts["a"] != 1 {
		t.Fatalf("Breakers = %q, %v, %v; want [a %q] with 1 and 2 records", names, counts, err, odd)
	}
	if got, err := j.Read(ctx, odd, 0); err != nil || len(got) != 2 {
		t.Fatalf("Read(%q) = %d records, %v", odd, len(got), err)
	}
}
