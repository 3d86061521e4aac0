package natsjournal

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/nats-io/nats.go/jetstream"
)

// The defaults of [New], all in one place. Each applies when its option is
// not given.
//
//	option                default
//	WithStream            DefaultStream: the stream the journal uses, created when missing
//	WithSubjectPrefix     DefaultSubjectPrefix: a breaker's subject is prefix + "." + base64url(name)
//	WithReplicas          1: replicas of a stream New creates (and of its checkpoint bucket)
//	WithMemoryStorage     not given: a stream New creates is stored in files
//	WithMaxAge            none: a stream New creates keeps its records however old
//	WithMaxBytes          none: a stream New creates keeps its records however many bytes
//	WithCheckpointBucket  the stream's name + "_CHECKPOINTS": the bucket of checkpoints, created when missing
//	WithCheckpointEvery   DefaultCheckpointEvery: a checkpoint after every 1000th record of a
//	                      breaker; after every record when the stream has a limit; 0: none
//	WithWarningHandler    log through slog.Default at level Warn
//	WithChainKey          none: each record links to its predecessor by a bare SHA-256
//	                      link hash ("sha256:…"), which catches accidents and partial
//	                      edits but which anyone who can write the stream can recompute
//
// By default history is kept: the records are the audit trail, and the
// stream New creates has no limits. WithMaxAge and WithMaxBytes set the
// limits of a stream New creates; New does not change an existing stream's
// limits, and takes them as they are.
const (
	DefaultStream          = "CIRCUITRY"
	DefaultSubjectPrefix   = "circuitry.transitions"
	DefaultCheckpointEvery = 1000
)

// checkpointBucketSuffix follows the stream's name in the name of the
// checkpoint bucket when WithCheckpointBucket is not given.
const checkpointBucketSuffix = "_CHECKPOINTS"

// Option configures [New]. Options are applied in order, after the
// defaults; an invalid value makes New return an error naming the option
// and the value.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	stream   string
	prefix   string
	replicas int
	storage  jetstream.StorageType
	maxAge   time.Duration // 0: none
	maxBytes int64         // 0: none
	bucket   string        // "": the stream's name + checkpointBucketSuffix
	every    int
	warn     func(error)
	key      []byte // WithChainKey; nil: bare sha256 links
	oldKeys  [][]byte
}

func defaults() config {
	return config{stream: DefaultStream, prefix: DefaultSubjectPrefix, replicas: 1, storage: jetstream.FileStorage,
		every: DefaultCheckpointEvery,
		warn: func(err error) {
			slog.Default().Warn("circuitry: NATS journal warning", "error", err)
		}}
}

// WithStream names the stream the journal stores records in. New creates it
// when it does not exist; an existing stream must capture the journal's
// subjects. A name must be 1 to 255 characters, none of them white space or
// '.', '*', '>', '/' and '\\'.
func WithStream(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" || len(name) > 255 || strings.ContainsAny(name, " \t\r\n.*>/\\") {
			return &events.OptionError{Option: "natsjournal.WithStream", Value: fmt.Sprintf("%q", name),
				Reason: "a stream name is 1 to 255 characters, without white space, '.', '*', '>', '/' or '\\'"}
		}
		c.stream = name
		return nil
	})
}

// WithSubjectPrefix sets the prefix of the journal's subjects: dot-separated
// tokens without wildcards or white space, such as "svc.breakers". Journals
// that share a stream and a prefix share their breakers.
func WithSubjectPrefix(prefix string) Option {
	return optionFunc(func(c *config) error {
		ok := prefix != "" && len(prefix) <= 200 && !strings.ContainsAny(prefix, " \t\r\n*>")
		for _, tok := range strings.Split(prefix, ".") {
			ok = ok && tok != ""
		}
		if !ok {
			return &events.OptionError{Option: "natsjournal.WithSubjectPrefix", Value: fmt.Sprintf("%q", prefix),
				Reason: "a prefix is up to 200 characters of non-empty dot-separated tokens, without white space, '*' or '>'"}
		}
		c.prefix = prefix
		return nil
	})
}

// WithReplicas sets how many servers of a JetStream cluster keep a stream
// that New creates, 1 to 5. It has no effect on an existing stream.
func WithReplicas(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > 5 {
			return &events.OptionError{Option: "natsjournal.WithReplicas", Value: fmt.Sprint(n), Reason: "replicas must be 1 to 5"}
		}
		c.replicas = n
		return nil
	})
}

// WithMemoryStorage makes a stream that New creates keep its messages in
// memory rather than in files: faster, and lost when the servers restart.
// It has no effect on an existing stream.
func WithMemoryStorage() Option {
	return optionFunc(func(c *config) error {
		c.storage = jetstream.MemoryStorage
		return nil
	})
}

// WithMaxAge makes a stream that New creates remove records older than d,
// the oldest first; JetStream takes an age of at least 100ms. Each
// breaker's latest state stays in its checkpoint (see [Journal.Checkpoint]),
// which the journal then stores after every record, and Read reports the
// records removed with an [*events.CompactedError]. It has no effect on an
// existing stream.
func WithMaxAge(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return &events.OptionError{Option: "natsjournal.WithMaxAge", Value: d.String(), Reason: "must be positive"}
		}
		c.maxAge = d
		return nil
	})
}

