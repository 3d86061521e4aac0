package filejournal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// errStop ends a scan early, with nothing wrong.
var errStop = errors.New("stop")

// sealedView is what a read of older records needs of a journal: its
// sealed segments, the newest one retention removed, and the number of the
// active segment.
type sealedView struct {
	path    string // the journal, for errors
	sealed  []sealedFile
	removed uint64
	active  uint64
}

// read reads breaker's records with sequence numbers in (after, base]
// from the sealed segments, skipping those whose seal line says they hold
// none. Records that retention removed (or that a file written before
// segments compacted away) give a *events.CompactedError; records in a
// segment that is missing, and that no retention removed, an error
// matching ErrMissingSegment.
func (v sealedView) read(ctx context.Context, breaker string, after, base uint64, check events.ChainCheck) ([]events.Transition, error) {
	var out []events.Transition
	want := after + 1  // the next record wanted
	known := v.removed // every segment up to it is there or was removed by retention
	gap := func(through uint64) (uint64, bool) {
		// The first segment after known and before through that is missing.
		return known + 1, through > known+1
	}
	for i := range v.sealed {
		sf := &v.sealed[i]
		if want > base {
			break
		}
		x, err := sf.loadIndex()
		if err != nil {
			return nil, &FileError{Path: sf.path, Op: "read", Err: err}
		}
		r, ok := x.breaker(breaker)
		if ok && r.LastSeq >= want && r.FirstSeq <= base {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if r.FirstSeq > want {
				// Records want to r.FirstSeq-1 are in no segment held.
				if m, missing := gap(sf.n); missing {
					return nil, v.missing(breaker, want, r.FirstSeq-1, m)
				}
				if len(out) > 0 {
					return nil, &FileError{Path: sf.path, Op: "read", Err: fmt.Errorf("%w: breaker %q records %d to %d are in no segment, and segment %d starts at %d",
						ErrCorrupt, breaker, want, r.FirstSeq-1, sf.n, r.FirstSeq)}
				}
				// Removed by retention, or compacted by a version before
				// segments.
				return nil, &events.CompactedError{Breaker: breaker, After: after, Base: r.FirstSeq - 1}
			}
			_, _, err = scanSealed(sf.path, check, func(rec Record) error {
				switch {
				case rec.Breaker != breaker || rec.Seq < want:
				case rec.Seq > base:
					return errStop
				default:
					out = append(out, rec.Transition)
					want = rec.Seq + 1
				}
				return nil
			})
			if err != nil && !errors.Is(err, errStop) {
				return nil, fileErr(sf.path, "read", err)
			}
		}
		known = max(known, sf.n)
	}
	if want <= base {
		if m, missing := gap(v.active); missing {
			return nil, v.missing(breaker, want, base, m)
		}
		if len(out) > 0 {
			return nil, &FileError{Path: v.path, Op: "read", Err: fmt.Errorf("%w: breaker %q records %d to %d are in no segment", ErrCorrupt, breaker, want, base)}
		}
		return nil, &events.CompactedError{Breaker: breaker, After: after, Base: base}
	}
	return out, nil
}

// missing is the error of records in a segment that is not there.
func (v sealedView) missing(breaker string, from, through, segment uint64) error {
	return &FileError{Path: v.path, Op: "read", Err: fmt.Errorf("%w: breaker %q records %d to %d: segment %d (%s) is not there, and no retention removed it",
		ErrMissingSegment, breaker, from, through, segment, segmentName(v.path, segment))}
}

// breaker returns the range of name in the index.
func (x *SegmentIndex) breaker(name string) (BreakerRange, bool) {
	i, ok := slices.BinarySearchFunc(x.Breakers, name, func(r BreakerRange, n string) int { return strings.Compare(r.Breaker, n) })
	if !ok {
		return BreakerRange{}, false
	}
	return x.Breakers[i], true
}

// Filter selects records for [Records].
type Filter struct {
	// Breakers keeps the records of the breakers it accepts; nil keeps
	// every breaker's.
	Breakers func(name string) bool
	// Since and Until keep the records at or after Since and before
	// Until; a zero bound is open.
	Since, Until time.Time
}

func (f Filter) keep(r Record) bool {
	return (f.Breakers == nil || f.Breakers(r.Breaker)) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since)) && (f.Until.IsZero() || r.Time.Before(f.Until))
}

