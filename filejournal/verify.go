package filejournal

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/circuitry-go/circuitry/events"
)

// ErrHeadNotFound: a head given to [Verify] is not the link hash of any
// sealed segment the journal holds. The journal was rewritten, or cut
// before the checkpoint that head was witnessed at (or retention removed
// that segment).
var ErrHeadNotFound = errors.New("witnessed head not found")

// VerifyOptions says what [Verify] checks beyond every record and link.
type VerifyOptions struct {
	// Key checks keyed links (a journal written [WithChainKey]); without
	// it, they are counted as unchecked.
	Key []byte
	// OldKeys check the links and hashes made under keys the journal had
	// before Key (see [WithChainKey]).
	OldKeys [][]byte
	// RequireKey refuses every link, head and segment hash that is not
	// keyed with Key: how a chain recomputed without the key shows.
	RequireKey bool
	// Heads are checkpoint heads witnessed outside the journal (see
	// [WithCheckpointHandler]): each must be the link hash of a sealed
	// segment the journal holds, or Verify fails with [ErrHeadNotFound].
	// A head that is not a link hash (an empty one, say) is an
	// [*events.OptionError].
	Heads []string
}

// VerifyReport is what [Verify] read.
type VerifyReport struct {
	// Segments is the number of segments read (the sealed ones and the
	// active one), and RemovedThrough the newest segment that retention
	// removed (0: none).
	Segments       int
	RemovedThrough uint64
	// Breakers is the number of breakers in the journal; Records the
	// number of transition records in every segment, and Snapshots the
	// number of snapshot records in the active segment's checkpoint.
	Breakers, Records, Snapshots int
	// Linked, Unlinked and Unchecked count the records by how they link to
	// their predecessor (see [events.Link]).
	Linked, Unlinked, Unchecked int
	// Keyed is the number of records whose link is keyed.
	Keyed int
	// Heads is the number of witnessed heads found.
	Heads int
	// Latest is the newest transition record by time (zero without one).
	Latest events.Transition
	// TornBytes is the length of an incomplete last line of the active
	// segment (an append in progress, or torn by a crash), not checked.
	TornBytes int64
}

