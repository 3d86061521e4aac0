package audit

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// Journal is what the commands read: a journal that can list its breakers
// and count what it holds. Snapshot returns [events.Initial] for a journal
// that does not compact.
type Journal interface {
	events.Journal
	events.Snapshotter
	// Breakers returns the names of the breakers the journal holds, sorted.
	Breakers() []string
	// Counts returns how many breakers, transition records and snapshot
	// records the journal holds.
	Counts() Counts
}

// Counts is what a journal holds, as verify reports it.
type Counts struct {
	Breakers, Records, Snapshots int
}

// Command is one build of the audit command: its name, what its journal
// argument is, and how to open one.
type Command struct {
	// Name is the program's name, as usage and errors show it.
	Name string
	// Arg names the journal argument in usage, such as FILE or URL.
	Arg string
	// Open opens the journal at addr for reading only, noting on stderr
	// what it ignored. On a bad record it may return the journal as read
	// up to it, with the error.
	Open func(addr string, stderr io.Writer) (Journal, error)
	// VerifySegment, when set, checks one sealed segment at path on its
	// own ("verify -segment"), returning what it read and the segment's
	// head.
	VerifySegment func(path string, opts VerifyOptions) (VerifySummary, string, error)
}

func (c *Command) open(addr string, stderr io.Writer) (Journal, error) { return c.Open(addr, stderr) }

// errUsage marks a usage error: exit status 2.
var errUsage = errors.New("usage")

const usageText = `usage:
  NAME history [-breaker names] [-event events] [-since T] [-until T] [-json] ARG
  NAME export [-format csv|jsonl] [-breaker names] [-event events] [-since T] [-until T] ARG
  NAME verify [-key-file KEYFILE [-old-key-file KEYFILE]...] [-head HASH]... [-segment] ARG
  NAME state [-breaker names] [-at T] [-json] ARG
  NAME diagram [-breaker name] [ARG]

T is an RFC 3339 time (2026-11-24T15:04:05Z), a date (2026-11-24) or a duration ago (36h).
Run "NAME COMMAND -h" for a command's flags.
`

func (c *Command) usage() string {
	return strings.NewReplacer("NAME", c.Name, "ARG", c.Arg).Replace(usageText)
}

// Run runs the command line args, writing to stdout and stderr, and returns
// the exit status: 0 on success, 1 when the journal cannot be read, holds a
// bad record or does not hold a breaker asked for, 2 for a usage error. now
// is the time "ago" durations and remaining open periods are measured from.
func (c *Command) Run(args []string, stdout, stderr io.Writer, now time.Time) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, c.usage())
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "history":
		err = c.history(rest, stdout, stderr, now)
	case "export":
		err = c.export(rest, stdout, stderr, now)
	case "verify":
		err = c.verify(rest, stdout, stderr)
	case "state":
		err = c.state(rest, stdout, stderr, now)
	case "diagram":
		err = c.diagram(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, c.usage())
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
		fmt.Fprintf(stderr, "%s %s: %v\n", c.Name, args[0], err)
		if !errors.Is(err, errFlags) {
			fmt.Fprint(stderr, c.usage())
		}
		return 2
	default:
		fmt.Fprintf(stderr, "%s %s: %v\n", c.Name, args[0], err)
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

func (c *Command) newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name+" "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