// journalFiles is a reader's view of a journal's files that a concurrent
// seal cannot tear: the active segment, opened first (a seal that renames
// a new active segment over it meanwhile changes nothing of what is read
// through it), and the sealed segments numbered below it.
type journalFiles struct {
	path   string
	real   string // path with symbolic links resolved: where the sealed segments are
	active *os.File
	hdr    *header // the active segment's; nil for a file written before segments
	sealed []sealedFile
	newer  []sealedFile // sealed segments numbered from the active one on
}

func openJournalFiles(path string) (*journalFiles, error) {
	fd, err := openRegularRead(path)
	if err != nil {
		return nil, &FileError{Path: path, Op: "open", Err: err}
	}
	hdr, err := readHeader(fd)
	if err != nil {
		fd.Close()
		return nil, &FileError{Path: path, Op: "read", Err: err}
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	all, err := listSealed(real)
	if err != nil {
		fd.Close()
		return nil, &FileError{Path: path, Op: "read", Err: err}
	}
	j := &journalFiles{path: path, real: real, active: fd, hdr: hdr}
	j.sealed = before(all, j.segment())
	j.newer = all[len(j.sealed):]
	return j, nil
}

// segment returns the active segment's number (1 for a file written
// before segments).
func (j *journalFiles) segment() uint64 {
	if j.hdr == nil {
		return 1
	}
	return j.hdr.Segment
}

// foreign returns the sealed segments that cannot belong to the journal:
// numbered above the active segment (the one numbered as the active
// segment is the copy of a seal in progress, or that a crash interrupted,
// which Open finishes), unless the journal was sealed since it was opened.
func (j *journalFiles) foreign() []sealedFile {
	var out []sealedFile
	for _, sf := range j.newer {
		if sf.n > j.segment() {
			out = append(out, sf)
		}
	}
	if len(out) == 0 {
		return nil
	}
	if fd, err := openRegularRead(j.path); err == nil {
		h, _ := readHeader(fd)
		fd.Close()
		if h != nil && h.Segment > out[len(out)-1].n {
			return nil // sealed meanwhile
		}
	}
	return out
}

func (j *journalFiles) close() { j.active.Close() }

// scanActive reads the active segment with s.
func (j *journalFiles) scanActive(s *segScan) error {
	if err := s.read(io.NewSectionReader(j.active, 0, math.MaxInt64)); err != nil {
		return fileErr(j.path, "read", err)
	}
	return nil
}

// Records returns the transition records of the journal at path that f
// keeps, read one at a time in constant memory: the sealed segments oldest
// first, then the active one, each in the order it was written. A sealed
// segment whose seal line says it holds no record f keeps is skipped
// without being decoded. Every segment read is checked as [Verify] checks
// it on its own (every line, fold and link); the links between segments
// are not: run Verify for those. The first error ends the sequence: a
// [*FileError] naming the file, and the line for a bad record. An
// incomplete last line of the active segment (an append in progress) is
// ignored. It takes no lock and changes nothing, and a seal or a retention
// pass that runs meanwhile does not make it skip or repeat a record (but
// a segment that retention removes before it is read is an error).
func Records(path string, f Filter) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		j, err := openJournalFiles(path)
		if err != nil {
			yield(Record{}, err)
			return
		}
		defer j.close()
		stopped := false
		each := func(r Record) error {
			if !f.keep(r) {
				return nil
			}
			if !yield(r, nil) {
				stopped = true
				return errStop
			}
			return nil
		}
		for i := range j.sealed {
			sf := &j.sealed[i]
			x, err := sf.loadIndex()
			if err != nil {
				yield(Record{}, &FileError{Path: sf.path, Op: "read", Err: err})
				return
			}
			if !x.Covers(f.Breakers, f.Since, f.Until) {
				continue
			}
			if _, _, err := scanSealed(sf.path, events.ChainCheck{}, each); err != nil {
				if !stopped {
					yield(Record{}, fileErr(sf.path, "read", err))
				}
				return
			}
		}
		s := newSegScan(events.ChainCheck{}, false)
		s.each = each
		if err := j.scanActive(s); err != nil && !stopped {
			yield(Record{}, err)
		}
	}
}

// StateAt returns the fold of every breaker of the journal at path at time
// at: of each breaker's records up to, not including, its first record at
// or after at. It starts from the checkpoint of the oldest segment that
// holds a record at or after at, so it decodes only the segments that
// matter. Breakers without a record before at are absent. When that
// checkpoint folds records at or after at (the records before were removed
// by retention), it returns a [*events.CompactedError] (wrapped in a
// [*FileError]) naming the first such breaker.
func StateAt(path string, at time.Time) (map[string]events.Snapshot, error) {
	return StateAtOf(path, at, nil)
}

