package natsjournal

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors of a [Journal]; match them with [errors.Is].
var (
	// ErrClosed: an append to, or a read or watch of, a closed journal.
	ErrClosed = errors.New("circuitry: NATS journal is closed")
	// ErrBadMessage: a message of the journal's subjects that is not a
	// record of the breaker its subject names, or that does not link to
	// the record before it (then the error matches [events.ErrBrokenChain]
	// too, and holds an [*events.ChainError]), or an entry of the
	// checkpoint bucket that is not a checkpoint the breaker can start
	// from. Read, Watch and Snapshot report it as a [*MessageError] and
	// return nothing rather than skip it.
	ErrBadMessage = errors.New("circuitry: NATS journal message is not a record")
	// ErrStream: the stream exists but does not capture the journal's
	// subjects.
	ErrStream = errors.New("circuitry: NATS stream cannot hold the journal")
)

// MessageError is the detail of an [ErrBadMessage]: the message and why.
// For a checkpoint, Stream is the bucket's stream ("KV_" + the bucket's
// name), Subject the key's subject, and Pos the entry's revision.
type MessageError struct {
	Stream  string
	Subject string
	// Pos is the message's sequence number in the stream.
	Pos uint64
	Err error
}

func (e *MessageError) Error() string {
	if errors.Is(e.Err, events.ErrBrokenChain) {
		return fmt.Sprintf("circuitry: NATS stream %s message %d on %s does not link to the record before it: %v", e.Stream, e.Pos, e.Subject, e.Err)
	}
	return fmt.Sprintf("circuitry: NATS stream %s message %d on %s is not a record: %v", e.Stream, e.Pos, e.Subject, e.Err)
}

// Unwrap returns the reason.
func (e *MessageError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadMessage) true.
func (e *MessageError) Is(target error) bool { return target == ErrBadMessage }

// watchBatch bounds how many records one Watch returns; watchPoll is how
// often a waiting Watch looks at the stream when it has heard of no new
// message (a notification lost to a reconnect only delays it).
const (
	watchBatch = 256
	watchPoll  = time.Second
)

// Journal is an [events.Journal] and [events.Watcher] on a JetStream
// stream. It is safe for concurrent use; many Journals, in many processes,
// may share a stream and a prefix, and so their breakers' histories.
type Journal struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	name   string
	prefix string
	feed   jetstream.ConsumeContext // tells of every message stored, once stored

	kv      jetstream.KeyValue // the checkpoints
	bucket  string
	limited bool        // the stream has a limit: a checkpoint after every record
	every   int         // WithCheckpointEvery; 0: off
	warn    func(error) // WithWarningHandler
	bg      sync.WaitGroup

	key   []byte            // WithChainKey; nil: bare sha256 links
	check events.ChainCheck // how the records read back are checked: ChainCheck{Key: key}

	mu            sync.Mutex
	closed        bool
	closing       bool                // Close was called: no checkpoint is asked for
	closeBy       time.Time           // when Close was called, plus closeWait
	checkpointing bool                // a goroutine makes the checkpoints due
	due           map[string]struct{} // breakers whose checkpoint is due
	changed       chan struct{}       // closed when a message arrives; nil when nobody waits
	seen          map[string]*index   // where the last records this journal saw of each breaker are
}

