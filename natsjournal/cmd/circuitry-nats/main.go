// Command circuitry-nats is the audit command over a NATS JetStream
// journal (package natsjournal): the same commands as cmd/circuitry,
// reading a stream instead of a file, every record with the replica that
// wrote it.
//
// It only reads: it connects, reads every breaker's records once, and
// refuses to append, so it may be run against the stream of a running
// fleet. The journal argument is the server's URL, with the stream and the
// subject prefix as query parameters when they are not the defaults:
//
//	nats://127.0.0.1:4222?stream=CIRCUITRY&prefix=circuitry.transitions
//
// Usage:
//
//	circuitry-nats history [-breaker names] [-event events] [-since T] [-until T] [-json] URL
//	circuitry-nats verify [-key-file KEYFILE] URL
//	circuitry-nats state [-breaker names] [-at T] [-json] URL
//	circuitry-nats diagram [-breaker name] [URL]
//
// The commands, their flags and output are those of cmd/circuitry; see its
// documentation. A breaker whose older records the stream's limits (or a
// purge) removed starts from its checkpoint, as from a snapshot: history
// shows the checkpoint and the records after it, with a note on stderr
// that records 1 to N were removed, and verify counts such checkpoints as
// snapshot records. Records removed that no checkpoint covers are an
// error. verify also checks every record's link to its predecessor
// (natsjournal's chain), with -key-file a keyed chain; -head, which names
// a file journal's checkpoint, is refused.
//
// Exit status: 0 on success, 1 when the journal cannot be read, holds a bad
// record or does not hold a breaker asked for, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/audit"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats.go"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Now()))
}

var command = audit.Command{Name: "circuitry-nats", Arg: "URL", Open: openStream}

func run(args []string, stdout, stderr io.Writer, now time.Time) int {
	return command.Run(args, stdout, stderr, now)
}

// readTimeout bounds connecting and reading the whole stream.
const readTimeout = time.Minute

// openStream connects to the server of addr and reads every breaker's
// records from the stream it names, noting on stderr the breakers whose
// older records were removed. On a bad record it returns the breakers read
// before it, with the error.
func openStream(addr string, stderr io.Writer) (audit.Journal, error) {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return nil, fmt.Errorf("%q is not a NATS URL such as nats://127.0.0.1:4222?stream=CIRCUITRY", addr)
	}
	opts := []natsjournal.Option{natsjournal.WithCheckpointEvery(0)} // it reads: it stores no checkpoint
	q := u.Query()
	if v := q.Get("stream"); v != "" {
		opts = append(opts, natsjournal.WithStream(v))
	}
	if v := q.Get("prefix"); v != "" {
		opts = append(opts, natsjournal.WithSubjectPrefix(v))
	}
	u.RawQuery = ""
	dial := func(ctx context.Context) (*natsjournal.Journal, func(), error) {
		nc, err := nats.Connect(u.String(), nats.Name("circuitry-nats"), nats.Timeout(10*time.Second))
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to %s: %w", u, err)
		}
		j, err := natsjournal.New(ctx, nc, opts...)
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		return j, func() { j.Close(); nc.Close() }, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	j, done, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	names, counts, err := j.Breakers(ctx)
	if err != nil {
		return nil, err
	}
	s := &stream{recs: map[string][]events.Transition{}, bases: map[string]events.Snapshot{}, dial: dial}
	for _, name := range names {
		recs, err := j.Read(ctx, name, 0)
		var removed *events.CompactedError
		if errors.As(err, &removed) {
			recs, err = s.fromCheckpoint(ctx, j, name, removed.Base, stderr)
		}
		if err != nil {
			return s, err
		}
		if uint64(len(recs)) != counts[name] {
			return s, fmt.Errorf("breaker %q: the stream counts %d messages, %d records were read", name, counts[name], len(recs))
		}
		s.names = append(s.names, name)
		s.recs[name] = recs
		s.records += len(recs)
	}
	return s, nil
}

// fromCheckpoint reads the records of breaker name that are left after
// records 1 to gone were removed, and takes its checkpoint, which must fold
// them, as where its history starts.
func (s *stream) fromCheckpoint(ctx context.Context, j *natsjournal.Journal, name string, gone uint64, stderr io.Writer) ([]events.Transition, error) {
	base, err := j.Snapshot(ctx, name)
	if err != nil {
		return nil, err
	}
	if base.Seq < gone {
		return nil, fmt.Errorf("breaker %q: records 1 to %d were removed from the stream, and its checkpoint, at seq %d, does not fold them: its state is lost", name, gone, base.Seq)
	}
	recs, err := j.Read(ctx, name, gone)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "note: breaker %q: records 1 to %d were removed by the stream's limits (or a purge); its history starts from its checkpoint at seq %d\n", name, gone, base.Seq)
	s.bases[name] = base
	return recs, nil
}

// stream is the records read from a stream, as the audit commands read
// them: read-only.
type stream struct {
	names   []string
	recs    map[string][]events.Transition
	bases   map[string]events.Snapshot // the checkpoints of breakers whose older records were removed
	records int
	dial    func(context.Context) (*natsjournal.Journal, func(), error)
}

var _ audit.Verifier = (*stream)(nil)

// Verify checks every breaker's chain of links in the stream
// (natsjournal.Journal.VerifyChain), with the key when one is given.
// Witnessed heads are those of a file journal's checkpoints: the stream
// has none.
func (s *stream) Verify(opts audit.VerifyOptions) (audit.VerifySummary, error) {
	sum := audit.VerifySummary{Counts: s.Counts()}
	if len(opts.Heads) > 0 {
		return sum, errors.New("-head: a stream has no sealed segments whose head was witnessed; compare a breaker's newest link hash (natsjournal ChainReport.Head) instead")
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	j, done, err := s.dial(ctx)
	if err != nil {
		return sum, err
	}
	defer done()
	check := events.ChainCheck{Key: opts.Key, OldKeys: opts.OldKeys, RequireKey: opts.RequireKey}
	for _, name := range s.names {
		rep, err := j.VerifyChain(ctx, name, check)
		if err != nil {
			return sum, err
		}
		sum.Linked += int(rep.Linked)
		sum.Unlinked += int(rep.Unlinked)
		sum.Unchecked += int(rep.Unchecked)
		if opts.Key != nil {
			sum.Keyed += int(rep.Linked)
		}
		for _, r := range s.recs[name] {
			if !r.Time.Before(sum.Latest.Time) {
				sum.Latest = r
			}
		}
	}
	return sum, nil
}

// errReadOnly refuses every append: the audit command changes nothing.
var errReadOnly = errors.New("circuitry-nats reads only")

func (s *stream) Append(_ context.Context, t events.Transition) error {
	return &events.RefusedError{Breaker: t.Breaker, Seq: t.Seq, Err: errReadOnly}
}

func (s *stream) Read(_ context.Context, breaker string, after uint64) ([]events.Transition, error) {
	var out []events.Transition
	for _, r := range s.recs[breaker] {
		if r.Seq > after {
			out = append(out, r)
		}
	}
	return out, nil
}

// Snapshot returns the checkpoint of a breaker whose older records were
// removed, and otherwise the initial state: its records are all there.
func (s *stream) Snapshot(_ context.Context, breaker string) (events.Snapshot, error) {
	if b, ok := s.bases[breaker]; ok {
		return b, nil
	}
	return events.Initial(breaker), nil
}

func (s *stream) Breakers() []string { return s.names }

func (s *stream) Counts() audit.Counts {
	return audit.Counts{Breakers: len(s.names), Records: s.records, Snapshots: len(s.bases)}
}