// StateAtOf is [StateAt] of the breakers that breakers accepts (nil: every
// breaker): the others are absent, and the records of theirs that the
// journal no longer holds are no error.
func StateAtOf(path string, at time.Time, breakers func(name string) bool) (map[string]events.Snapshot, error) {
	keep := func(name string) bool { return breakers == nil || breakers(name) }
	j, err := openJournalFiles(path)
	if err != nil {
		return nil, err
	}
	defer j.close()
	sealed := j.sealed
	indexes := make([]*SegmentIndex, len(sealed))
	start := len(sealed) // the active segment
	for i := range sealed {
		x, err := sealed[i].loadIndex()
		if err != nil {
			return nil, &FileError{Path: sealed[i].path, Op: "read", Err: err}
		}
		indexes[i] = x
		if start == len(sealed) && x.Records > 0 && !x.Last.Before(at) {
			start = i
		}
	}
	out := map[string]events.Snapshot{}
	done := map[string]bool{}
	each := func(r Record) error {
		if done[r.Breaker] || !keep(r.Breaker) {
			return nil
		}
		if !r.Time.Before(at) {
			done[r.Breaker] = true
			return nil
		}
		s, ok := out[r.Breaker]
		if !ok {
			s = events.Initial(r.Breaker)
		}
		next, err := s.Apply(r.Transition)
		if err != nil { // not reached: the scan checked the fold
			return err
		}
		next.Since = r.Time
		out[r.Breaker] = next
		return nil
	}
	first := true
	// take starts from the checkpoint of the first segment read. A
	// checkpoint that folds records at or after at (the records before it
	// were removed by retention, or compacted by a version before segments)
	// cannot give the state at at.
	take := func(s *segScan) error {
		if !first {
			return nil
		}
		first = false
		for _, name := range sortedNames(s.logs) {
			l := s.logs[name]
			if l.base.Seq == 0 || !keep(name) {
				continue
			}
			if !l.base.Since.Before(at) {
				return &events.CompactedError{Breaker: name, After: 0, Base: l.base.Seq}
			}
			out[name] = l.base
		}
		return nil
	}
	newScan := func() *segScan {
		s := newSegScan(events.ChainCheck{}, false)
		s.each = func(r Record) error {
			if err := take(s); err != nil {
				return err
			}
			return each(r)
		}
		return s
	}
	for i := start; i < len(sealed); i++ {
		if !first && !indexes[i].Covers(nil, time.Time{}, at) {
			// Every record here is at or after at: each breaker in it is
			// done, and nothing need be decoded.
			for _, r := range indexes[i].Breakers {
				done[r.Breaker] = true
			}
			continue
		}
		s := newScan()
		s.sealed = true
		if _, _, err := scanFile(sealed[i].path, s); err != nil {
			return nil, err
		}
		if err := take(s); err != nil {
			return nil, &FileError{Path: sealed[i].path, Op: "read", Err: err}
		}
	}
	s := newScan()
	if err := j.scanActive(s); err != nil {
		return nil, err
	}
	if err := take(s); err != nil {
		return nil, &FileError{Path: path, Op: "read", Err: err}
	}
	return out, nil
}

// scanFile reads the file at path with s.
func scanFile(path string, s *segScan) (*segScan, string, error) {
	fd, err := openRegularRead(path)
	if err != nil {
		return s, "", &FileError{Path: path, Op: "open", Err: err}
	}
	defer fd.Close()
	if err := s.read(fd); err != nil {
		return s, "", fileErr(path, "read", err)
	}
	return s, "", nil
}

// Oldest returns, for each breaker of the journal at path, the fold of its
// records that the journal no longer holds: the checkpoint the oldest
// segment held starts from (records before it were removed by retention,
// or compacted by a version before segments). Breakers whose whole history
// is held are absent. It reads only the start of that segment.
func Oldest(path string) (map[string]events.Snapshot, error) {
	j, err := openJournalFiles(path)
	if err != nil {
		return nil, err
	}
	defer j.close()
	s := newSegScan(events.ChainCheck{}, false)
	s.each = func(Record) error { return errStop } // the checkpoint is read
	if len(j.sealed) > 0 {
		s.sealed = true
		if _, _, err := scanFile(j.sealed[0].path, s); err != nil && !errors.Is(err, errStop) {
			return nil, err
		}
	} else if err := j.scanActive(s); err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	out := map[string]events.Snapshot{}
	for name, l := range s.logs {
		if l.base.Seq > 0 {
			out[name] = l.base
		}
	}
	return out, nil
}