// New returns a journal on nc's JetStream, in the stream that [WithStream]
// names, created when missing (with no limits unless [WithMaxAge] or
// [WithMaxBytes] sets them), and with the key-value bucket of checkpoints
// that [WithCheckpointBucket] names, created when missing. The journal
// consumes its subjects' new messages on nc to hear of new records; Close
// ends that, and does not close nc. The options and their defaults are
// listed at [DefaultStream].
func New(ctx context.Context, nc *nats.Conn, opts ...Option) (*Journal, error) {
	if ctx == nil {
		return nil, errors.New("circuitry: natsjournal.New: nil context")
	}
	if nc == nil {
		return nil, errors.New("circuitry: natsjournal.New: nil *nats.Conn")
	}
	c := defaults()
	for _, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: "natsjournal.New option", Value: "nil", Reason: "options must not be nil"}
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	bucket, err := c.checkpointBucket()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("circuitry: natsjournal.New: %w", err)
	}
	stream, err := ensureStream(ctx, js, c)
	if err != nil {
		return nil, err
	}
	sc := stream.CachedInfo().Config
	kv, err := ensureBucket(ctx, js, bucket, sc)
	if err != nil {
		return nil, err
	}
	j := &Journal{js: js, kv: kv, bucket: bucket, limited: limited(sc), every: c.every, warn: c.warn,
		key: c.key, check: events.ChainCheck{Key: c.key, OldKeys: c.oldKeys}, stream: stream, name: c.stream, prefix: c.prefix, seen: map[string]*index{}, due: map[string]struct{}{}}
	// An ordered consumer of new messages, headers only, wakes waiting
	// Watch calls: unlike a plain subscription to the subjects, it tells of
	// a message once the stream has stored it, so the Watch it wakes finds
	// it.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.prefix + ".*"}, // the breakers' subjects, whatever else the stream holds
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		HeadersOnly:    true,
	})
	if err != nil {
		return nil, fmt.Errorf("circuitry: natsjournal.New: a consumer of %s.>: %w", c.prefix, err)
	}
	if j.feed, err = cons.Consume(func(jetstream.Msg) { j.notify() }); err != nil {
		return nil, fmt.Errorf("circuitry: natsjournal.New: consuming %s.>: %w", c.prefix, err)
	}
	return j, nil
}

// ensureStream returns the configured stream, creating it when missing.
func ensureStream(ctx context.Context, js jetstream.JetStream, c config) (jetstream.Stream, error) {
	subject := c.prefix + ".>"
	for attempt := 0; ; attempt++ {
		s, err := js.Stream(ctx, c.stream)
		if err == nil {
			for _, have := range s.CachedInfo().Config.Subjects {
				if captures(have, subject) {
					return s, nil
				}
			}
			return nil, fmt.Errorf("%w: stream %s has subjects %q, none capturing %s", ErrStream, c.stream, s.CachedInfo().Config.Subjects, subject)
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("circuitry: natsjournal.New: looking up stream %s: %w", c.stream, err)
		}
		sc := jetstream.StreamConfig{
			Name:        c.stream,
			Description: "circuitry breaker transitions",
			Subjects:    []string{subject},
			Storage:     c.storage,
			Replicas:    c.replicas,
			AllowDirect: true,
			MaxAge:      c.maxAge,
			Discard:     jetstream.DiscardOld, // a limit removes the oldest records, never refuses an append
		}
		if c.maxBytes > 0 {
			sc.MaxBytes = c.maxBytes
		}
		s, err = js.CreateStream(ctx, sc)
		if err == nil {
			return s, nil
		}
		// Another process created it meanwhile: look again, once.
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || attempt > 0 {
			return nil, fmt.Errorf("circuitry: natsjournal.New: creating stream %s: %w", c.stream, err)
		}
	}
}

// limited reports whether a stream with configuration sc removes records
// by itself: by age, size or count.
func limited(sc jetstream.StreamConfig) bool {
	return sc.MaxAge > 0 || sc.MaxBytes > 0 || sc.MaxMsgs > 0 || sc.MaxMsgsPerSubject > 0
}

// ensureBucket returns the key-value bucket of checkpoints, creating it
// when missing: one value per key (the latest checkpoint), no age limit,
// stored like the records' stream.
func ensureBucket(ctx context.Context, js jetstream.JetStream, name string, sc jetstream.StreamConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("circuitry: natsjournal.New: looking up checkpoint bucket %s: %w", name, err)
	}
	// Processes creating it at once create the same bucket.
	kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "circuitry breaker checkpoints of stream " + sc.Name,
		History:     1,
		Storage:     sc.Storage,
		Replicas:    max(sc.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("circuitry: natsjournal.New: creating checkpoint bucket %s: %w", name, err)
	}
	return kv, nil
}

// captures reports whether the stream subject pattern have matches every
// subject that pattern want (ending in ".>") matches.
func captures(have, want string) bool {
	if have == want || have == ">" {
		return true
	}
	ht, wt := strings.Split(have, "."), strings.Split(want, ".")
	for i, h := range ht {
		if h == ">" {
			return i < len(wt)
		}
		if i >= len(wt) || wt[i] == ">" || (h != "*" && h != wt[i]) {
			return false
		}
	}
	return false
}

