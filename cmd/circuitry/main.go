// Command circuitry reads the journal of circuitry breakers (a
// [filejournal.File], opened by a service with [filejournal.Open]): the audit
// trail of every transition, across every segment, and the state each
// breaker resumes from.
//
// It only reads: it takes no lock and changes nothing, so it may be run on
// the journal of a running service. An incomplete last line (an append in
// progress, or one torn by a crash) is ignored, with a note on stderr. It
// reads record by record, in memory that does not grow with the history,
// and skips the sealed segments whose index says they hold nothing asked
// for.
//
// Usage:
//
//	circuitry history [-breaker names] [-event events] [-since T] [-until T] [-json] FILE
//	circuitry export [-format csv|jsonl] [-breaker names] [-event events] [-since T] [-until T] FILE
//	circuitry verify [-key-file KEYFILE [-old-key-file KEYFILE]...] [-head HASH]... [-segment] FILE
//	circuitry state [-breaker names] [-at T] [-json] FILE
//	circuitry diagram [-breaker name] [FILE]
//
// FILE is the journal's path: its active segment, next to which the sealed
// segments are (FILE.00000001 and on).
//
// history prints the transitions in the order they were stored (oldest
// segment first) as a table: the time, breaker, sequence number, event,
// states, how long the breaker had been in the state it left (AFTER: since
// its previous transition), the open period chosen, the writer, and the
// reason (the policy and its figures, the last error, or the operator and
// their note). The table is aligned in runs of 4096 rows. Breakers whose
// oldest records are no longer held (removed by retention, or compacted by
// a version before segments) get a note above the table. -breaker and
// -event take comma-separated lists; -since and -until keep the
// transitions at or after -since and before -until, each an RFC 3339 time
// (2026-11-24T15:04:05Z), a date (2026-11-24, midnight UTC) or a duration
// ago (36h). With -json it prints the kept transitions as JSON Lines in the
// journal's own stable encoding (package events), and nothing else.
//
// export writes the same selection for auditors and spreadsheets: CSV with
// a column per field and per reason field (text a spreadsheet would take
// for a formula gets a leading apostrophe), or with -format jsonl the
// records in the journal's encoding.
//
// verify reads and checks every segment and every record: each line
// decodes, each breaker's records follow on from each other (and from the
// checkpoint their segment starts with) and are legal transitions, each
// record links to its predecessor by its hash, each sealed segment's index
// is true, each segment's header links to the whole segment before it, and
// no segment is missing that retention did not remove. With -key-file it
// checks a keyed chain with the key in KEYFILE (its bytes, less a trailing
// newline: the key given to filejournal.WithChainKey), and then requires
// every link to be keyed; each -old-key-file is a key the journal had
// before, whose links still check. Each -head is a checkpoint head witnessed outside
// the journal (logged by the journal's checkpoint handler), which must be
// the hash of a sealed segment the journal holds. It prints a summary and
// what the chain proves, and exits 0, or prints the first problem (file,
// line, breaker, sequence number and reason) and exits 1. With -segment,
// FILE is one sealed segment (FILE.00000042, or a copy archived elsewhere),
// checked on its own; verify prints its head, which each -head must be.
//
// state prints, for each breaker, the state a breaker built over this
// journal resumes in: the fold of its checkpoint and records (events.Load),
// with, for an open breaker, when its open period ends and how long remains.
// With -at T (same forms as -since) it prints the state at T instead: the
// fold of the records up to T, inclusive, with the time remaining at T; a
// breaker without a record by then is closed at seq 0, and one whose records
// up to T are no longer held is an error. With -json it prints one JSON
// object per line with the fields breaker, seq, state, event, since,
// open_for, open_until, remaining (these three only when open) and opens
// (the transitions to open since the breaker was last closed, only when it
// is not closed); durations are Go duration strings, times RFC 3339.
//
// diagram prints the breaker's state machine as a Mermaid state diagram,
// rendered by looplab/fsm through machine.Breaker.Diagram. Given FILE, it
// starts from the current state of the breaker named by -breaker (which may
// be left out when the journal holds one breaker).
//
// Every command given a breaker (-breaker) that the journal does not hold
// fails, naming it.
//
// Exit status: 0 on success, 1 when the journal cannot be read, holds a bad
// record or does not hold a breaker asked for, 2 for a usage error.
package main