// Verify reads every segment of the journal at path, record by record in
// constant memory (per segment, of the order of its breakers), without
// locking or changing anything, so it may run while a service appends (a
// seal meanwhile changes nothing of what it reads; a retention pass that
// removes a segment before it is read makes it fail: run it again). Sealed
// segments are checked on their own, two or more at a time: every line,
// every breaker's history from the segment's checkpoint, every record's link
// to its predecessor, and the seal line against what the segment holds.
// Then the sequence: each segment's header links to the whole segment
// before it, its checkpoint is the fold of everything before and carries
// the link hashes of the records it folds, no segment is missing that
// retention did not remove, none is out of place, and each witnessed head
// is the link hash of a sealed segment held. The oldest problem is returned
// as a [*FileError] naming the file (and for a bad line, a
// [*events.RecordError] naming the line: [FileError.Line]), matching
// [ErrCorrupt], [events.ErrBrokenChain], [ErrNewerFormat],
// [ErrMissingSegment], [ErrForeignSegment] or [ErrHeadNotFound].
//
// What a passing Verify proves (see "The chain" on [File]):
//
//   - that the files hold a well-formed journal whose every link holds: no
//     accident or partial edit changed, removed or inserted a record, or
//     lost, cut or moved a segment;
//   - with a bare chain, nothing more: whoever can edit the files can
//     recompute every hash after what they changed;
//   - with Key and RequireKey, that every link was made with the key: no
//     one without it changed, removed or inserted a record that a link
//     covers. The newest record of each breaker in the active segment is
//     covered by none, and a breaker's first record links to nothing: those
//     can still be changed, or added;
//   - with Heads, that every record up to each witnessed checkpoint is there,
//     unchanged.
//
// It does not prove that the newest records were not dropped: cutting the
// active segment leaves a valid chain, the newest record of each breaker
// has no successor to vouch for it, and the records after the newest
// witnessed head can be dropped unseen.
func Verify(path string, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	if err := opts.check(); err != nil {
		return rep, err
	}
	check := events.ChainCheck{Key: opts.Key, OldKeys: opts.OldKeys, RequireKey: opts.RequireKey}
	j, err := openJournalFiles(path)
	if err != nil {
		return rep, err
	}
	defer j.close()
	if foreign := j.foreign(); len(foreign) > 0 {
		sf := foreign[0]
		return rep, &FileError{Path: sf.path, Op: "verify", Err: fmt.Errorf("%w: the file is named as segment %d, and the active segment %s is segment %d",
			ErrForeignSegment, sf.n, path, j.segment())}
	}
	// The active segment is read first: it knows the newest segment
	// retention removed, which tells a removed segment from a missing one.
	// Its own problems are reported after those of older segments.
	active := checkActive(j, check)
	removed := active.s.removed
	heads := map[string]bool{}
	for _, h := range opts.Heads {
		heads[h] = false
	}
	var prev *segCheck
	for res := range checkSegments(j.sealed, check) {
		if res.err != nil {
			return rep, res.err
		}
		if err := linkSegments(j.real, prev, res, check, removed); err != nil {
			return rep, err
		}
		if _, ok := heads[res.bare]; ok {
			heads[res.bare] = true
		}
		for _, k := range res.keyed {
			if _, ok := heads[k]; ok {
				heads[k] = true
			}
		}
		rep.add(res)
		prev = res
	}
	if active.err != nil {
		return rep, active.err
	}
	if active.s.hdr != nil {
		if err := linkSegments(j.real, prev, active, check, removed); err != nil {
			return rep, err
		}
	}
	rep.add(active)
	rep.TornBytes = active.s.torn
	rep.Breakers = len(active.s.logs)
	for _, l := range active.s.logs {
		if l.base.Seq > 0 {
			rep.Snapshots++
		}
	}
	for _, h := range opts.Heads {
		if !heads[h] {
			where := "any sealed segment of the journal"
			if strings.HasPrefix(h, events.LinkHMACSHA256) && opts.Key == nil {
				where += " (it is keyed: give the journal's key to find it)"
			}
			if rep.RemovedThrough > 0 {
				where += fmt.Sprintf(" (segments 1 to %d were removed by retention: it may have been one of them)", rep.RemovedThrough)
			}
			return rep, &FileError{Path: path, Op: "verify", Err: fmt.Errorf("%w: %s is not the link hash of %s", ErrHeadNotFound, h, where)}
		}
		rep.Heads++
	}
	return rep, nil
}

// segCheck is what checking one segment found.
type segCheck struct {
	n      uint64
	path   string
	s      *segScan
	bare   string   // the file's link hash, bare
	keyed  []string // and keyed, under each key given (the current one first)
	latest events.Transition
	err    error
}

func (rep *VerifyReport) add(c *segCheck) {
	rep.Segments++
	rep.Keyed += c.s.keyed
	rep.Records += c.s.records
	rep.Linked += c.s.links[events.Linked]
	rep.Unlinked += c.s.links[events.Unlinked]
	rep.Unchecked += c.s.links[events.Unchecked]
	rep.RemovedThrough = max(rep.RemovedThrough, c.s.removed)
	if c.s.records > 0 && !c.s.last.Before(rep.Latest.Time) {
		rep.Latest = c.latest
	}
}

// checkSegments checks the sealed segments, several at a time, and yields
// the results in order. At most twice as many segments as there are CPUs
// are being checked or waiting to be yielded at once; every goroutine has
// ended when the iteration does.
func checkSegments(sealed []sealedFile, check events.ChainCheck) iter.Seq[*segCheck] {
	return func(yield func(*segCheck) bool) {
		results := make([]chan *segCheck, len(sealed))
		for i := range results {
			results[i] = make(chan *segCheck, 1)
		}
		slots := make(chan struct{}, 2*max(runtime.GOMAXPROCS(0), 1))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, sf := range sealed {
				select {
				case slots <- struct{}{}:
				case <-stop:
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] <- checkSealed(sf, check) // buffered: never waits
				}()
			}
		}()
		defer func() {
			close(stop)
			wg.Wait()
		}()
		for i := range sealed {
			res := <-results[i]
			<-slots
			if !yield(res) {
				return
			}
		}
	}
}