// Subject returns the subject of breaker's records.
func (j *Journal) Subject(breaker string) string {
	return j.prefix + "." + base64.RawURLEncoding.EncodeToString([]byte(breaker))
}

// Stream returns the name of the journal's stream.
func (j *Journal) Stream() string { return j.name }

func (j *Journal) notify() {
	j.mu.Lock()
	if j.changed != nil {
		close(j.changed)
		j.changed = nil
	}
	j.mu.Unlock()
}

// Close waits for the background checkpoints, stops the journal's
// consumer, ends waiting Watch calls and makes every later call fail with
// [ErrClosed]. It does not close the connection. The checkpoint under way
// finishes; a journal whose stream has a limit also makes those due, for
// up to 5 seconds, as they hold the state of records the limit will
// remove, and an unlimited one starts no other.
// Closing twice is harmless.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closing {
		j.mu.Unlock()
		return nil
	}
	j.closing = true // no checkpoint is asked for from now on
	j.closeBy = time.Now().Add(closeWait)
	j.mu.Unlock()
	j.bg.Wait() // the checkpoints finish, with the journal open
	j.mu.Lock()
	j.closed = true
	if j.changed != nil {
		close(j.changed)
		j.changed = nil
	}
	j.mu.Unlock()
	j.feed.Stop()
	select {
	case <-j.feed.Closed():
		return nil
	case <-time.After(closeWait):
		return fmt.Errorf("circuitry: closing NATS journal: its consumer did not stop in %s", closeWait)
	}
}

// closeWait bounds how long Close waits for the journal's consumer to stop,
// and for the checkpoints due in a journal whose stream has a limit.
const closeWait = 5 * time.Second

func (j *Journal) isClosed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.closed
}

// Append publishes t to its breaker's subject if the last record stored
// there has sequence number t.Seq-1, with JetStream checking that no
// other message was stored on the subject meanwhile. Otherwise it returns a
// [*events.ConflictError]. It sets the record's PrevHash, over whatever t
// holds, to the link hash of the breaker's last record as stored (or to
// the head of the checkpoint it follows when the records were removed, and
// to nothing for the first record of a breaker): see the package
// documentation. A record that cannot follow the breaker's history, a name
// that fails [events.CheckName], a record larger than the stream takes,
// and any append after Close or once the connection is closed return an
// [*events.RefusedError].
func (j *Journal) Append(ctx context.Context, t events.Transition) error {
	if ctx == nil {
		return errors.New("circuitry: natsjournal Append: nil context")
	}
	refuse := func(err error) error { return &events.RefusedError{Breaker: t.Breaker, Seq: t.Seq, Err: err} }
	if err := events.CheckName(t.Breaker); err != nil {
		return refuse(fmt.Errorf("natsjournal Append: %w: %w", events.ErrInvalidRecord, err))
	}
	if j.isClosed() {
		return refuse(ErrClosed)
	}
	// The journal remembers where the breaker's last record is, and
	// publishes expecting it there; JetStream refuses the record if another
	// writer went on meanwhile. When the record does not follow what the
	// journal remembers, it looks at the stream before it answers.
	h, fresh := j.head(t.Breaker)
	fresh = !fresh
	for {
		if fresh {
			var err error
			if h, err = j.last(ctx, t.Breaker); err != nil {
				return err
			}
		}
		if t.Seq != h.seq+1 {
			if !fresh {
				fresh = true
				continue
			}
			return &events.ConflictError{Breaker: t.Breaker, Seq: t.Seq, Last: h.seq}
		}
		if _, err := (events.Snapshot{Breaker: t.Breaker, Seq: h.seq, State: h.state}).Apply(t); err != nil {
			if !fresh {
				fresh = true
				continue
			}
			return refuse(fmt.Errorf("natsjournal Append %v: %w", t, err))
		}
		break
	}
	var data []byte
	for retried := false; ; retried = true {
		if data == nil || t.PrevHash != h.link {
			// The record links to the one it follows, as stored. The
			// publish expects that one to be the subject's last message,
			// so a record stored links to its predecessor in the stream.
			t.PrevHash = h.link
			var err error
			if data, err = t.MarshalJSON(); err != nil {
				return refuse(fmt.Errorf("natsjournal Append: encoding: %w", err))
			}
		}
		ack, err := j.js.Publish(ctx, j.Subject(t.Breaker), data, jetstream.WithExpectLastSequencePerSubject(h.pos))
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
			link := j.link(data)
			j.saw(t.Breaker, head{seq: t.Seq, state: t.To, pos: ack.Sequence, link: link})
			j.foldIn(t.Breaker, []events.Transition{t}, ack.Sequence, link)
			j.checkpointAfter(t.Breaker, t.Seq)
			return nil
		case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
			now, err := j.last(ctx, t.Breaker)
			if err != nil {
				return &events.ConflictError{Breaker: t.Breaker, Seq: t.Seq, Last: h.seq + 1} // at least one record was stored meanwhile
			}
			if !retried && now.seq == h.seq && now.state == h.state && now.pos != h.pos {
				// Not overtaken: the record the journal expected was
				// removed (by the stream's limits or a purge), and the
				// history still ends where it did.
				h = now
				continue
			}
			return &events.ConflictError{Breaker: t.Breaker, Seq: t.Seq, Last: now.seq}
		case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
			return refuse(fmt.Errorf("natsjournal Append: %d bytes: %w", len(data), err))
		case errors.Is(err, nats.ErrConnectionClosed):
			return refuse(fmt.Errorf("natsjournal Append: %w", err))
		}
		return fmt.Errorf("circuitry: natsjournal Append of breaker %q seq %d to stream %s: %w", t.Breaker, t.Seq, j.name, err)
	}
}

