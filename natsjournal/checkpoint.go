package natsjournal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/nats-io/nats.go/jetstream"
)

// checkpointVersion is the version of a checkpoint message's encoding.
const checkpointVersion = 1

// wireCheckpoint is a checkpoint message: the fold of a breaker's records
// up to Seq, and the stream position of record Seq.
//
//	{"v":1,"breaker":"payments","seq":1000,"state":"open","event":"trip",
//	 "since":"2026-12-01T10:00:00Z","open_for":"30s","opens":2,"pos":48213}
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
}

// checkpointSubject is the subject of breaker's checkpoints: one token
// below its records' subject, so that the journal's wildcard of records
// (prefix.*) leaves it out.
func (j *Journal) checkpointSubject(breaker string) string { return j.Subject(breaker) + ".checkpoint" }

// Snapshot returns breaker's latest checkpoint: the fold of its records up
// to a sequence number, from which [events.Load] reads only the records
// after it. It returns [events.Initial] when the breaker has none. Records
// are never removed for a checkpoint: Read still returns them all.
func (j *Journal) Snapshot(ctx context.Context, breaker string) (events.Snapshot, error) {
	if ctx == nil {
		return events.Initial(breaker), errors.New("circuitry: natsjournal Snapshot: nil context")
	}
	if j.isClosed() {
		return events.Initial(breaker), fmt.Errorf("circuitry: natsjournal Snapshot of breaker %q: %w", breaker, ErrClosed)
	}
	m, err := j.stream.GetLastMsgForSubject(ctx, j.checkpointSubject(breaker))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.Initial(breaker), nil
	}
	if err != nil {
		return events.Initial(breaker), fmt.Errorf("circuitry: natsjournal: reading the checkpoint of breaker %q from stream %s: %w", breaker, j.name, err)
	}
	s, pos, err := decodeCheckpoint(m.Data, breaker)
	if err == nil {
		err = j.checkCheckpoint(ctx, s, pos)
	}
	if err != nil {
		if ctx.Err() != nil {
			return events.Initial(breaker), err
		}
		return events.Initial(breaker), &MessageError{Stream: j.name, Subject: m.Subject, Pos: m.Sequence, Err: err}
	}
	j.sawCheckpoint(breaker, head{seq: s.Seq, state: s.State, pos: pos})
	return s, nil
}

// checkCheckpoint checks s against the records: the breaker's history
// reaches s.Seq, and the message at pos, unless purged, is record s.Seq
// leading to s.State. A checkpoint ahead of the history, or pointing at
// another record, would make the breaker resume where its journal is not.
func (j *Journal) checkCheckpoint(ctx context.Context, s events.Snapshot, pos uint64) error {
	last, err := j.last(ctx, s.Breaker)
	if err != nil {
		return err
	}
	if last.seq < s.Seq {
		return fmt.Errorf("a checkpoint at seq %d, but the last record is seq %d", s.Seq, last.seq)
	}
	m, err := j.stream.GetMsg(ctx, pos)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // purged: the read after it checks that the records follow on
	}
	if err != nil {
		return err
	}
	t, err := j.decode(m.Subject, m.Sequence, m.Data, s.Breaker)
	if err != nil || t.Seq != s.Seq || t.To != s.State {
		return fmt.Errorf("a checkpoint of seq %d (%s) at position %d, which holds %s", s.Seq, s.State, pos, describe(t, err))
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

func decodeCheckpoint(data []byte, breaker string) (events.Snapshot, uint64, error) {
	var w wireCheckpoint
	if err := json.Unmarshal(data, &w); err != nil {
		return events.Snapshot{}, 0, fmt.Errorf("checkpoint: %w", err)
	}
	var openFor time.Duration
	if w.OpenFor != "" {
		d, err := time.ParseDuration(w.OpenFor)
		if err != nil {
			return events.Snapshot{}, 0, fmt.Errorf("checkpoint open_for: %w", err)
		}
		openFor = d
	}
	switch {
	case w.V != checkpointVersion:
		return events.Snapshot{}, 0, fmt.Errorf("checkpoint version %d, this build reads %d", w.V, checkpointVersion)
	case w.Breaker != breaker:
		return events.Snapshot{}, 0, fmt.Errorf("a checkpoint of breaker %q on the subject of breaker %q", w.Breaker, breaker)
	case w.Seq == 0 || w.Pos == 0 || !w.State.Valid() || !w.Event.Valid():
		return events.Snapshot{}, 0, fmt.Errorf("%w: checkpoint at seq %d, position %d, state %s, event %s", events.ErrInvalidRecord, w.Seq, w.Pos, w.State, w.Event)
	case (w.State == events.Open) != (openFor > 0):
		return events.Snapshot{}, 0, fmt.Errorf("%w: checkpoint open_for %s with state %s", events.ErrInvalidRecord, openFor, w.State)
	}
	return events.Snapshot{Breaker: w.Breaker, Seq: w.Seq, State: w.State, Event: w.Event,
		Since: w.Since, OpenFor: openFor, Opens: w.Opens}, w.Pos, nil
}

// Checkpoint stores the fold of breaker's records as its checkpoint, so
// that a replica starting up reads only the records after it. It does
// nothing when the breaker has no record since its last checkpoint.
// [WithCheckpointEvery] makes the journal call it as records are appended.
func (j *Journal) Checkpoint(ctx context.Context, breaker string) error {
	if ctx == nil {
		return errors.New("circuitry: natsjournal Checkpoint: nil context")
	}
	base, err := j.Snapshot(ctx, breaker)
	if err != nil {
		return err
	}
	recs, last, err := j.read(ctx, breaker, base.Seq)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	fold, err := events.ReplayFrom(base, recs)
	if err != nil {
		return fmt.Errorf("circuitry: natsjournal Checkpoint of breaker %q: %w", breaker, err)
	}
	w := wireCheckpoint{V: checkpointVersion, Breaker: breaker, Seq: fold.Seq, State: fold.State, Event: fold.Event,
		Since: fold.Since, Opens: fold.Opens, Pos: last.pos}
	if fold.OpenFor > 0 {
		w.OpenFor = fold.OpenFor.String()
	}
	data, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("circuitry: natsjournal Checkpoint of breaker %q: %w", breaker, err)
	}
	if _, err := j.js.Publish(ctx, j.checkpointSubject(breaker), data); err != nil {
		return fmt.Errorf("circuitry: natsjournal Checkpoint of breaker %q to stream %s: %w", breaker, j.name, err)
	}
	return nil
}

// checkpointAfter asks for a checkpoint of breaker after the append of
// record seq, when the journal makes them and seq is due. One goroutine at
// a time makes the checkpoints asked for, each of everything stored by
// then; Close waits for it.
func (j *Journal) checkpointAfter(breaker string, seq uint64) {
	if j.every == 0 || seq%uint64(j.every) != 0 {
		return
	}
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

// checkpointDue makes the checkpoints asked for until none is left.
func (j *Journal) checkpointDue() {
	for {
		j.mu.Lock()
		var breaker string
		for b := range j.due {
			breaker = b
			break
		}
		if breaker == "" || j.closing {
			clear(j.due)
			j.checkpointing = false
			j.mu.Unlock()
			return
		}
		delete(j.due, breaker)
		j.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
		if err := j.Checkpoint(ctx, breaker); err != nil {
			j.warn(err)
		}
		cancel()
	}
}

// checkpointTimeout bounds a background checkpoint.
const checkpointTimeout = time.Minute