// checkSealed checks one sealed segment on its own.
func checkSealed(sf sealedFile, check events.ChainCheck) *segCheck {
	c := &segCheck{n: sf.n, path: sf.path}
	fd, err := openRegularRead(sf.path)
	if err != nil {
		c.err = &FileError{Path: sf.path, Op: "verify", Err: err}
		return c
	}
	defer fd.Close()
	s := newSegScan(check, false)
	s.macs = true
	s.sealed = true
	s.each = c.track
	bare := events.NewLinkHasher(nil)
	ws := []io.Writer{bare}
	var keyed []*events.LinkHasher
	for _, k := range chainKeys(check) {
		h := events.NewLinkHasher(k)
		keyed = append(keyed, h)
		ws = append(ws, h)
	}
	c.s = s
	if err := s.read(io.TeeReader(fd, io.MultiWriter(ws...))); err != nil {
		c.err = fileErr(sf.path, "verify", err)
		return c
	}
	c.bare = bare.Sum()
	for _, h := range keyed {
		c.keyed = append(c.keyed, h.Sum())
	}
	switch {
	case s.hdr != nil && s.hdr.Segment != sf.n:
		c.err = &FileError{Path: sf.path, Op: "verify", Err: fmt.Errorf("%w: the file is named as segment %d, its header says segment %d", ErrForeignSegment, sf.n, s.hdr.Segment)}
	case s.seal.Segment != sf.n:
		c.err = &FileError{Path: sf.path, Op: "verify", Err: fmt.Errorf("%w: the file is named as segment %d, its seal line says segment %d", ErrForeignSegment, sf.n, s.seal.Segment)}
	}
	return c
}

// checkActive checks the active segment, as a reader: an incomplete last
// line is left unchecked.
func checkActive(j *journalFiles, check events.ChainCheck) *segCheck {
	c := &segCheck{path: j.path}
	s := newSegScan(check, false)
	s.macs = true
	s.each = c.track
	c.s = s
	if err := j.scanActive(s); err != nil {
		c.err = fileErr(j.path, "verify", err)
	}
	c.n = max(s.segment(), 1)
	return c
}

// track keeps the newest record of a segment.
func (c *segCheck) track(r Record) error {
	if c.latest.Time.IsZero() || !r.Time.Before(c.latest.Time) {
		c.latest = r.Transition
	}
	return nil
}

// fileErr wraps an error of reading the file at path.
func fileErr(path, op string, err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return err
	}
	return &FileError{Path: path, Op: op, Err: err}
}

