package filejournal

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/circuitry-go/circuitry/events"
)

// Errors of the [File] journal; match them with [errors.Is]. Each comes
// wrapped in a [*FileError] that names the file.
var (
	// ErrLocked: another writer holds the journal file's lock: another
	// process, or another [File] of this process opened on the same file.
	ErrLocked = errors.New("locked by another writer")
	// ErrNewerFormat: a record's format version is above [events.FormatVersion].
	// The file was written by a newer circuitry; it is refused, never
	// modified.
	ErrNewerFormat = errors.New("newer journal format")
	// ErrCorrupt: a record in the file does not decode, does not follow its
	// breaker's history, or is an incomplete line that is not the start of
	// a record. The error is a [*FileError] holding a [*events.RecordError] whose
	// Position is the line.
	ErrCorrupt = errors.New("corrupt record")
	// ErrTornRecord: the file ended with an incomplete record (the process
	// stopped during an append that never returned). [Open] cuts it off
	// and reports it as a warning; [ReadFile] ignores it.
	ErrTornRecord = errors.New("incomplete last record")
	// ErrReadOnly: an append to a journal opened with [ReadFile].
	ErrReadOnly = errors.New("journal opened read-only")
	// ErrClosed: an append to, or a checkpoint of, a closed journal.
	ErrClosed = errors.New("journal is closed")
	// ErrMissingSegment: a sealed segment is not where the journal's
	// sequence of segments says it is, and no retention pass removed it.
	// [Open] reports it as a warning (appends go on); [Verify] fails.
	ErrMissingSegment = errors.New("missing segment")
	// ErrForeignSegment: a file named as a sealed segment of the journal
	// does not belong in its sequence: newer than the active segment, next
	// to a file written before segments, or with another segment's header.
	// Open refuses the journal, and changes nothing.
	ErrForeignSegment = errors.New("foreign segment")
)

// FileError is an error of the [File] journal: the file it concerns, what
// the journal was doing, and why. For a bad record, Err is a [*events.RecordError]
// whose Position is the 1-based line in the file.
type FileError struct {
	// Path is the journal file.
	Path string
	// Op is what failed: "open", "lock", "read", "append", "sync",
	// "truncate", "seal", "checkpoint", "retention", "recover", "verify"
	// or "close".
	Op string
	// Err is the cause.
	Err error
}

func (e *FileError) Error() string {
	if re, ok := e.Err.(*events.RecordError); ok {
		if re.Breaker == "" && re.Seq == 0 {
			return fmt.Sprintf("circuitry: journal %s: line %d: %v", e.Path, re.Position, re.Err)
		}
		return fmt.Sprintf("circuitry: journal %s: line %d (breaker %q, seq %d): %v", e.Path, re.Position, re.Breaker, re.Seq, re.Err)
	}
	err := e.Err
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == e.Path {
		err = pe.Err // the path is said once
	}
	return fmt.Sprintf("circuitry: journal %s: %s: %v", e.Path, e.Op, err)
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// Line returns the line of the file that the error is about, or 0.
func (e *FileError) Line() int {
	if re, ok := e.Err.(*events.RecordError); ok {
		return re.Position
	}
	return 0
}
