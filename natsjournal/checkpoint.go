package natsjournal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/nats-io/nats.go/jetstream"
)

// checkpointVersion is the version of a checkpoint's encoding.
const checkpointVersion = 1

// wireCheckpoint is a checkpoint as the bucket stores it: the fold of a
// breaker's records up to Seq, the stream position of record Seq, and the
// chain's head, the link hash of record Seq as stored, which the record
// after it carries as its PrevHash.
//
//	{"v":1,"breaker":"payments","seq":1000,"state":"open","event":"trip",
//	 "since":"2026-12-01T10:00:00Z","open_for":"30s","opens":2,"pos":48213,
//	 "head":"sha256:9f86d081884c7d659a2feaa0c55ad015"}
//
// Head is a minor addition to version 1: checkpoints stored before it have
// none (and the first record after them is not checked against it), and
// readers that do not know it ignore it.
type wireCheckpoint struct {
	V       int          `json:"v"`
	Breaker string       `json:"breaker"`
	Seq     uint64       `json:"seq"`
	State   events.State `json:"state"`
	Event   events.Event `json:"event"`
	Since   time.Time    `json:"since"`
	OpenFor string       `json:"open_for,omitempty"`
	Opens   uint32       `json:"opens,omitempty"`
	Pos     uint64       `json:"pos"`
	Head    string       `json:"head,omitempty"`
}

// keyToken encodes s as one token of a key: base64url without padding,
// whose characters are all valid in a key.
func keyToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// CheckpointKey returns the key of breaker's checkpoint in the bucket
// [Journal.CheckpointBucket] names: the base64url of the journal's prefix
// and of the breaker's name, so that journals of different prefixes
// sharing a stream keep their checkpoints apart.
func (j *Journal) CheckpointKey(breaker string) string {
	return keyToken(j.prefix) + "." + keyToken(breaker)
}

// CheckpointBucket returns the name of the key-value bucket that holds the
// journal's checkpoints.
func (j *Journal) CheckpointBucket() string { return j.bucket }

// keySubject is the subject of the bucket's stream that holds key.
func (j *Journal) keySubject(key string) string { return "$KV." + j.bucket + "." + key }

// stored is a breaker's checkpoint as the bucket holds it.
type stored struct {
	snap events.Snapshot // events.Initial when there is none
	pos  uint64          // the stream position of record snap.Seq
	head string          // the link hash of record snap.Seq; "" in checkpoints stored before it
	rev  uint64          // the revision of the entry; 0 when there is none
}

// storedCheckpoint reads breaker's checkpoint from the bucket, checking its
// encoding but not the records.
func (j *Journal) storedCheckpoint(ctx context.Context, breaker string) (stored, error) {
	none := stored{snap: events.Initial(breaker)}
	if events.CheckName(breaker) != nil {
		return none, nil // no record has such a name, so no checkpoint does
	}
	key := j.CheckpointKey(breaker)
	e, err := j.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return none, nil
	}
	if err != nil {
		return none, fmt.Errorf("circuitry: natsjournal: reading the checkpoint of breaker %q from bucket %s: %w", breaker, j.bucket, err)
	}
	c, err := decodeCheckpoint(e.Value(), breaker)
	if err != nil {
		return none, j.badCheckpoint(key, e.Revision(), err)
	}
	c.rev = e.Revision()
	return c, nil
}

// badCheckpoint is the error of the bucket's entry of key at revision rev,
// which is not a checkpoint the journal can start from.
func (j *Journal) badCheckpoint(key string, rev uint64, err error) error {
	return &MessageError{Stream: "KV_" + j.bucket, Subject: j.keySubject(key), Pos: rev, Err: err}
}

// Snapshot returns breaker's latest checkpoint: the fold of its records up
// to a sequence number, from which [events.Load] reads only the records
// after it. It returns [events.Initial] when the breaker has none. A
// checkpoint removes no record: Read still returns every record the stream
// holds. A checkpoint that does not agree with the records (ahead of them,
// or naming another record at its position) returns a [*MessageError].
func (j *Journal) Snapshot(ctx context.Context, breaker string) (events.Snapshot, error) {
	if ctx == nil {
		return events.Initial(breaker), errors.New("circuitry: natsjournal Snapshot: nil context")
	}
	if j.isClosed() {
		return events.Initial(breaker), fmt.Errorf("circuitry: natsjournal Snapshot of breaker %q: %w", breaker, ErrClosed)
	}
	c, err := j.checkpoint(ctx, breaker)
	return c.snap, err
}