// linkSegments checks that next follows prev (nil: next is the oldest
// segment held): its header links to prev's file, its checkpoint is the
// fold of everything before it, with the same chain heads, and the
// segments between them were removed by retention (through removed, the
// newest segment the journal says a retention pass removed). real is the
// journal's path, which names the segments.
func linkSegments(real string, prev, next *segCheck, check events.ChainCheck, removed uint64) error {
	h := next.s.hdr
	if h == nil {
		if prev != nil {
			return &FileError{Path: next.path, Op: "verify", Err: fmt.Errorf("%w: a segment without a header after segment %d", ErrForeignSegment, prev.n)}
		}
		return nil
	}
	atLine := func(line int, breaker string, seq uint64, err error) error {
		return &FileError{Path: next.path, Op: "verify", Err: &events.RecordError{Position: line, Breaker: breaker, Seq: seq, Err: err}}
	}
	removed = max(removed, h.RemovedThrough)
	want := uint64(1)
	if prev != nil {
		want = prev.n + 1
	}
	if h.Segment > want && removed < h.Segment-1 {
		first := max(want, removed+1)
		which := fmt.Sprintf("segment %d", first)
		if h.Segment-1 > first {
			which = fmt.Sprintf("segments %d to %d", first, h.Segment-1)
		}
		return &FileError{Path: segmentName(real, first), Op: "verify", Err: fmt.Errorf("%w: %s not there, and no retention removed it; segment %d (%s) follows",
			ErrMissingSegment, which, h.Segment, next.path)}
	}
	if prev == nil || h.Segment != want {
		return nil // its predecessor was removed: nothing to link to
	}
	// The header links to the whole previous file.
	got := h.Prev
	switch {
	case got == "":
		if prev.s.hdr != nil || check.RequireKey {
			return atLine(1, "", 0, fmt.Errorf("%w: segment %d's header does not link to segment %d", events.ErrBrokenChain, h.Segment, prev.n))
		}
	case strings.HasPrefix(got, events.LinkSHA256):
		if check.RequireKey {
			return atLine(1, "", 0, fmt.Errorf("%w: segment %d's header links to segment %d without the key (%s)", events.ErrBrokenChain, h.Segment, prev.n, got))
		}
		if got != prev.bare {
			return atLine(1, "", 0, fmt.Errorf("%w: segment %d's header says segment %d hashes to %s; it hashes to %s", events.ErrBrokenChain, h.Segment, prev.n, got, prev.bare))
		}
	case len(prev.keyed) > 0 && !slices.Contains(prev.keyed, got):
		return atLine(1, "", 0, fmt.Errorf("%w: segment %d's header says segment %d hashes to %s; with the key given it hashes to %s", events.ErrBrokenChain, h.Segment, prev.n, got, prev.keyed[0]))
	}
	// The checkpoint is where the previous segment ended.
	for _, name := range sortedNames(prev.s.logs) {
		end := prev.s.logs[name]
		start := next.s.logs[name]
		if start == nil || start.base.Seq != end.head.Seq || !start.base.Equal(end.head) {
			line, seq := 1, uint64(0)
			if start != nil && start.baseLine > 0 {
				line, seq = start.baseLine, start.base.Seq
			}
			return atLine(line, name, seq, fmt.Errorf("%w: segment %d's checkpoint of breaker %q is not the fold of segment %d, which ends at seq %d", ErrCorrupt, h.Segment, name, prev.n, end.head.Seq))
		}
		// The head the checkpoint carries is that of the last record
		// before it: in the previous segment, or carried over from the
		// previous checkpoint.
		ok := start.baseHead == end.baseHead
		want := end.baseHead
		if end.last != nil {
			var checked bool
			checked, ok = check.Matches(start.baseHead, end.last)
			ok = ok || !checked // a keyed head, and no key to check it
			if k := chainKeys(check); strings.HasPrefix(start.baseHead, events.LinkHMACSHA256) && len(k) > 0 {
				want = events.LinkHash(end.last, k[0])
			} else {
				want = events.LinkHash(end.last, nil)
			}
		}
		if !ok {
			return atLine(start.baseLine, name, start.base.Seq, fmt.Errorf("%w: segment %d's checkpoint of breaker %q has head %q; the last record before it, in segment %d, hashes to %q",
				events.ErrBrokenChain, h.Segment, name, start.baseHead, prev.n, want))
		}
	}
	for _, name := range sortedNames(next.s.logs) {
		if start := next.s.logs[name]; start.base.Seq > 0 && prev.s.logs[name] == nil {
			return atLine(start.baseLine, name, start.base.Seq, fmt.Errorf("%w: segment %d's checkpoint holds breaker %q, which segment %d does not", ErrCorrupt, h.Segment, name, prev.n))
		}
	}
	return nil
}

// SegmentReport is what [VerifySegment] read of one sealed segment.
type SegmentReport struct {
	// Index is the segment's seal line, checked against what it holds.
	Index SegmentIndex
	// Head is the link hash of the whole file: keyed with the key given,
	// bare without one. It is the head the checkpoint that sealed the
	// segment handed over, and the prev of the next segment's header.
	Head string
	// Breakers is the number of breakers in the segment's checkpoint or
	// records, and Snapshots the number of snapshot records in its
	// checkpoint.
	Breakers, Snapshots int
	// Linked, Unlinked, Unchecked and Keyed count the records by their
	// link, as in [VerifyReport].
	Linked, Unlinked, Unchecked, Keyed int
	// Latest is the newest transition record by time (zero without one).
	Latest events.Transition
}

