package natsjournal

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/circuitry-go/circuitry/events"
	"github.com/nats-io/nats.go/jetstream"
)

// The defaults of [New], all in one place. Each applies when its option is
// not given.
//
//	option             default
//	WithStream         DefaultStream: the stream the journal uses, created when missing
//	WithSubjectPrefix  DefaultSubjectPrefix: a breaker's subject is prefix + "." + base64url(name)
//	WithReplicas       1: replicas of a stream New creates
//	WithMemoryStorage  not given: a stream New creates is stored in files
//	WithCheckpointEvery  DefaultCheckpointEvery: a checkpoint after every 1000th record of a breaker
//	WithWarningHandler   log through slog.Default at level Warn
const (
	DefaultStream          = "CIRCUITRY"
	DefaultSubjectPrefix   = "circuitry.transitions"
	DefaultCheckpointEvery = 1000
)

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
	every    int
	warn     func(error)
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

// WithCheckpointEvery makes the journal store a checkpoint of a breaker
// (see [Journal.Checkpoint]) in the background after every nth record it
// appends for it, so that a replica starting up reads at most about n
// records. 0 turns it off; n must not be negative.
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
