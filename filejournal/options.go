package filejournal

import (
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// SyncPolicy says when a [File] journal forces its writes to stable storage.
type SyncPolicy uint8

const (
	// SyncAlways makes every [File.Append] call fsync(2) before it returns:
	// a record that Append accepted survives a crash of the process and of
	// the machine. It is the default.
	SyncAlways SyncPolicy = iota
	// SyncNone makes [File.Append] return once write(2) has handed the
	// record to the operating system: a record survives a crash of the
	// process, but a crash of the machine (power loss, kernel panic) may
	// lose the most recent ones. [File.Close], seals and retention passes
	// still fsync.
	SyncNone
)

var syncNames = [...]string{SyncAlways: "SyncAlways", SyncNone: "SyncNone"}

// String returns the policy's name.
func (p SyncPolicy) String() string {
	if int(p) < len(syncNames) {
		return syncNames[p]
	}
	return fmt.Sprintf("SyncPolicy(%d)", uint8(p))
}

// The defaults of [Open], all in one place. Each applies when its option
// is not given.
//
//	option                     default
//	WithSync                   SyncAlways: fsync before Append returns
//	WithSegmentSize            DefaultSegmentSize (4 MiB) of records before the active segment is sealed
//	WithMaxAge, WithMaxBytes   not given: every sealed segment is kept, the whole audit trail
//	WithChainKey               not given: records are chained with bare SHA-256 link hashes
//	WithCheckpointHandler      log each checkpoint (its head hash) through slog.Default at level Info
//	WithRetentionHandler       log each retention pass through slog.Default at level Info
//	WithFileMode               0o600 for a file Open creates (an existing file keeps its own)
//	WithWarningHandler         log through slog.Default at level Warn
//	WithCorruptionRecovery     not given: a corrupt record makes Open fail
const (
	DefaultSegmentSize = 4 << 20
	DefaultFileMode    = fs.FileMode(0o600)
)

// Option configures [Open]. Options are applied in order, after the
// defaults; an invalid value makes Open return an error naming the option
// and the value.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	sync        SyncPolicy
	segmentSize int64
	maxAge      time.Duration
	maxBytes    int64
	key         []byte
	oldKeys     [][]byte // keys links were made under before key
	checkpoint  func(Checkpoint)
	retained    func(Removal)
	mode        fs.FileMode
	warn        func(error)
	recover     bool
	now         func() time.Time
}

func defaults() config {
	return config{
		sync:        SyncAlways,
		segmentSize: DefaultSegmentSize,
		mode:        DefaultFileMode,
		now:         time.Now,
		warn: func(err error) {
			slog.Default().Warn("circuitry: file journal warning", "error", err)
		},
		checkpoint: func(c Checkpoint) {
			slog.Default().Info("circuitry: file journal checkpoint", "segment", c.Sealed, "head", c.Head, "records", c.Records, "file", c.Path)
		},
		retained: func(r Removal) {
			slog.Default().Info("circuitry: file journal retention", "removed_through", r.Through, "segments", len(r.Paths), "bytes", r.Bytes, "policy", r.Policy)
		},
	}
}

func newConfig(opts []Option) (config, error) {
	cfg := defaults()
	for i, o := range opts {
		if o == nil {
			return cfg, &events.OptionError{Option: fmt.Sprintf("filejournal.Open option %d", i), Value: "nil", Reason: "must not be nil"}
		}
		if err := o.apply(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// WithSync sets when the journal fsyncs: [SyncAlways] (the default) or
// [SyncNone].
func WithSync(p SyncPolicy) Option {
	return optionFunc(func(c *config) error {
		if int(p) >= len(syncNames) {
			return &events.OptionError{Option: "filejournal.WithSync", Value: p.String(), Reason: "must be SyncAlways or SyncNone"}
		}
		c.sync = p
		return nil
	})
}

// WithSegmentSize sets when the active segment is sealed: after an append
// that leaves more than n bytes of records after its checkpoint. Opening
// the journal reads the active segment, so n bounds the time and memory
// Open takes, whatever the length of the history. n must be at least 1.
// Default [DefaultSegmentSize].
func WithSegmentSize(n int64) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return &events.OptionError{Option: "filejournal.WithSegmentSize", Value: fmt.Sprint(n), Reason: "must be at least 1 byte"}
		}
		c.segmentSize = n
		return nil
	})
}

// WithMaxAge makes retention remove the sealed segments whose newest record
// is older than d. The active segment, and the checkpoint every segment
// starts with, are never removed, so every breaker keeps its state. Without
// WithMaxAge and [WithMaxBytes], the journal keeps every segment. d must
// be positive.
func WithMaxAge(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return &events.OptionError{Option: "filejournal.WithMaxAge", Value: d.String(), Reason: "must be positive"}
		}
		c.maxAge = d
		return nil
	})
}

// WithMaxBytes makes retention remove the oldest sealed segments while the
// sealed segments together take more than n bytes. n must be positive.
func WithMaxBytes(n int64) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return &events.OptionError{Option: "filejournal.WithMaxBytes", Value: fmt.Sprint(n), Reason: "must be positive"}
		}
		c.maxBytes = n
		return nil
	})
}

