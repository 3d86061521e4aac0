package filejournal

import (
	"fmt"
	"io/fs"
	"log/slog"

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
	// lose the most recent ones. [File.Close] and compaction still fsync.
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
//	option                   default
//	WithSync                 SyncAlways: fsync before Append returns
//	WithRetention            DefaultFileRetention transitions per breaker kept by compaction
//	WithCompactAfter         twice the retention: a breaker holding more compacts the file
//	WithoutAutoCompaction    not given: the file compacts itself
//	WithFileMode             0o600 for a file Open creates (an existing file keeps its own)
//	WithWarningHandler       log through slog.Default at level Warn
//	WithCorruptionRecovery   not given: a corrupt record makes Open fail
const (
	DefaultFileRetention = 1000
	DefaultFileMode      = fs.FileMode(0o600)
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
	sync         SyncPolicy
	keep         int
	compactAfter int // 0: twice keep
	autoCompact  bool
	mode         fs.FileMode
	warn         func(error)
	recover      bool
}

func defaults() config {
	return config{
		sync:        SyncAlways,
		keep:        DefaultFileRetention,
		autoCompact: true,
		mode:        DefaultFileMode,
		warn: func(err error) {
			slog.Default().Warn("circuitry: file journal warning", "error", err)
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
	if cfg.compactAfter == 0 {
		cfg.compactAfter = 2 * cfg.keep
	} else if cfg.compactAfter <= cfg.keep {
		return cfg, &events.OptionError{Option: "filejournal.WithCompactAfter", Value: fmt.Sprint(cfg.compactAfter), Reason: fmt.Sprintf("must be above the retention (%d), the records compaction keeps", cfg.keep)}
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

// WithRetention sets how many of each breaker's newest transitions
// compaction keeps as records; older ones are folded into the breaker's
// snapshot record. n must be at least 1. Default [DefaultFileRetention].
func WithRetention(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return &events.OptionError{Option: "filejournal.WithRetention", Value: fmt.Sprint(n), Reason: "must be at least 1"}
		}
		c.keep = n
		return nil
	})
}

// WithCompactAfter sets when the journal compacts itself: after an append
// that leaves a breaker with more than n transition records in the file. n
// must be above the retention. Default: twice the retention.
func WithCompactAfter(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 2 {
			return &events.OptionError{Option: "filejournal.WithCompactAfter", Value: fmt.Sprint(n), Reason: "must be at least 2"}
		}
		c.compactAfter = n
		return nil
	})
}

// WithoutAutoCompaction stops the journal from compacting itself: the file,
// and the records the [File] holds in memory, then grow until [File.Compact]
// is called.
func WithoutAutoCompaction() Option {
	return optionFunc(func(c *config) error {
		c.autoCompact = false
		return nil
	})
}

// WithFileMode sets the permission bits of a journal file that [Open]
// creates. An existing file, and the file compaction writes in its place,
// keep the existing file's bits. Default [DefaultFileMode] (0o600).
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
// of an interrupted compaction removed on open, and an automatic compaction
// that failed after its append had succeeded. Each is a [*FileError]. It is
// called on the goroutine that opens or appends, under the journal's lock:
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

// WithCorruptionRecovery lets [Open] start from a file that holds a
// corrupt record (one that does not decode, breaks its breaker's sequence or
// is not a legal transition): the whole file is first copied aside, byte for
// byte, to path.corrupt-<UTC time>, and the journal then starts from the
// last good state, the fold of every record before the first bad line; the
// records from that line on are not loaded. The fold is written back to path
// as a compacted file (atomically) and the recovery is reported to the
// warning handler. A record of a newer format version is never recovered
// from: Open still refuses the file.
func WithCorruptionRecovery() Option {
	return optionFunc(func(c *config) error {
		c.recover = true
		return nil
	})
}