// checkpoint reads breaker's checkpoint and checks it against the records.
func (j *Journal) checkpoint(ctx context.Context, breaker string) (stored, error) {
	c, err := j.storedCheckpoint(ctx, breaker)
	if err != nil || c.rev == 0 {
		return c, err
	}
	if err := j.checked(ctx, breaker, c); err != nil {
		return stored{snap: events.Initial(breaker)}, err
	}
	return c, nil
}

// checked checks c, breaker's checkpoint, against the records, and
// remembers it: where its record is, and its fold.
func (j *Journal) checked(ctx context.Context, breaker string, c stored) error {
	if err := j.checkCheckpoint(ctx, c); err != nil {
		if ctx.Err() != nil || errors.Is(err, events.ErrBrokenChain) {
			return err
		}
		return j.badCheckpoint(j.CheckpointKey(breaker), c.rev, err)
	}
	j.sawCheckpoint(breaker, head{seq: c.snap.Seq, state: c.snap.State, pos: c.pos, link: c.head})
	j.learnFold(breaker, folded{snap: c.snap, pos: c.pos, link: c.head, ok: true})
	return nil
}

// checkCheckpoint checks c against the records: the breaker's history
// reaches c's seq, and the message at c.pos, unless removed, is record
// c.snap.Seq leading to c.snap.State, whose link hash is c.head. A
// checkpoint ahead of the history, or pointing at another record, would
// make the breaker resume where its journal is not. With every record of
// the breaker removed (by the stream's limits or a purge) there is nothing
// to check it against: the checkpoint is all that is left of the history.
func (j *Journal) checkCheckpoint(ctx context.Context, c stored) error {
	s, pos := c.snap, c.pos
	last, ok, err := j.lastRecord(ctx, s.Breaker)
	if err != nil || !ok {
		return err
	}
	if last.seq < s.Seq {
		return fmt.Errorf("a checkpoint at seq %d, but the last record is seq %d", s.Seq, last.seq)
	}
	m, err := j.stream.GetMsg(ctx, pos)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // removed: the read after it checks that the records follow on
	}
	if err != nil {
		return err
	}
	t, err := j.decode(m.Subject, m.Sequence, m.Data, s.Breaker)
	if err != nil || t.Seq != s.Seq || t.To != s.State {
		return fmt.Errorf("a checkpoint of seq %d (%s) at position %d, which holds %s", s.Seq, s.State, pos, describe(t, err))
	}
	// A head the journal can compute (of its own kind of link) must be the
	// record's link hash; a head of the other kind was stored by a journal
	// with another key setting, and is checked by the records that follow.
	if link := j.link(m.Data); c.head != "" && sameAlg(c.head, link) && c.head != link {
		return fmt.Errorf("a checkpoint whose head %s is not the link hash of record seq %d at position %d, %s", c.head, s.Seq, pos, link)
	}
	return nil
}

// describe says what a message held, for an error.
func describe(t events.Transition, err error) string {
	if err != nil {
		return "no record of the breaker"
	}
	return fmt.Sprintf("record seq %d (to %s)", t.Seq, t.To)
}

// decodeCheckpoint decodes the checkpoint of breaker that data holds
// (without its revision).
func decodeCheckpoint(data []byte, breaker string) (stored, error) {
	var w wireCheckpoint
	if err := json.Unmarshal(data, &w); err != nil {
		return stored{}, fmt.Errorf("checkpoint: %w", err)
	}
	var openFor time.Duration
	if w.OpenFor != "" {
		d, err := time.ParseDuration(w.OpenFor)
		if err != nil {
			return stored{}, fmt.Errorf("checkpoint open_for: %w", err)
		}
		openFor = d
	}
	switch {
	case w.V != checkpointVersion:
		return stored{}, fmt.Errorf("checkpoint version %d, this build reads %d", w.V, checkpointVersion)
	case w.Breaker != breaker:
		return stored{}, fmt.Errorf("a checkpoint of breaker %q under the key of breaker %q", w.Breaker, breaker)
	case w.Seq == 0 || w.Pos == 0 || !w.State.Valid() || !w.Event.Valid():
		return stored{}, fmt.Errorf("%w: checkpoint at seq %d, position %d, state %s, event %s", events.ErrInvalidRecord, w.Seq, w.Pos, w.State, w.Event)
	case (w.State == events.Open) != (openFor > 0):
		return stored{}, fmt.Errorf("%w: checkpoint open_for %s with state %s", events.ErrInvalidRecord, openFor, w.State)
	case w.Head != "" && !isLinkHash(w.Head):
		return stored{}, fmt.Errorf("%w: checkpoint head %q is not a link hash (sha256:… or hmac-sha256:…)", events.ErrInvalidRecord, w.Head)
	}
	return stored{snap: events.Snapshot{Breaker: w.Breaker, Seq: w.Seq, State: w.State, Event: w.Event,
		Since: w.Since, OpenFor: openFor, Opens: w.Opens}, pos: w.Pos, head: w.Head}, nil
}