// head returns the last record of breaker that the journal saw.
func (j *Journal) head(breaker string) (head, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if ix := j.seen[breaker]; ix != nil && len(ix.recs) > 0 {
		return ix.last(), true
	}
	return head{}, false
}

// from returns the latest record of breaker that the journal saw with a
// sequence number of at most after.
func (j *Journal) from(breaker string, after uint64) (head, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if ix := j.seen[breaker]; ix != nil {
		return ix.at(after)
	}
	return head{}, false
}

// withIndex runs f on breaker's index under the journal's lock, making the
// index first when create is set; otherwise f runs only if the journal
// already tracks breaker.
func (j *Journal) withIndex(breaker string, create bool, f func(*index)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ix := j.seen[breaker]
	if ix == nil {
		if !create {
			return
		}
		ix = new(index)
		j.seen[breaker] = ix
	}
	f(ix)
}

// saw records where a record of breaker is.
func (j *Journal) saw(breaker string, h head) {
	j.withIndex(breaker, true, func(ix *index) { ix.add(h) })
}

// sawAgain records where a record of breaker is if the journal already
// tracks breaker: a watch sees every breaker of the stream, and the journal
// keeps positions only of those its process appends to or reads.
func (j *Journal) sawAgain(breaker string, h head) {
	j.withIndex(breaker, false, func(ix *index) { ix.add(h) })
}

// sawCheckpoint records where the record of a checkpoint of breaker is.
func (j *Journal) sawCheckpoint(breaker string, h head) {
	j.withIndex(breaker, true, func(ix *index) { ix.checkpoint(h) })
}

// forget drops what the journal knows of where breaker's records are: they
// were removed from the stream.
func (j *Journal) forget(breaker string) {
	j.withIndex(breaker, false, func(ix *index) { ix.forget() })
}

// learnFold remembers f as the fold of breaker's records if it is later
// than the one the journal knows.
func (j *Journal) learnFold(breaker string, f folded) {
	j.withIndex(breaker, true, func(ix *index) { ix.learn(f) })
}

// knownFold returns the latest fold of breaker's records the journal knows.
func (j *Journal) knownFold(breaker string) folded {
	j.mu.Lock()
	defer j.mu.Unlock()
	if ix := j.seen[breaker]; ix != nil {
		return ix.fold
	}
	return folded{}
}

