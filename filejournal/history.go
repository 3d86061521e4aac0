package filejournal

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// errStop ends a scan early, with nothing wrong.
var errStop = errors.New("stop")

// readSealed reads breaker's records with sequence numbers in (after, base]
// from the sealed segments, skipping those whose seal line says they hold
// none.
func readSealed(ctx context.Context, sealed []sealedFile, breaker string, after, base uint64, check events.ChainCheck) ([]events.Transition, error) {
	var out []events.Transition
	for i := range sealed {
		sf := &sealed[i]
		x, err := sf.loadIndex()
		if err != nil {
			return nil, err
		}
		r, ok := x.breaker(breaker)
		if !ok || r.LastSeq <= after || r.FirstSeq > base {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		_, _, err = scanSealed(sf.path, check, func(rec Record) error {
			switch {
			case rec.Breaker != breaker || rec.Seq <= after:
			case rec.Seq > base:
				return errStop
			default:
				out = append(out, rec.Transition)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, err
		}
		if r.LastSeq >= base {
			break
		}
	}
	if len(out) == 0 || out[0].Seq != after+1 || out[len(out)-1].Seq != base {
		first := base
		if len(out) > 0 {
			first = out[0].Seq - 1
		}
		return nil, &events.CompactedError{Breaker: breaker, After: after, Base: first}
	}
	return out, nil
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

// Records returns the transition records of the journal at path that f
// keeps, read one at a time in constant memory: the sealed segments oldest
// first, then the active one, each in the order it was written. A sealed
// segment whose seal line says it holds no record f keeps is skipped
// without being decoded. Every segment read is checked as [Verify] checks
// it on its own (every line, fold and link); the links between segments
// are not: run Verify for those. The first error ends the sequence: a
// [*FileError] naming the file, and the line for a bad record. An
// incomplete last line of the active segment (an append in progress) is
// ignored. It takes no lock and changes nothing.
func Records(path string, f Filter) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		sealed, err := listSealed(path)
		if err != nil {
			yield(Record{}, &FileError{Path: path, Op: "read", Err: err})
			return
		}
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
		for i := range sealed {
			sf := &sealed[i]
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
		fd, err := openRegularRead(path)
		if err != nil {
			yield(Record{}, &FileError{Path: path, Op: "open", Err: err})
			return
		}
		defer fd.Close()
		s := newSegScan(events.ChainCheck{}, false)
		s.each = each
		if err := s.read(fd); err != nil && !stopped {
			yield(Record{}, fileErr(path, "read", err))
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
	sealed, err := listSealed(path)
	if err != nil {
		return nil, &FileError{Path: path, Op: "read", Err: err}
	}
	start := len(sealed) // the active segment
	for i := range sealed {
		x, err := sealed[i].loadIndex()
		if err != nil {
			return nil, &FileError{Path: sealed[i].path, Op: "read", Err: err}
		}
		if x.Records > 0 && !x.Last.Before(at) {
			start = i
			break
		}
	}
	out := map[string]events.Snapshot{}
	done := map[string]bool{}
	each := func(r Record) error {
		if done[r.Breaker] {
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
		for name, l := range s.logs {
			if l.base.Seq == 0 {
				continue
			}
			if !l.base.Since.Before(at) {
				return &events.CompactedError{Breaker: name, After: 0, Base: l.base.Seq}
			}
			out[name] = l.base
		}
		return nil
	}
	for i := start; i < len(sealed); i++ {
		x, _ := sealed[i].loadIndex()
		if !first && !x.Covers(nil, time.Time{}, at) {
			// Every record here is at or after at: each breaker in it is
			// done, and nothing need be decoded.
			for _, r := range x.Breakers {
				done[r.Breaker] = true
			}
			continue
		}
		s := newSegScan(events.ChainCheck{}, false)
		s.sealed = true
		s.each = func(r Record) error {
			if err := take(s); err != nil {
				return err
			}
			return each(r)
		}
		if _, _, err := scanFile(sealed[i].path, s); err != nil {
			return nil, err
		}
		if err := take(s); err != nil {
			return nil, err
		}
	}
	s := newSegScan(events.ChainCheck{}, false)
	s.each = func(r Record) error {
		if err := take(s); err != nil {
			return err
		}
		return each(r)
	}
	if _, _, err := scanFile(path, s); err != nil {
		return nil, err
	}
	if err := take(s); err != nil {
		return nil, err
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
	sealed, err := listSealed(path)
	if err != nil {
		return nil, &FileError{Path: path, Op: "read", Err: err}
	}
	first := path
	s := newSegScan(events.ChainCheck{}, false)
	if len(sealed) > 0 {
		first = sealed[0].path
		s.sealed = true
	}
	s.each = func(Record) error { return errStop } // the checkpoint is read
	if _, _, err := scanFile(first, s); err != nil && !errors.Is(err, errStop) {
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