// WithMaxBytes makes a stream that New creates remove its oldest records
// once it holds more than n bytes, as [WithMaxAge] does the old ones. It
// has no effect on an existing stream.
func WithMaxBytes(n int64) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 {
			return &events.OptionError{Option: "natsjournal.WithMaxBytes", Value: fmt.Sprint(n), Reason: "must be positive"}
		}
		c.maxBytes = n
		return nil
	})
}

// WithCheckpointBucket names the JetStream key-value bucket that holds the
// breakers' checkpoints, created when missing: 1 to 252 letters, digits,
// '_' and '-'. Journals that share a stream and a prefix must share it.
func WithCheckpointBucket(name string) Option {
	return optionFunc(func(c *config) error {
		if !validBucket(name) {
			return &events.OptionError{Option: "natsjournal.WithCheckpointBucket", Value: fmt.Sprintf("%q", name), Reason: bucketRule}
		}
		c.bucket = name
		return nil
	})
}

// bucketName is what a key-value bucket may be named: JetStream's rule,
// and short enough for the name of the bucket's stream, "KV_" + name.
var bucketName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,252}$`)

const bucketRule = "a bucket name is 1 to 252 letters, digits, '_' or '-'"

func validBucket(name string) bool { return bucketName.MatchString(name) }

// checkpointBucket returns the name of the checkpoint bucket, or an error
// when the one named after the stream is not a valid bucket name.
func (c *config) checkpointBucket() (string, error) {
	if c.bucket != "" {
		return c.bucket, nil
	}
	name := c.stream + checkpointBucketSuffix
	if !validBucket(name) {
		return "", &events.OptionError{Option: "natsjournal.WithStream", Value: fmt.Sprintf("%q", c.stream),
			Reason: fmt.Sprintf("the checkpoint bucket named after the stream, %q, is not a valid bucket name (%s): name one with natsjournal.WithCheckpointBucket", name, bucketRule)}
	}
	return name, nil
}

// WithCheckpointEvery makes the journal store a checkpoint of a breaker
// (see [Journal.Checkpoint]) in the background after every nth record it
// appends for it, so that a replica starting up reads at most about n
// records. A journal whose stream has a limit (see [WithMaxAge])
// checkpoints after every record instead, whatever n is, so that the limit
// never removes a breaker's latest state: one more read and write of the
// checkpoint bucket per transition, in the background. 0 turns checkpoints
// off, on any stream: for a tool that only reads, as a breaker over a
// limited stream without them loses its state with its records. n must not
// be negative.
func WithCheckpointEvery(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return &events.OptionError{Option: "natsjournal.WithCheckpointEvery", Value: fmt.Sprint(n), Reason: "must be 0 (off) or positive"}
		}
		c.every = n
		return nil
	})
}

// WithWarningHandler sets the function that receives what the journal
// cannot return to a caller: the error of a background checkpoint. It must
// not be nil.
func WithWarningHandler(f func(error)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "natsjournal.WithWarningHandler", Value: "nil", Reason: "must not be nil"}
		}
		c.warn = f
		return nil
	})
}

// WithChainKey makes the journal link each record to its predecessor with
// an HMAC-SHA-256 under key ("hmac-sha256:…", see [events.LinkHash]) rather
// than a bare SHA-256, and check keyed links as it reads records back: a
// keyed chain cannot be recomputed without the key, so whoever can write
// the stream but does not hold the key cannot rewrite a record and the
// links after it unseen (check with [Journal.VerifyChain] and an
// [events.ChainCheck] that requires the key). The key must have at least
// [events.MinChainKeySize] bytes; the journal keeps a copy. Every journal
// that writes a stream's breakers must be given the same key (or none): a
// journal without a key counts the keyed links it reads as unchecked, and
// one keyed with another key finds them broken. To change the key, give
// the new one as key and those used before as oldKeys: records are linked
// under key, and the links made under an old key still check (give the
// same old keys to [Journal.VerifyChain]'s [events.ChainCheck].OldKeys).
// Records linked bare, by journals without a key, are checked by a keyed
// journal as bare links. Each old key must have at least
// [events.MinChainKeySize] bytes too. It has no effect on [NewProbeLeases].
func WithChainKey(key []byte, oldKeys ...[]byte) Option {
	return optionFunc(func(c *config) error {
		if err := events.CheckChainKey(key); err != nil {
			return &events.OptionError{Option: "natsjournal.WithChainKey", Value: fmt.Sprintf("a key of %d bytes", len(key)), Reason: err.Error()}
		}
		c.key, c.oldKeys = bytes.Clone(key), nil
		for i, k := range oldKeys {
			if err := events.CheckChainKey(k); err != nil {
				return &events.OptionError{Option: "natsjournal.WithChainKey", Value: fmt.Sprintf("old key %d of %d bytes", i, len(k)), Reason: err.Error()}
			}
			c.oldKeys = append(c.oldKeys, bytes.Clone(k))
		}
		return nil
	})
}
