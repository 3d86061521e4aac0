package natsjournal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ProbeLeases is a [machine.ProbeLease] on a JetStream key-value bucket: of
// the processes that share a breaker, the first to ask for the lease on a
// half-open period holds it, by a compare-and-set on the breaker's key, and
// only it admits probes in that period. Give it to every replica's breaker
// with machine.WithProbeLease, beside the journal:
//
//	leases, err := natsjournal.NewProbeLeases(ctx, nc, opts...) // the journal's options
//	b, err := machine.New("payments", machine.WithJournal(j), machine.WithFollow(time.Second),
//		machine.WithProbeLease(leases), machine.WithHalfOpenTimeout(10*time.Second))
//
// A breaker asks once per half-open period, never per call. The bucket
// holds one key per breaker, the lease on its latest half-open period: a
// lease on a later period replaces it, by compare-and-set too.
type ProbeLeases struct {
	kv     jetstream.KeyValue
	bucket string
	prefix string
}

// leaseStale is the age past which a lease on a later half-open period
// than the one asked for no longer refuses it: the breaker's history was
// purged and began again, and its sequence numbers with it.
const leaseStale = time.Hour

// leaseAttempts bounds how often Acquire reads the key again after losing
// a compare-and-set to another process. A replicated bucket may answer a
// read from a replica that has not yet stored the winner's write, so each
// read after a loss waits a little longer: 1ms, doubling up to
// leaseBackoffMax, within the caller's ctx.
const (
	leaseAttempts   = 12
	leaseBackoffMax = 64 * time.Millisecond
)

// leaseBucketName is what a JetStream key-value bucket may be named.
var leaseBucketName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewProbeLeases returns the probe leases of the breakers of the journal
// that opts configure: it takes the journal's options, and keeps its leases
// in the bucket named after the stream, [WithStream] + "_PROBE_LEASES"
// ("CIRCUITRY_PROBE_LEASES" by default), under keys made of the subject
// prefix and the breaker's name, both base64url. It creates the bucket
// when missing, with [WithReplicas] and [WithMemoryStorage] as for the
// stream; the other options have no effect here. It does not close nc.
func NewProbeLeases(ctx context.Context, nc *nats.Conn, opts ...Option) (*ProbeLeases, error) {
	if ctx == nil {
		return nil, errors.New("circuitry: natsjournal.NewProbeLeases: nil context")
	}
	if nc == nil {
		return nil, errors.New("circuitry: natsjournal.NewProbeLeases: nil *nats.Conn")
	}
	c := defaults()
	for _, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: "natsjournal.NewProbeLeases option", Value: "nil", Reason: "options must not be nil"}
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	bucket := c.stream + "_PROBE_LEASES"
	if !leaseBucketName.MatchString(bucket) {
		return nil, &events.OptionError{Option: "natsjournal.WithStream", Value: fmt.Sprintf("%q", c.stream),
			Reason: fmt.Sprintf("the probe leases' bucket %q must be 1 to 64 letters, digits, '-' or '_'", bucket)}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("circuitry: natsjournal.NewProbeLeases: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "circuitry probe leases: who probes each breaker's half-open period",
		History:     1,
		Storage:     c.storage,
		Replicas:    c.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("circuitry: natsjournal.NewProbeLeases: bucket %s: %w", bucket, err)
	}
	return &ProbeLeases{kv: kv, bucket: bucket, prefix: c.prefix}, nil
}

// wireLease is the value of a breaker's key: who holds the lease on which
// half-open period.
//
//	{"seq":42,"writer":"web-1:4711"}
type wireLease struct {
	Seq    uint64 `json:"seq"`
	Writer string `json:"writer"`
}

// Key returns the key of breaker's lease in the bucket.
func (l *ProbeLeases) Key(breaker string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(l.prefix)) + "." + base64.RawURLEncoding.EncodeToString([]byte(breaker))
}

// Bucket returns the name of the leases' bucket.
func (l *ProbeLeases) Bucket() string { return l.bucket }

// Acquire reports whether writer holds the lease on the half-open period
// of breaker that record seq began, taking it if nobody does (see
// [machine.ProbeLease]). A writer asking again for a period it holds is
// told yes; a lease on an earlier period is replaced; a lease on a later
// period refuses, unless it is over an hour old (the breaker's history
// began again). A value in the bucket that is not a lease is replaced.
func (l *ProbeLeases) Acquire(ctx context.Context, breaker string, seq uint64, writer string) (bool, error) {
	if ctx == nil {
		return false, errors.New("circuitry: natsjournal ProbeLeases.Acquire: nil context")
	}
	if seq == 0 || writer == "" {
		return false, fmt.Errorf("circuitry: natsjournal ProbeLeases.Acquire of breaker %q: seq %d, writer %q: %w", breaker, seq, writer, events.ErrInvalidRecord)
	}
	key := l.Key(breaker)
	mine, err := json.Marshal(wireLease{Seq: seq, Writer: writer})
	if err != nil {
		return false, err
	}
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("circuitry: natsjournal: the probe lease of breaker %q, seq %d, in bucket %s: %w", breaker, seq, l.bucket, err)
	}
	backoff := time.Millisecond
	for attempt := range leaseAttempts {
		if attempt > 0 {
			if err := sleepCtx(ctx, backoff); err != nil {
				return fail(err)
			}
			backoff = min(2*backoff, leaseBackoffMax)
		}
		e, err := l.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = l.kv.Create(ctx, key, mine)
			if err == nil {
				return true, nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return fail(err)
			}
			continue // another process took it first: read what it wrote
		case err != nil:
			return fail(err)
		}
		var held wireLease
		if json.Unmarshal(e.Value(), &held) == nil && held.Seq != 0 {
			switch {
			case held.Seq == seq:
				return held.Writer == writer, nil
			case held.Seq > seq && time.Since(e.Created()) < leaseStale:
				return false, nil // a later period has begun: this one is over
			}
		}
		if _, err = l.kv.Update(ctx, key, mine, e.Revision()); err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fail(err)
		}
	}
	return fail(fmt.Errorf("lost the compare-and-set %d times in a row", leaseAttempts))
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ machine.ProbeLease = (*ProbeLeases)(nil)