// Checkpoint stores the fold of breaker's records as its checkpoint, in
// the journal's key-value bucket, so that a replica starting up reads only
// the records after it, and so that the breaker's state outlives the
// records that the stream's limits remove. It does nothing when the
// breaker has no record after its checkpoint. [WithCheckpointEvery] and a
// stream limit make the journal call it as records are appended.
//
// The fold is the one the journal keeps of the records it appended and
// read, when that is ahead of the checkpoint stored: then a checkpoint
// costs a read and a write of the bucket, and no read of the records.
// Otherwise it is the fold of the checkpoint stored, checked as Snapshot
// checks it, and of the records after it.
//
// Replicas checkpointing one breaker at once never replace a checkpoint
// with an older one: each stores its fold only over the revision of the
// checkpoint it read, and when another replica stored one meanwhile,
// starts again from that one.
func (j *Journal) Checkpoint(ctx context.Context, breaker string) error {
	if ctx == nil {
		return errors.New("circuitry: natsjournal Checkpoint: nil context")
	}
	if j.isClosed() {
		return fmt.Errorf("circuitry: natsjournal Checkpoint of breaker %q: %w", breaker, ErrClosed)
	}
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			// A replicated bucket may answer the read from a replica that
			// has not yet stored the other one's checkpoint: wait a little
			// longer before each read again.
			if err := sleepCtx(ctx, backoff); err != nil {
				return fmt.Errorf("circuitry: natsjournal Checkpoint of breaker %q: %w", breaker, err)
			}
			backoff = min(2*backoff, leaseBackoffMax)
		}
		cur, err := j.storedCheckpoint(ctx, breaker)
		if err != nil {
			return err
		}
		next := j.knownFold(breaker)
		if !next.ok || next.snap.Seq <= cur.snap.Seq {
			if next, err = j.foldAfter(ctx, breaker, cur); err != nil {
				return err
			}
		}
		if next.snap.Seq <= cur.snap.Seq {
			return nil // the checkpoint stored is as recent as the records
		}
		err = j.store(ctx, breaker, next, cur.rev)
		switch {
		case err == nil:
			j.sawCheckpoint(breaker, head{seq: next.snap.Seq, state: next.snap.State, pos: next.pos, link: next.link})
			return nil
		case (errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)) && attempt < checkpointAttempts:
			continue // another replica stored one meanwhile
		}
		return fmt.Errorf("circuitry: natsjournal Checkpoint of breaker %q to bucket %s: %w", breaker, j.bucket, err)
	}
}

// foldAfter returns the fold of cur, breaker's checkpoint (checked against
// the records), and of the records after it.
func (j *Journal) foldAfter(ctx context.Context, breaker string, cur stored) (folded, error) {
	if cur.rev != 0 {
		if err := j.checked(ctx, breaker, cur); err != nil {
			return folded{}, err
		}
	}
	recs, last, err := j.read(ctx, breaker, cur.snap.Seq)
	if err != nil || len(recs) == 0 {
		return folded{snap: cur.snap, pos: cur.pos, link: cur.head, ok: true}, err
	}
	f, err := events.ReplayFrom(cur.snap, recs)
	if err != nil {
		return folded{}, fmt.Errorf("circuitry: natsjournal Checkpoint of breaker %q: %w", breaker, err)
	}
	return folded{snap: f, pos: last.pos, link: last.link, ok: true}, nil
}