// foldIn folds recs, the records of breaker up to the one at position pos
// whose link hash is link, into the fold the journal knows, when they
// follow it.
func (j *Journal) foldIn(breaker string, recs []events.Transition, pos uint64, link string) {
	f := j.knownFold(breaker)
	if !f.ok || len(recs) == 0 || recs[len(recs)-1].Seq <= f.snap.Seq {
		return
	}
	for _, t := range recs {
		if t.Seq <= f.snap.Seq {
			continue
		}
		next, err := f.snap.Apply(t)
		if err != nil {
			return // does not follow: the fold stays where it was
		}
		f.snap = next
	}
	f.pos, f.link = pos, link
	j.learnFold(breaker, f)
}

// last returns where breaker's history ends: its last record, or, when the
// stream holds none, its checkpoint (the records were removed by the
// stream's limits or a purge), at position 0 so that an append expects the
// subject to be empty. A breaker with neither is at seq 0.
func (j *Journal) last(ctx context.Context, breaker string) (head, error) {
	h, ok, err := j.lastRecord(ctx, breaker)
	if err != nil || ok {
		return h, err
	}
	c, err := j.storedCheckpoint(ctx, breaker)
	if err != nil {
		return head{}, err
	}
	// With no record left, the checkpoint (or, with none, the initial
	// state) is the whole history, and the next record links to its head.
	j.learnFold(breaker, folded{snap: c.snap, pos: c.pos, link: c.head, ok: true})
	return head{seq: c.snap.Seq, state: c.snap.State, link: c.head}, nil
}

// lastRecord reads breaker's last record from the stream, and false when
// its subject holds no message.
func (j *Journal) lastRecord(ctx context.Context, breaker string) (head, bool, error) {
	m, err := j.stream.GetLastMsgForSubject(ctx, j.Subject(breaker))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return head{}, false, nil
	}
	if err != nil {
		return head{}, false, fmt.Errorf("circuitry: natsjournal: reading the last record of breaker %q from stream %s: %w", breaker, j.name, err)
	}
	t, err := j.decode(m.Subject, m.Sequence, m.Data, breaker)
	if err != nil {
		return head{}, false, err
	}
	// Another writer's record, after the last one the journal knows: it
	// must link to that one.
	if known, ok := j.head(breaker); ok && known.pos < m.Sequence {
		if err := j.checkLink(ctx, m.Subject, m.Sequence, t, pred{seq: known.seq, link: known.link}); err != nil {
			return head{}, false, err
		}
	}
	h := head{seq: t.Seq, state: t.To, pos: m.Sequence, link: j.link(m.Data)}
	j.saw(breaker, h)
	return h, true, nil
}

// decode returns the record m holds, checking that it belongs to breaker
// when breaker is not empty, and otherwise to the breaker m's subject names.
func (j *Journal) decode(subject string, pos uint64, data []byte, breaker string) (events.Transition, error) {
	bad := func(err error) error { return &MessageError{Stream: j.name, Subject: subject, Pos: pos, Err: err} }
	var t events.Transition
	if err := t.UnmarshalJSON(data); err != nil {
		return t, bad(err)
	}
	if breaker == "" {
		name, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(subject, j.prefix+"."))
		if err != nil || !strings.HasPrefix(subject, j.prefix+".") {
			return t, bad(fmt.Errorf("subject does not name a breaker under %s", j.prefix))
		}
		breaker = string(name)
	}
	if t.Breaker != breaker || subject != j.Subject(breaker) {
		return t, bad(fmt.Errorf("a record of breaker %q on the subject of breaker %q", t.Breaker, breaker))
	}
	return t, nil
}

// Read returns breaker's records with sequence numbers above after, in
// order. It reads the stream from the last position this journal knows to
// be at or before after: message by message for the first few, then, for a
// long history, through a short-lived consumer that streams the rest.
//
// Records asked for that are no longer in the stream (removed by its limits
// or a purge) return an [*events.CompactedError], whose Base is the
// sequence number of the breaker's checkpoint ([Journal.Snapshot]) when
// every record is gone, and otherwise the one before the first record
// left: Read never returns fewer records than were asked for without
// saying so. A message that is not a record of breaker returns a
// [*MessageError], and so does a record that does not link to the one
// before it, holding an [*events.ChainError] (see the package
// documentation for what is checked).
func (j *Journal) Read(ctx context.Context, breaker string, after uint64) ([]events.Transition, error) {
	recs, last, err := j.read(ctx, breaker, after)
	if err == nil && len(recs) > 0 {
		// Records that no checkpoint holds yet, such as those of a process
		// that stopped before its checkpoint was stored: store one before
		// the limits remove them.
		j.checkpointBehind(breaker, last.seq)
	}
	return recs, err
}

