package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/circuitry-go/circuitry/events"
)

// VerifyOptions is what verify checks beyond every record.
type VerifyOptions struct {
	// Key checks keyed links, and OldKeys those made under keys the
	// journal had before; with RequireKey, every link must be keyed.
	Key        []byte
	OldKeys    [][]byte
	RequireKey bool
	// Heads are checkpoint heads witnessed outside the journal, each of
	// which must be in it.
	Heads []string
}

// VerifySummary is what a [Verifier] read.
type VerifySummary struct {
	Counts
	// Segments is the number of segments read, RemovedThrough the newest
	// one retention removed (0: none).
	Segments       int
	RemovedThrough uint64
	// Linked, Unlinked, Unchecked and Keyed count records by their link
	// to their predecessor (see [events.Link]); Keyed those keyed.
	Linked, Unlinked, Unchecked, Keyed int
	// Heads is the number of witnessed heads found.
	Heads int
	// Latest is the newest transition record by time (zero without one).
	Latest events.Transition
}

// Verifier is implemented by journals that check themselves, record by
// record, links and witnessed heads included.
type Verifier interface {
	Verify(opts VerifyOptions) (VerifySummary, error)
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func (c *Command) verify(args []string, stdout, stderr io.Writer) error {
	fs := c.newFlags("verify", stderr)
	keyFile := fs.String("key-file", "", "check keyed links with the key in this `file` (its bytes, less a trailing newline); every link must then be keyed")
	var heads, oldKeyFiles listFlag
	fs.Var(&oldKeyFiles, "old-key-file", "a key the journal had before the one in -key-file, in this `file`, whose links still check; repeatable")
	fs.Var(&heads, "head", "a checkpoint head `hash` witnessed outside the journal (logs, traces), which must be in it; repeatable")
	segment := fs.Bool("segment", false, "the argument is one sealed segment: check it on its own, and print its head")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *segment && c.VerifySegment == nil {
		return fmt.Errorf("%w: -segment: this journal has no sealed segments", errUsage)
	}
	path := pos[0]
	var opts VerifyOptions
	if *keyFile != "" {
		key, err := readKey("-key-file", *keyFile)
		if err != nil {
			return err
		}
		opts.Key, opts.RequireKey = key, true
	}
	if len(oldKeyFiles) > 0 && opts.Key == nil {
		return fmt.Errorf("%w: -old-key-file needs -key-file, the journal's current key", errUsage)
	}
	for _, f := range oldKeyFiles {
		key, err := readKey("-old-key-file", f)
		if err != nil {
			return err
		}
		opts.OldKeys = append(opts.OldKeys, key)
	}
	opts.Heads = heads
	if *segment {
		sum, head, err := c.VerifySegment(path, opts)
		if err != nil {
			return err
		}
		printVerify(stdout, path, sum, opts, true)
		fmt.Fprintf(stdout, "head: %s\n", head)
		return nil
	}
	f, err := c.open(path, stderr)
	if err != nil {
		return err
	}
	if v, ok := f.(Verifier); ok {
		sum, err := v.Verify(opts)
		if err != nil {
			return err
		}
		printVerify(stdout, path, sum, opts, false)
		return nil
	}
	if opts.Key != nil || len(opts.Heads) > 0 {
		return fmt.Errorf("%w: this journal does not check -key-file or -head", errUsage)
	}
	// Opening the journal checked every record it decodes; fold each
	// breaker the way a breaker resuming from the journal does, from its
	// snapshot.
	for _, name := range f.Breakers() {
		if _, err := events.Load(context.Background(), f, name); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	sum := VerifySummary{Counts: f.Counts()}
	for e, err := range records(f, Filter{}) {
		if err != nil {
			return err
		}
		if !e.Time.Before(sum.Latest.Time) {
			sum.Latest = e.Transition
		}
	}
	printVerify(stdout, path, sum, opts, false)
	return nil
}

// readKey reads a chain key from path: its bytes, less a trailing newline.
func readKey(flag, path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	key = bytes.TrimSuffix(bytes.TrimSuffix(key, []byte("\n")), []byte("\r"))
	if err := events.CheckChainKey(key); err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", errUsage, flag, path, err)
	}
	return key, nil
}

// printVerify prints what verify found, and what it proves; segment: of
// one sealed segment, checked on its own.
func printVerify(w io.Writer, path string, s VerifySummary, opts VerifyOptions, segment bool) {
	fmt.Fprintf(w, "%s: ok: %s, %s, %s", path,
		count(s.Breakers, "breaker"), count(s.Records, "transition record"), count(s.Snapshots, "snapshot record"))
	if s.Latest.Breaker != "" {
		l := s.Latest
		fmt.Fprintf(w, "; latest transition %s %s #%d %s", tableTime(l.Time), l.Breaker, l.Seq, l.Event)
	}
	fmt.Fprintln(w)
	if s.Segments > 0 {
		fmt.Fprintf(w, "segments: %d", s.Segments)
		if s.RemovedThrough > 0 {
			fmt.Fprintf(w, "; segments 1 to %d were removed by retention, as the journal records", s.RemovedThrough)
		}
		fmt.Fprintln(w)
	}
	switch {
	case s.Linked+s.Unchecked > 0:
		printChain(w, s, opts)
	case s.Records > 0:
		fmt.Fprintln(w, "chain: no record is linked to its predecessor (written before records were chained): edits cannot be detected")
		fallthrough
	default:
		if s.Heads == 0 {
			return // nothing chained, nothing witnessed: nothing more to say
		}
	}
	switch {
	case s.Heads > 0 && segment:
		// The segments before it were not read: the head proves this one.
		fmt.Fprintf(w, "heads: %s found: the segment is the one sealed, unchanged (verify the journal to check the segments before it)\n", count(s.Heads, "witnessed head"))
	case s.Heads > 0 && s.RemovedThrough > 0:
		fmt.Fprintf(w, "heads: %s found: nothing after segment %d (the last retention removed) up to %s was changed or dropped\n",
			count(s.Heads, "witnessed head"), s.RemovedThrough, plural(s.Heads, "its checkpoint", "their checkpoints"))
	case s.Heads > 0:
		fmt.Fprintf(w, "heads: %s found: nothing up to %s was changed or dropped\n", count(s.Heads, "witnessed head"), plural(s.Heads, "its checkpoint", "their checkpoints"))
	default:
		fmt.Fprintln(w, "heads: none given (-head): records dropped from the end of the journal leave a valid chain")
	}
}

// printChain prints how the records link, and what that proves.
func printChain(w io.Writer, s VerifySummary, opts VerifyOptions) {
	kind := "bare SHA-256: it catches accidents and partial edits, not a rewrite by someone who recomputes it"
	if opts.Key != nil && s.Keyed == s.Linked+s.Unchecked {
		kind = "keyed with the key given: no one without the key could have rewritten it"
	} else if s.Keyed > 0 && opts.Key == nil {
		kind = "keyed, not checked: give -key-file to check it"
	}
	fmt.Fprintf(w, "chain: %s linked (%s)", count(s.Linked, "record"), kind)
	if s.Unchecked > 0 {
		fmt.Fprintf(w, ", %d unchecked", s.Unchecked)
	}
	if s.Unlinked > 0 {
		fmt.Fprintf(w, ", %d with no predecessor to link to", s.Unlinked)
	}
	fmt.Fprintln(w)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// count formats n things.
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