// VerifySegment checks one sealed segment on its own, as [Verify] checks
// each: every line, every breaker's history from the segment's checkpoint,
// every record's link, and the seal line against what the segment holds. A
// segment archived away from its journal verifies so; given the heads
// witnessed for it (opts.Heads), it proves it is the segment that was
// sealed. The file's name, when it is a sealed segment's (….00000042), must
// be the number its header and seal line give, or the error matches
// [ErrForeignSegment]. What links the segment to the ones around it is
// checked only by Verify.
func VerifySegment(path string, opts VerifyOptions) (SegmentReport, error) {
	var rep SegmentReport
	if err := opts.check(); err != nil {
		return rep, err
	}
	sf := sealedFile{path: path}
	if dot := strings.LastIndexByte(path, '.'); dot > 0 {
		sf.n, _ = sealedNumber(filepath.Base(path[:dot]), filepath.Base(path))
	}
	if sf.n == 0 {
		// Not named as a sealed segment: its seal line gives its number.
		fd, err := openRegularRead(path)
		if err != nil {
			return rep, &FileError{Path: path, Op: "open", Err: err}
		}
		st, err := fd.Stat()
		if err == nil {
			var x SegmentIndex
			if x, _, err = readSealLine(fd, st.Size()); err == nil {
				sf.n = x.Segment
			}
		}
		fd.Close()
		if err != nil {
			return rep, &FileError{Path: path, Op: "verify", Err: fmt.Errorf("%w: not a sealed segment: %w", ErrCorrupt, err)}
		}
	}
	c := checkSealed(sf, events.ChainCheck{Key: opts.Key, OldKeys: opts.OldKeys, RequireKey: opts.RequireKey})
	if c.err != nil {
		return rep, c.err
	}
	rep.Index, rep.Head, rep.Breakers, rep.Latest = *c.s.seal, c.bare, len(c.s.logs), c.latest
	if len(c.keyed) > 0 {
		rep.Head = c.keyed[0]
	}
	for _, l := range c.s.logs {
		if l.base.Seq > 0 {
			rep.Snapshots++
		}
	}
	rep.Linked, rep.Unlinked, rep.Unchecked, rep.Keyed = c.s.links[events.Linked], c.s.links[events.Unlinked], c.s.links[events.Unchecked], c.s.keyed
	for _, h := range opts.Heads {
		if h != c.bare && !slices.Contains(c.keyed, h) {
			return rep, &FileError{Path: path, Op: "verify", Err: fmt.Errorf("%w: %s is not the link hash of the segment (%s)", ErrHeadNotFound, h, rep.Head)}
		}
	}
	return rep, nil
}

// check refuses options that cannot be met, and heads that no segment can
// hash to (an empty one, say), which would otherwise be found or not by
// accident.
func (o VerifyOptions) check() error {
	if o.RequireKey && o.Key == nil {
		return &events.OptionError{Option: "filejournal.VerifyOptions.RequireKey", Value: "true", Reason: "needs a Key to check the links with"}
	}
	for _, h := range o.Heads {
		if !isLinkHash(h) {
			return &events.OptionError{Option: "filejournal.VerifyOptions.Heads", Value: fmt.Sprintf("%q", h),
				Reason: "a head is a link hash: sha256: or hmac-sha256: and 32 lowercase hex digits"}
		}
	}
	return nil
}

// chainKeys returns the keys a keyed link or hash may be made with: the
// current key first, then the old ones.
func chainKeys(check events.ChainCheck) [][]byte {
	var out [][]byte
	for _, k := range append([][]byte{check.Key}, check.OldKeys...) {
		if k != nil {
			out = append(out, k)
		}
	}
	return out
}