// read is Read, also returning where the last record read is (zero when
// none was).
func (j *Journal) read(ctx context.Context, breaker string, after uint64) ([]events.Transition, head, error) {
	if ctx == nil {
		return nil, head{}, errors.New("circuitry: natsjournal Read: nil context")
	}
	if j.isClosed() {
		return nil, head{}, fmt.Errorf("circuitry: natsjournal Read of breaker %q: %w", breaker, ErrClosed)
	}
	r := reading{j: j, breaker: breaker, subject: j.Subject(breaker), after: after, pos: 1, want: 1, whole: after == 0}
	if h, ok := j.from(breaker, after); ok {
		// From the record the journal knows, which the read finds again
		// unless it was removed: then the subject's records up to it are
		// gone too, as limits and purges remove the oldest first, and the
		// first record left links to it (to its link hash, when known).
		r.pos, r.want, r.whole = h.pos, h.seq, false
		r.prev, r.start = pred{seq: h.seq, pos: h.pos, link: h.link}, h.pos
	}
	for range readSteps {
		m, err := j.stream.GetMsg(ctx, r.pos, jetstream.WithGetMsgSubject(r.subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			if r.last.pos == 0 {
				again, err := r.emptied(ctx)
				if err != nil {
					return nil, head{}, err
				}
				if again {
					continue
				}
			}
			out := r.done()
			return out, r.last, nil
		}
		if err != nil {
			return nil, head{}, fmt.Errorf("circuitry: natsjournal: reading breaker %q from stream %s at %d: %w", breaker, j.name, r.pos, err)
		}
		if err := r.take(ctx, m.Subject, m.Sequence, m.Data); err != nil {
			return nil, head{}, err
		}
	}
	if err := r.stream(ctx); err != nil {
		return nil, head{}, err
	}
	out := r.done()
	return out, r.last, nil
}

// readSteps is how many messages Read gets one by one before it streams
// the rest through a consumer.
const readSteps = 8

// reading is the progress of a Read.
type reading struct {
	j                *Journal
	breaker, subject string
	after            uint64
	pos, want        uint64 // where to look next, and the record expected there
	whole            bool   // from the first record: out is the whole history
	start            uint64 // the position of the record known that the read starts from; 0: none
	prev             pred   // the record before the next one, which that one must link to
	last             head
	out              []events.Transition
}

// take checks and keeps the message at pos: a record of the breaker, that
// links to the record before it, and that follows it.
func (r *reading) take(ctx context.Context, subject string, pos uint64, data []byte) error {
	t, err := r.j.decode(subject, pos, data, r.breaker)
	if err != nil {
		return err
	}
	// The record the read starts from was checked when the journal first
	// read it (or wrote it): its successors link to it.
	if pos != r.start {
		if err := r.j.checkLink(ctx, subject, pos, t, r.prev); err != nil {
			return err
		}
	}
	switch {
	case t.Seq < r.want:
		return &MessageError{Stream: r.j.name, Subject: subject, Pos: pos,
			Err: fmt.Errorf("record seq %d where seq %d follows", t.Seq, r.want)}
	case t.Seq > r.want && t.Seq > r.after+1: // records asked for were dropped or purged
		return &events.CompactedError{Breaker: r.breaker, After: r.after, Base: t.Seq - 1}
	}
	if t.Seq > r.after {
		r.out = append(r.out, t)
	}
	r.last = head{seq: t.Seq, state: t.To, pos: pos}
	r.prev = pred{seq: t.Seq, pos: pos, data: data}
	r.pos, r.want = pos+1, t.Seq+1
	return nil
}

// emptied handles a read that found no record where it began: the
// breaker has none, or they were removed. When the breaker's checkpoint
// folds records after r.after, they were removed, which it reports, unless
// they were stored since the read looked: then it returns true, and the
// read looks again. What the journal knew of records no longer there is
// dropped.
func (r *reading) emptied(ctx context.Context) (bool, error) {
	c, err := r.j.storedCheckpoint(ctx, r.breaker)
	if err != nil {
		return false, err
	}
	if c.snap.Seq > r.after {
		_, err := r.j.stream.GetMsg(ctx, r.pos, jetstream.WithGetMsgSubject(r.subject))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, fmt.Errorf("circuitry: natsjournal: reading breaker %q from stream %s at %d: %w", r.breaker, r.j.name, r.pos, err)
		}
	}
	r.j.forget(r.breaker)
	if c.snap.Seq > r.after {
		return false, &events.CompactedError{Breaker: r.breaker, After: r.after, Base: c.snap.Seq}
	}
	return false, nil
}