import (
	"fmt"
	"io"
	"iter"
	"os"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/internal/audit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Now()))
}

// command is the audit command over a journal file.
var command = audit.Command{Name: "circuitry", Arg: "FILE", Open: readJournal, VerifySegment: verifySegment}

// verifySegment checks one sealed segment on its own.
func verifySegment(path string, opts audit.VerifyOptions) (audit.VerifySummary, string, error) {
	rep, err := filejournal.VerifySegment(path, filejournal.VerifyOptions{Key: opts.Key, OldKeys: opts.OldKeys, RequireKey: opts.RequireKey, Heads: opts.Heads})
	if err != nil {
		return audit.VerifySummary{}, "", err
	}
	return audit.VerifySummary{
		Counts:   audit.Counts{Breakers: rep.Breakers, Records: rep.Index.Records, Snapshots: rep.Snapshots},
		Segments: 1, Linked: rep.Linked, Unlinked: rep.Unlinked, Unchecked: rep.Unchecked, Keyed: rep.Keyed,
		Heads: len(opts.Heads), Latest: rep.Latest,
	}, rep.Head, nil
}

// run runs the command line args, writing to stdout and stderr, and returns
// the exit status. now is the time "ago" durations and remaining open
// periods are measured from.
func run(args []string, stdout, stderr io.Writer, now time.Time) int {
	return command.Run(args, stdout, stderr, now)
}

// readJournal reads the active segment of the journal at path without
// locking it (the sealed segments are read as the commands need them), and
// notes on stderr an incomplete last line that was ignored. On a bad record
// it returns the journal as read up to it, with the error.
func readJournal(path string, stderr io.Writer) (audit.Journal, error) {
	f, err := filejournal.ReadFile(path)
	if f == nil {
		return nil, err
	}
	if n := f.Stats().TornBytes; n > 0 {
		fmt.Fprintf(stderr, "note: %s: ignored %d bytes after the last complete record (an append in progress, or torn by a crash: the service cuts them when it opens the journal)\n", path, n)
	}
	return file{f}, err
}

// file is a journal file as the audit commands read it: its active segment
// in memory, its whole history streamed.
type file struct{ *filejournal.File }

var (
	_ audit.Streamer = file{}
	_ audit.Verifier = file{}
	_ audit.Pruner   = file{}
)

// Pruned returns the folds of the records the journal no longer holds.
func (f file) Pruned() (map[string]events.Snapshot, error) { return filejournal.Oldest(f.Path()) }

// Counts returns what the file holds.
func (f file) Counts() audit.Counts {
	st := f.Stats()
	return audit.Counts{Breakers: st.Breakers, Records: st.Records, Snapshots: st.Snapshots}
}

// Records streams the records of every segment that af keeps.
func (f file) Records(af audit.Filter) iter.Seq2[audit.Entry, error] {
	return func(yield func(audit.Entry, error) bool) {
		for r, err := range filejournal.Records(f.Path(), filejournal.Filter{Breakers: af.Breakers, Since: af.Since, Until: af.Until}) {
			if !yield(audit.Entry{Transition: r.Transition, Since: r.Since}, err) || err != nil {
				return
			}
		}
	}
}

// StateAt folds each breaker that breakers accepts up to at, from the
// checkpoint of the oldest segment that matters.
func (f file) StateAt(at time.Time, breakers func(name string) bool) (map[string]events.Snapshot, error) {
	return filejournal.StateAtOf(f.Path(), at, breakers)
}

// Verify checks every segment, and the links between them.
func (f file) Verify(opts audit.VerifyOptions) (audit.VerifySummary, error) {
	rep, err := filejournal.Verify(f.Path(), filejournal.VerifyOptions{Key: opts.Key, OldKeys: opts.OldKeys, RequireKey: opts.RequireKey, Heads: opts.Heads})
	if err != nil {
		return audit.VerifySummary{}, err
	}
	return audit.VerifySummary{
		Counts:   audit.Counts{Breakers: rep.Breakers, Records: rep.Records, Snapshots: rep.Snapshots},
		Segments: rep.Segments, RemovedThrough: rep.RemovedThrough,
		Linked: rep.Linked, Unlinked: rep.Unlinked, Unchecked: rep.Unchecked, Keyed: rep.Keyed,
		Heads: rep.Heads, Latest: rep.Latest,
	}, nil
}