// store stores f as breaker's checkpoint if the bucket's entry is still at
// revision rev (0: there is none).
func (j *Journal) store(ctx context.Context, breaker string, f folded, rev uint64) error {
	w := wireCheckpoint{V: checkpointVersion, Breaker: breaker, Seq: f.snap.Seq, State: f.snap.State, Event: f.snap.Event,
		Since: f.snap.Since, Opens: f.snap.Opens, Pos: f.pos, Head: f.link}
	if f.snap.OpenFor > 0 {
		w.OpenFor = f.snap.OpenFor.String()
	}
	data, err := json.Marshal(w)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = j.kv.Create(ctx, j.CheckpointKey(breaker), data)
	} else {
		_, err = j.kv.Update(ctx, j.CheckpointKey(breaker), data, rev)
	}
	return err
}

// checkpointAttempts bounds how often Checkpoint starts again when other
// replicas store checkpoints of the breaker under it, each after a wait
// of 1ms, doubling up to 64ms.
const checkpointAttempts = 8

// checkpointAfter asks for a checkpoint of breaker after the append of
// record seq, when the journal makes them: after every record when the
// stream has a limit, otherwise when seq is due.
func (j *Journal) checkpointAfter(breaker string, seq uint64) {
	if j.every == 0 || (!j.limited && seq%uint64(j.every) != 0) {
		return
	}
	j.ask(breaker)
}

// checkpointBehind asks a journal whose stream has a limit for a
// checkpoint of breaker when the latest the journal knows of is older than
// record seq.
func (j *Journal) checkpointBehind(breaker string, seq uint64) {
	if j.every == 0 || !j.limited {
		return
	}
	j.mu.Lock()
	ix := j.seen[breaker]
	behind := ix == nil || ix.base.seq < seq
	j.mu.Unlock()
	if behind {
		j.ask(breaker)
	}
}

// ask asks for a checkpoint of breaker in the background. One goroutine at
// a time makes the checkpoints asked for, each of everything stored by
// then; Close waits for it.
func (j *Journal) ask(breaker string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closing {
		return
	}
	j.due[breaker] = struct{}{}
	if j.checkpointing {
		return
	}
	j.checkpointing = true
	j.bg.Go(j.checkpointDue)
}

// checkpointDue makes the checkpoints asked for until none is left. Once
// Close is called, an unlimited journal makes no other, and a limited one
// makes them until Close's deadline.
func (j *Journal) checkpointDue() {
	for {
		j.mu.Lock()
		var breaker string
		for b := range j.due {
			breaker = b
			break
		}
		closing, by := j.closing, j.closeBy
		if breaker == "" || (closing && (!j.limited || !time.Now().Before(by))) {
			clear(j.due)
			j.checkpointing = false
			j.mu.Unlock()
			return
		}
		delete(j.due, breaker)
		j.mu.Unlock()
		deadline := time.Now().Add(checkpointTimeout)
		if closing {
			deadline = by
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		if err := j.Checkpoint(ctx, breaker); err != nil {
			j.warn(err)
		}
		cancel()
	}
}

// checkpointTimeout bounds a background checkpoint.
const checkpointTimeout = time.Minute

// checkpointed adds to counts, at 0, the breakers that have a checkpoint
// but no record in the stream.
func (j *Journal) checkpointed(ctx context.Context, counts map[string]uint64) error {
	s, err := j.js.Stream(ctx, "KV_"+j.bucket)
	if err != nil {
		return fmt.Errorf("circuitry: natsjournal Breakers: checkpoint bucket %s: %w", j.bucket, err)
	}
	under := j.keySubject(keyToken(j.prefix) + ".")
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(under+"*"))
	if err != nil {
		return fmt.Errorf("circuitry: natsjournal Breakers: checkpoint bucket %s: %w", j.bucket, err)
	}
	for subject := range info.State.Subjects {
		name, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(subject, under))
		key := j.CheckpointKey(string(name))
		if err != nil || j.keySubject(key) != subject {
			return &MessageError{Stream: "KV_" + j.bucket, Subject: subject, Err: errors.New("the key does not name a breaker")}
		}
		if _, ok := counts[string(name)]; ok {
			continue
		}
		// A key deleted by hand (the journal deletes none) holds a marker,
		// not a checkpoint.
		if _, err := j.kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("circuitry: natsjournal Breakers: checkpoint bucket %s: %w", j.bucket, err)
		}
		counts[string(name)] = 0
	}
	return nil
}