// WithChainKey makes the journal chain its records with HMAC-SHA-256 under
// key (link hashes "hmac-sha256:…", see [events.LinkHash]) instead of bare
// SHA-256: whoever edits the files cannot recompute the chain without the
// key. Give the same key to [VerifyOptions] to check it. key must have at
// least [events.MinChainKeySize] bytes; it is copied.
//
// To change the key, give the new one as key and the keys used before as
// oldKeys: new records are linked under key, and the links made under an
// old key still check, when Open reads the active segment and when
// [Verify] is given the same old keys ([VerifyOptions].OldKeys). Open
// checks the links of the active segment, so a key changed without the old
// one among oldKeys finds those links broken, and Open refuses the
// journal. Each old key must have at least [events.MinChainKeySize] bytes
// too.
func WithChainKey(key []byte, oldKeys ...[]byte) Option {
	return optionFunc(func(c *config) error {
		if err := events.CheckChainKey(key); err != nil {
			return &events.OptionError{Option: "filejournal.WithChainKey", Value: fmt.Sprintf("%d bytes", len(key)), Reason: err.Error()}
		}
		c.key, c.oldKeys = slices.Clone(key), nil
		for i, k := range oldKeys {
			if err := events.CheckChainKey(k); err != nil {
				return &events.OptionError{Option: "filejournal.WithChainKey", Value: fmt.Sprintf("old key %d of %d bytes", i, len(k)), Reason: err.Error()}
			}
			c.oldKeys = append(c.oldKeys, slices.Clone(k))
		}
		return nil
	})
}

// chainCheck is how the writer checks the links it reads.
func (c *config) chainCheck() events.ChainCheck {
	return events.ChainCheck{Key: c.key, OldKeys: c.oldKeys}
}

// WithCheckpointHandler sets the function that receives each checkpoint
// once it is durable: the segment sealed and its head, the link hash of
// the whole sealed segment. Handing the head to something outside the
// journal's files (logs, traces, another system) witnesses it: [Verify]
// given that head later proves that the journal still holds, unchanged,
// every record up to the checkpoint. It is called on the goroutine that
// appends, under the journal's lock: it must not call back into the
// journal. Default: log through slog.Default at level Info.
func WithCheckpointHandler(f func(Checkpoint)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "filejournal.WithCheckpointHandler", Value: "nil", Reason: "must be a function"}
		}
		c.checkpoint = f
		return nil
	})
}

// WithRetentionHandler sets the function that receives what each retention
// pass removed ([WithMaxAge], [WithMaxBytes]). It is called under the
// journal's lock, like the checkpoint handler. Default: log through
// slog.Default at level Info.
func WithRetentionHandler(f func(Removal)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "filejournal.WithRetentionHandler", Value: "nil", Reason: "must be a function"}
		}
		c.retained = f
		return nil
	})
}

// withClock sets the clock retention measures age against (tests).
func withClock(now func() time.Time) Option {
	return optionFunc(func(c *config) error {
		c.now = now
		return nil
	})
}

// WithFileMode sets the permission bits of a journal file that [Open]
// creates. An existing file, and the segments and active files written
// after it, keep the existing file's bits. Default [DefaultFileMode] (0o600).
func WithFileMode(mode fs.FileMode) Option {
	return optionFunc(func(c *config) error {
		if mode&^fs.ModePerm != 0 || mode&0o600 != 0o600 {
			return &events.OptionError{Option: "filejournal.WithFileMode", Value: fmt.Sprintf("%v", mode), Reason: "must be permission bits only, including owner read and write (0o600)"}
		}
		c.mode = mode
		return nil
	})
}

// WithWarningHandler sets the function that receives what the journal
// recovered from without failing: an incomplete last record cut off on open
// (matching [ErrTornRecord]), a corrupt file set aside under
// [WithCorruptionRecovery] (matching [ErrCorrupt]), a leftover temporary file
// of an interrupted seal removed on open, a seal that a crash interrupted and
// Open finished (or a copy of an earlier state of the active segment it
// removed), a missing active segment started again from the newest sealed
// one, a sealed segment missing from the sequence (matching
// [ErrMissingSegment]), and a seal or retention pass that failed, on open or
// after an append that succeeded. Each is a [*FileError]. It is called on
// the goroutine that opens or appends, under the journal's lock:
// it must not call back into the journal. Pass the breaker's error handler
// to see journal warnings next to the breaker's errors. Default: log
// through slog.Default at level Warn.
func WithWarningHandler(f func(error)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "filejournal.WithWarningHandler", Value: "nil", Reason: "must be a function"}
		}
		c.warn = f
		return nil
	})
}

// WithCorruptionRecovery lets [Open] start from an active segment that
// holds a corrupt record (one that does not decode, breaks its breaker's
// sequence or chain, or is not a legal transition): the whole file is first
// copied aside, byte for byte, to path.corrupt-<UTC time>, then cut back to
// the end of the last good line before the bad one, so that the journal
// goes on from the records before it, with their links; the records from
// that line on are not loaded. When no record was read before the bad
// line (its header or checkpoint is bad), the journal starts again from
// the end of the newest sealed segment, as when the active segment is
// missing. The recovery is reported to the warning handler. Sealed
// segments are never modified. A record of a newer format version is never
// recovered from: Open still refuses the file.
func WithCorruptionRecovery() Option {
	return optionFunc(func(c *config) error {
		c.recover = true
		return nil
	})
}