// stream reads the rest of the subject, from r.pos, through an ephemeral
// consumer: the messages stored when it is made, then it is deleted.
func (r *reading) stream(ctx context.Context) error {
	return r.j.consume(ctx, r.breaker, r.subject, r.pos, func(subject string, pos uint64, data []byte) error {
		return r.take(ctx, subject, pos, data)
	})
}

// consume passes f the messages of subject, breaker's, from position
// from, through an ephemeral consumer: the messages stored when it is
// made, then it is deleted. An error of f ends it.
func (j *Journal) consume(ctx context.Context, breaker, subject string, from uint64, f func(subject string, pos uint64, data []byte) error) (err error) {
	c, err := j.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute, // removed by the server if this process dies
		MemoryStorage:     true,
	})
	if err != nil {
		return fmt.Errorf("circuitry: natsjournal: reading breaker %q from stream %s: a consumer: %w", breaker, j.name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if derr := j.stream.DeleteConsumer(dctx, c.CachedInfo().Name); derr != nil && err == nil && !errors.Is(derr, jetstream.ErrConsumerNotFound) {
			err = fmt.Errorf("circuitry: natsjournal: deleting the consumer that read breaker %q: %w", breaker, derr)
		}
	}()
	for pending := c.CachedInfo().NumPending; pending > 0; {
		wait := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = max(time.Until(d), time.Millisecond)
		}
		batch, err := c.Fetch(int(min(pending, 256)), jetstream.FetchMaxWait(wait))
		if err != nil {
			return fmt.Errorf("circuitry: natsjournal: reading breaker %q from stream %s: %w", breaker, j.name, err)
		}
		n := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("circuitry: natsjournal: reading breaker %q: %w", breaker, err)
			}
			if err := f(m.Subject(), md.Sequence.Stream, m.Data()); err != nil {
				return err
			}
			pending, n = md.NumPending, n+1
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("circuitry: natsjournal: reading breaker %q from stream %s: %w", breaker, j.name, err)
		}
		if n == 0 {
			return fmt.Errorf("circuitry: natsjournal: reading breaker %q from stream %s: %d messages pending, none delivered in %s", breaker, j.name, pending, wait)
		}
	}
	return nil
}

// done remembers where the breaker's last record is and returns what was
// read.
func (r *reading) done() []events.Transition {
	if r.last.pos > 0 {
		r.last.link = r.j.link(r.prev.data)
		r.j.saw(r.breaker, r.last)
		if r.whole {
			r.j.learnFold(r.breaker, folded{snap: events.Initial(r.breaker), ok: true})
		}
		r.j.foldIn(r.breaker, r.out, r.last.pos, r.last.link)
	}
	return r.out
}

// Watch returns the records of every breaker stored after stream position
// after, waiting until there is at least one, ctx is done or the journal
// is closed (see [events.Watcher]). Positions are the stream's sequence
// numbers. A message that is not a record, or a record that does not link
// to the record of its breaker before it (in the batch, or the last one
// the journal knows), returns a [*MessageError], as for Read.
func (j *Journal) Watch(ctx context.Context, after uint64) ([]events.Stored, error) {
	if ctx == nil {
		return nil, errors.New("circuitry: natsjournal Watch: nil context")
	}
	for {
		j.mu.Lock()
		if j.closed {
			j.mu.Unlock()
			return nil, fmt.Errorf("circuitry: natsjournal Watch: %w", ErrClosed)
		}
		if j.changed == nil {
			j.changed = make(chan struct{})
		}
		changed := j.changed
		j.mu.Unlock()

		out, err := j.scan(ctx, after)
		if err != nil || len(out) > 0 {
			return out, err
		}
		poll := time.NewTimer(watchPoll)
		select {
		case <-changed:
		case <-poll.C:
		case <-ctx.Done():
			poll.Stop()
			return nil, ctx.Err()
		}
		poll.Stop()
	}
}

