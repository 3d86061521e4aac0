// Command circuitry reads the journal file of circuitry breakers (an
// [filejournal.File], opened by a service with [events.Open]): the audit
// trail of every transition, and the state each breaker resumes from.
//
// It only reads: it takes no lock and changes nothing, so it may be run on
// the journal of a running service. An incomplete last line (an append in
// progress, or one torn by a crash) is ignored, with a note on stderr.
//
// Usage:
//
//	circuitry history [-breaker names] [-event events] [-since T] [-until T] [-json] FILE
//	circuitry verify FILE
//	circuitry state [-breaker names] [-at T] [-json] FILE
//	circuitry diagram [-breaker name] [FILE]
//
// history prints the transitions, oldest first (by recorded time, then
// breaker and sequence number), as a table: the time, breaker, sequence
// number, event, states, how long the breaker then stayed in the new state
// (until its next transition; "current" for its last), the open period
// chosen, and the reason (the policy and its figures, the last error, or
// the operator and their note). Breakers whose older records were
// compacted away get a note above the table. -breaker and -event take
// comma-separated lists; -since and -until keep the transitions at or after
// -since and before -until, each an RFC 3339 time (2026-11-24T15:04:05Z), a
// date (2026-11-24, midnight UTC) or a duration ago (36h). With -json it
// prints the kept transitions as JSON Lines in the journal's own stable
// encoding (package events, FormatVersion 1), and nothing else.
//
// verify reads and checks every record, as a service opening the journal
// would: each line decodes, each breaker's records follow on from each other
// (and from its snapshot) and are legal transitions. It prints a summary and
// exits 0, or prints the first bad record (file, line, breaker, sequence
// number and reason) and exits 1.
//
// state prints, for each breaker, the state a breaker built over this
// journal resumes in: the fold of its snapshot and records (events.Load),
// with, for an open breaker, when its open period ends and how long remains.
// With -at T (same forms as -since) it prints the state at T instead: the
// fold of the records up to T, inclusive, with the time remaining at T; a
// breaker without a record by then is closed at seq 0, and one whose records
// up to T were compacted away is an error. With -json it prints one JSON
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
	"os"
	"time"

	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/internal/audit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Now()))
}

// command is the audit command over a journal file.
var command = audit.Command{Name: "circuitry", Arg: "FILE", Open: readJournal}

// run runs the command line args, writing to stdout and stderr, and returns
// the exit status. now is the time "ago" durations and remaining open
// periods are measured from.
func run(args []string, stdout, stderr io.Writer, now time.Time) int {
	return command.Run(args, stdout, stderr, now)
}

// readJournal reads the journal at path without locking it, and notes on
// stderr an incomplete last line that was ignored. On a bad record it
// returns the journal as read up to it, with the error.
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

// file is a journal file as the audit commands read it.
type file struct{ *filejournal.File }

// Counts returns what the file holds.
func (f file) Counts() audit.Counts {
	st := f.Stats()
	return audit.Counts{Breakers: st.Breakers, Records: st.Records, Snapshots: st.Snapshots}
}
