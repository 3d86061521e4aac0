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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Now()))
}

// errUsage marks a usage error: exit status 2.
var errUsage = errors.New("usage")

const usage = `usage:
  circuitry history [-breaker names] [-event events] [-since T] [-until T] [-json] FILE
  circuitry verify FILE
  circuitry state [-breaker names] [-at T] [-json] FILE
  circuitry diagram [-breaker name] [FILE]

T is an RFC 3339 time (2026-11-24T15:04:05Z), a date (2026-11-24) or a duration ago (36h).
Run "circuitry COMMAND -h" for a command's flags.
`

// run runs the command line args, writing to stdout and stderr, and returns
// the exit status. now is the time "ago" durations and remaining open
// periods are measured from.
func run(args []string, stdout, stderr io.Writer, now time.Time) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "history":
		err = history(rest, stdout, stderr, now)
	case "verify":
		err = verify(rest, stdout, stderr)
	case "state":
		err = state(rest, stdout, stderr, now)
	case "diagram":
		err = diagram(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "circuitry %s: %v\n", args[0], err)
		if !errors.Is(err, errFlags) {
			fmt.Fprint(stderr, usage)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "circuitry %s: %v\n", args[0], err)
		return 1
	}
}

// errFlags marks a usage error the flag package has already explained.
var errFlags = fmt.Errorf("%w: bad flags", errUsage)

// parse parses flags and positional arguments in any order, and checks the
// number of positional arguments is between min and max.
func parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errFlags
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || len(pos) > max {
		want := fmt.Sprintf("%d file argument", max)
		if min != max {
			want = fmt.Sprintf("at most %d file argument", max)
		}
		return nil, fmt.Errorf("%w: want %s, got %d %q", errUsage, want, len(pos), pos)
	}
	return pos, nil
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("circuitry "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