// scan returns up to watchBatch records stored after position after,
// each checked to link to the record of its breaker before it: the one
// before it in the batch, or else the last one the journal knows.
func (j *Journal) scan(ctx context.Context, after uint64) ([]events.Stored, error) {
	var out []events.Stored
	var prevs map[string]pred // the last record of each breaker in the batch
	pos := after + 1
	for len(out) < watchBatch {
		m, err := j.stream.GetMsg(ctx, pos, jetstream.WithGetMsgSubject(j.prefix+".*"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("circuitry: natsjournal Watch: reading stream %s at %d: %w", j.name, pos, err)
		}
		if len(out) == 0 && m.Sequence > after+1 && after > 0 {
			// A gap: other subjects of a shared stream, or records dropped.
			info, err := j.stream.Info(ctx)
			if err != nil {
				return nil, fmt.Errorf("circuitry: natsjournal Watch: stream %s: %w", j.name, err)
			}
			if info.State.FirstSeq > after+1 {
				return nil, &events.CompactedError{After: after, Base: info.State.FirstSeq - 1}
			}
		}
		t, err := j.decode(m.Subject, m.Sequence, m.Data, "")
		if err != nil {
			return nil, err
		}
		p, ok := prevs[t.Breaker]
		if !ok {
			if known, k := j.head(t.Breaker); k && known.pos < m.Sequence {
				p = pred{seq: known.seq, link: known.link}
			}
		}
		if err := j.checkLink(ctx, m.Subject, m.Sequence, t, p); err != nil {
			return nil, err
		}
		if prevs == nil {
			prevs = map[string]pred{}
		}
		prevs[t.Breaker] = pred{seq: t.Seq, pos: m.Sequence, data: m.Data}
		out = append(out, events.Stored{Pos: m.Sequence, Transition: t})
		j.sawAgain(t.Breaker, head{seq: t.Seq, state: t.To, pos: m.Sequence, link: j.link(m.Data)})
		pos = m.Sequence + 1
	}
	return out, nil
}

// Head returns the stream's last sequence number, 0 when it is empty.
func (j *Journal) Head(ctx context.Context) (uint64, error) {
	if ctx == nil {
		return 0, errors.New("circuitry: natsjournal Head: nil context")
	}
	info, err := j.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("circuitry: natsjournal Head of stream %s: %w", j.name, err)
	}
	return info.State.LastSeq, nil
}

var (
	_ events.Journal = (*Journal)(nil)
	_ events.Watcher = (*Journal)(nil)
)

// Breakers returns the names of the breakers that have records in the
// stream or a checkpoint, sorted, with how many messages each one's
// subject holds: 0 for a breaker whose records were all removed, of which
// only its checkpoint is left.
func (j *Journal) Breakers(ctx context.Context) ([]string, map[string]uint64, error) {
	if ctx == nil {
		return nil, nil, errors.New("circuitry: natsjournal Breakers: nil context")
	}
	info, err := j.stream.Info(ctx, jetstream.WithSubjectFilter(j.prefix+".*"))
	if err != nil {
		return nil, nil, fmt.Errorf("circuitry: natsjournal Breakers of stream %s: %w", j.name, err)
	}
	counts := make(map[string]uint64, len(info.State.Subjects))
	for subject, n := range info.State.Subjects {
		name, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(subject, j.prefix+"."))
		if err != nil || !strings.HasPrefix(subject, j.prefix+".") || j.Subject(string(name)) != subject {
			return nil, nil, &MessageError{Stream: j.name, Subject: subject, Err: errors.New("the subject does not name a breaker")}
		}
		counts[string(name)] = n
	}
	if err := j.checkpointed(ctx, counts); err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, counts, nil
}
