package filejournal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// Checkpoint is what a seal made: the segment it sealed, and the head that
// vouches for it. The new active segment starts with a checkpoint of every
// breaker (its fold and chain head) and links to the sealed one by Head.
type Checkpoint struct {
	// Sealed is the number of the segment sealed, and Path its file.
	Sealed uint64
	Path   string
	// Head is the link hash of the whole sealed file ([events.LinkHash],
	// keyed when the journal has a chain key). Witnessed outside the
	// journal, it lets [Verify] prove that the journal still holds every
	// record up to the checkpoint, unchanged: each segment's header holds
	// the link hash of the segment before it.
	Head string
	// Records is the number of transition records in the sealed segment,
	// and Breakers the number of breakers in the checkpoint.
	Records, Breakers int
	// Time is when the checkpoint was made.
	Time time.Time
}

// Removal is what a retention pass removed.
type Removal struct {
	// Through is the newest segment removed: every sealed segment up to it
	// is gone. Paths are the files removed, and Bytes their total size.
	Through uint64
	Paths   []string
	Bytes   int64
	// Policy says which limit removed them, such as "max_age 720h0m0s".
	Policy string
	// Time is when the pass ran.
	Time time.Time
}

// Checkpoint seals the active segment and starts a new one from a
// checkpoint of every breaker, as an append does once the active segment
// exceeds [WithSegmentSize], then runs the retention pass. It does nothing
// (and returns the zero Checkpoint) when the active segment holds no
// transition record after its checkpoint. Appends wait while it runs. A
// failure returns a [*FileError] and leaves the journal as it was.
func (f *File) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return Checkpoint{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writableLocked("checkpoint"); err != nil {
		return Checkpoint{}, err
	}
	if f.next == 0 {
		return Checkpoint{}, nil
	}
	return f.sealLocked()
}

// crashHook, when set (by tests), is called at the named points of a seal
// and of a retention pass, where a crash leaves the files in a state that
// Open must resume from:
//
//	sealed-written         the sealed copy is written and synced, not yet renamed
//	sealed-renamed         the sealed copy has its name; the active segment is the old one
//	active-written         the new active segment is written and synced, not yet renamed
//	active-renamed         the new active segment replaced the old one
//	retention-recorded     the retention record is written, no segment removed yet
//	retention-removed-one  the first of the segments to remove is removed
//
// and, where nothing is written, at read-sealed: a Read has taken the
// list of sealed segments and let go of the journal's lock.
var crashHook func(point string)

func crashPoint(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

// segmentLocked returns the active segment's number.
func (f *File) segmentLocked() uint64 {
	if f.hdr == nil {
		return 1 // a file written before segments is the first
	}
	return f.hdr.Segment
}

// sealLocked seals the active segment: it copies it, with its seal line,
// to its sealed name, then replaces the active file with a new segment that
// starts from a checkpoint, then runs retention. A crash between the two
// renames is finished by the next Open.
func (f *File) sealLocked() (Checkpoint, error) {
	fail := func(err error) (Checkpoint, error) {
		return Checkpoint{}, &FileError{Path: f.path, Op: "seal", Err: err}
	}
	n := f.segmentLocked()
	x := f.indexLocked()
	sealLine, err := marshalSeal(x)
	if err != nil { // not reached: times and names of stored records encode
		return fail(err)
	}
	name := segmentName(f.real, n)
	head, size, err := f.writeSealed(name, sealLine)
	if err != nil {
		return fail(err)
	}
	h := header{Segment: n + 1, Prev: head, Created: f.cfg.now(), RemovedThrough: f.removed}
	breakers := len(f.logs)
	if err := f.replaceActiveLocked(h); err != nil {
		os.Remove(name) // a copy of the active segment, which stays the journal
		return fail(err)
	}
	f.sealed = append(f.sealed, newSealedFile(n, name, size, &x))
	c := Checkpoint{Sealed: n, Path: name, Head: head, Records: x.Records, Breakers: breakers, Time: h.Created}
	f.cfg.checkpoint(c)
	if err := f.retainLocked(); err != nil {
		f.cfg.warn(err)
	}
	return c, nil
}

// indexLocked returns the active segment's index, as its seal line.
func (f *File) indexLocked() SegmentIndex {
	x := SegmentIndex{Segment: f.segmentLocked(), Bytes: f.size}
	for _, name := range sortedNames(f.logs) {
		l := f.logs[name]
		if l.count == 0 {
			continue
		}
		if x.Records == 0 {
			x.First, x.Last = l.first, l.late
		}
		x.Records += l.count
		x.First, x.Last = minTime(x.First, l.first), maxTime(x.Last, l.late)
		x.Breakers = append(x.Breakers, BreakerRange{Breaker: name, FirstSeq: l.firstSeq, LastSeq: l.head.Seq, First: l.first, Last: l.late,
			Head: events.LinkHash(l.last, f.cfg.key)})
	}
	return x
}

// writeSealed writes the active segment and its seal line to a new file
// at name, durably, and returns the file's link hash and size.
func (f *File) writeSealed(name string, sealLine []byte) (string, int64, error) {
	dir := filepath.Dir(f.real)
	tmp, err := os.CreateTemp(dir, filepath.Base(f.real)+".seal-*")
	if err != nil {
		return "", 0, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if st, err := f.f.Stat(); err == nil {
		if err := tmp.Chmod(st.Mode().Perm()); err != nil {
			return "", 0, err
		}
		copyOwner(tmp, st)
	}
	h := events.NewLinkHasher(f.cfg.key)
	w := bufio.NewWriterSize(io.MultiWriter(tmp, h), 256<<10)
	if _, err := io.Copy(w, io.NewSectionReader(f.f, 0, f.size)); err != nil {
		return "", 0, err
	}
	w.Write(sealLine)
	w.WriteByte('\n')
	if err := w.Flush(); err != nil {
		return "", 0, err
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	crashPoint("sealed-written")
	if err := os.Rename(tmp.Name(), name); err != nil {
		return "", 0, err
	}
	done = true
	// The sealed segment's name must be durable before the active segment
	// that links to it replaces the one it copies.
	if err := syncDir(dir); err != nil {
		os.Remove(name)
		return "", 0, err
	}
	crashPoint("sealed-renamed")
	return h.Sum(), f.size + int64(len(sealLine)) + 1, nil
}

// replaceActiveLocked replaces the active file with a new segment: header
// h, then a checkpoint of every breaker (its fold and chain head),
// atomically: the file is written next to the journal, locked, fsynced and
// renamed over it.
func (f *File) replaceActiveLocked(h header) error {
	dir := filepath.Dir(f.real)
	tmp, err := os.CreateTemp(dir, filepath.Base(f.real)+".compact-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := lockFile(tmp); err != nil {
		return fmt.Errorf("locking %s: %w", tmp.Name(), err)
	}
	if f.f != nil {
		if st, err := f.f.Stat(); err == nil {
			if err := tmp.Chmod(st.Mode().Perm()); err != nil {
				return err
			}
			copyOwner(tmp, st)
		}
	}
	w := bufio.NewWriter(tmp)
	hb, err := marshalHeader(h)
	if err != nil {
		return err
	}
	w.Write(withMAC(hb, f.cfg.key))
	w.WriteByte('\n')
	logs := make(map[string]*fileLog, len(f.logs))
	for _, name := range sortedNames(f.logs) {
		l := f.logs[name]
		nl := &fileLog{held: held{base: l.head, head: l.head}, baseHead: l.prevLink(f.cfg.key)}
		logs[name] = nl
		if l.head.Seq == 0 {
			continue
		}
		b, err := marshalSnapshot(l.head, nl.baseHead)
		if err != nil { // not reached: a fold of legal records is a valid snapshot
			return err
		}
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	crashPoint("active-written")
	if err := os.Rename(tmp.Name(), f.real); err != nil {
		return err
	}
	done = true
	// The new file is the journal now, locked since before the rename.
	if f.f != nil {
		f.f.Close()
	}
	f.f, f.size, f.tailStart, f.logs, f.next, f.hdr = tmp, size, size, logs, 0, &h
	f.sealAfter = 0
	if err := syncDir(dir); err != nil {
		// The rename is done but may not be durable yet: the next append
		// syncs the directory before it returns.
		f.dirSync = true
	}
	crashPoint("active-renamed")
	return nil
}

// checkForeign refuses, on Open, sealed segments that cannot belong to the
// journal: newer than the active segment, or next to a file written before
// segments (but for the copy of that file that an interrupted first seal
// left, which resumeSegments finishes).
func (f *File) checkForeign() error {
	n := len(f.sealed)
	if n == 0 {
		return nil
	}
	newest := f.sealed[n-1]
	switch {
	case f.hdr == nil && f.size == 0:
		return nil // the active segment is missing: it restarts from the newest
	case f.hdr == nil && (newest.n > 1 || n > 1):
		return &FileError{Path: f.path, Op: "open", Err: fmt.Errorf("%w: %s is next to a journal file written before segments", ErrForeignSegment, newest.path)}
	case f.hdr != nil && newest.n > f.hdr.Segment:
		return &FileError{Path: f.path, Op: "open", Err: fmt.Errorf("%w: %s is segment %d, newer than the active segment %d", ErrForeignSegment, newest.path, newest.n, f.hdr.Segment)}
	}
	return nil
}

// resumeSegments checks the active segment against the sealed ones found
// next to it, on Open: it starts the first segment of a new journal,
// finishes a seal that a crash interrupted, starts again from the newest
// sealed segment when the active one is missing, and reports sealed
// segments missing from the sequence. checkForeign has refused the
// segments that do not belong.
func (f *File) resumeSegments() error {
	var newest *sealedFile
	if n := len(f.sealed); n > 0 {
		newest = &f.sealed[n-1]
	}
	switch {
	case f.hdr == nil && f.size == 0 && newest == nil: // a new journal
		return f.replaceActiveLocked(header{Segment: 1, Created: f.cfg.now()})
	case f.hdr == nil && f.size == 0: // the active segment is missing
		return f.restartFromSealed(newest)
	case newest != nil && newest.n == f.segmentLocked(): // a seal interrupted between its renames
		if err := f.finishSeal(newest); err != nil {
			return err
		}
	}
	if f.hdr == nil {
		return nil
	}
	// Every segment after the last one retention removed must be there.
	want := f.removed + 1
	for _, sf := range f.sealed {
		if sf.n < want {
			continue // removed by retention, but left by a crash: removed again
		}
		if sf.n > want {
			f.warnMissing(want, sf.n-1)
		}
		want = sf.n + 1
	}
	if want < f.hdr.Segment {
		f.warnMissing(want, f.hdr.Segment-1)
	}
	return nil
}

// warnMissing reports sealed segments from to through that are not there.
func (f *File) warnMissing(from, through uint64) {
	which := fmt.Sprintf("segment %d (%s is not there)", from, segmentName(f.real, from))
	if through > from {
		which = fmt.Sprintf("segments %d to %d (%s to %s are not there)", from, through, segmentName(f.real, from), segmentName(f.real, through))
	}
	f.cfg.warn(&FileError{Path: f.path, Op: "open", Err: fmt.Errorf("%w: %s, and no retention removed it; the active segment is %d",
		ErrMissingSegment, which, f.segmentLocked())})
}

// finishSeal finishes a seal that a crash interrupted between its two
// renames: the sealed copy of the active segment is in place, the new
// active segment is not. A copy of an earlier state of the active segment
// (a seal that failed, then appends) is removed: the active segment holds
// all it held. A copy of a later state (with SyncNone, a crash of the
// machine lost the active segment's last appends, which the copy, synced,
// holds) is the sealed segment: the new active segment starts from its
// end. A file that is none of these is refused: it is not the journal's.
func (f *File) finishSeal(sf *sealedFile) error {
	fd, err := openRegularRead(sf.path)
	if err != nil {
		return &FileError{Path: f.path, Op: "open", Err: err}
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return &FileError{Path: f.path, Op: "open", Err: err}
	}
	x, at, xerr := readSealLine(fd, st.Size())
	if errors.Is(xerr, ErrNewerFormat) {
		return &FileError{Path: f.path, Op: "open", Err: fmt.Errorf("%s: %w", sf.path, xerr)}
	}
	copyOf, longer := false, false
	switch {
	case xerr == nil && x.Segment == sf.n && at == x.Bytes && x.Bytes <= f.size:
		if copyOf, err = samePrefix(fd, f.f, x.Bytes); err != nil {
			return &FileError{Path: f.path, Op: "open", Err: err}
		}
	case xerr == nil && x.Segment == sf.n && at == x.Bytes:
		// The sealed copy, synced before its rename, holds more than the
		// active segment: with SyncNone, a crash of the machine lost the
		// active segment's last appends, which the copy holds.
		if longer, err = samePrefix(f.f, fd, f.size); err != nil {
			return &FileError{Path: f.path, Op: "open", Err: err}
		}
	}
	if longer {
		fd.Close()
		lost := x.Bytes - f.size
		h, err := f.startAfterSealed(sf)
		if err != nil {
			return err
		}
		sf.size, sf.idx = st.Size(), &indexCell{x: &x}
		f.cfg.warn(&FileError{Path: f.path, Op: "open", Err: fmt.Errorf("finished the seal of segment %d, which a crash had interrupted, from %s, which holds %d bytes of records the active segment had lost",
			sf.n, sf.path, lost)})
		f.cfg.checkpoint(Checkpoint{Sealed: sf.n, Path: sf.path, Head: h.Prev, Records: x.Records, Breakers: len(f.logs), Time: h.Created})
		return nil
	}
	switch {
	case !copyOf:
		why := "it is not a copy of the active segment"
		if xerr != nil {
			why = xerr.Error()
		}
		return &FileError{Path: f.path, Op: "open", Err: fmt.Errorf("%w: %s is named as segment %d, the active one, and %s", ErrForeignSegment, sf.path, sf.n, why)}
	case x.Bytes < f.size:
		fd.Close()
		if err := os.Remove(sf.path); err != nil {
			return &FileError{Path: f.path, Op: "open", Err: err}
		}
		f.sealed = f.sealed[:len(f.sealed)-1]
		f.cfg.warn(&FileError{Path: f.path, Op: "open", Err: fmt.Errorf("removed %s, an unfinished copy of the active segment", sf.path)})
		return nil
	}
	h := events.NewLinkHasher(f.cfg.key)
	if _, err := io.Copy(h, io.NewSectionReader(fd, 0, st.Size())); err != nil {
		return &FileError{Path: f.path, Op: "open", Err: err}
	}
	sf.size = st.Size()
	sf.idx = &indexCell{x: &x}
	hdr := header{Segment: sf.n + 1, Prev: h.Sum(), Created: f.cfg.now(), RemovedThrough: f.removed}
	breakers := len(f.logs)
	if err := f.replaceActiveLocked(hdr); err != nil {
		return &FileError{Path: f.path, Op: "seal", Err: err}
	}
	f.cfg.warn(&FileError{Path: f.path, Op: "open", Err: fmt.Errorf("finished the seal of segment %d, which a crash had interrupted", sf.n)})
	f.cfg.checkpoint(Checkpoint{Sealed: sf.n, Path: sf.path, Head: hdr.Prev, Records: x.Records, Breakers: breakers, Time: hdr.Created})
	return nil
}

// samePrefix reports whether a and b hold the same first n bytes.
func samePrefix(a, b io.ReaderAt, n int64) (bool, error) {
	const chunk = 64 << 10
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	for off := int64(0); off < n; off += chunk {
		m := min(chunk, n-off)
		if _, err := a.ReadAt(ba[:m], off); err != nil {
			return false, err
		}
		if _, err := b.ReadAt(bb[:m], off); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
		if !bytes.Equal(ba[:m], bb[:m]) {
			return false, nil
		}
	}
	return true, nil
}

// restartFromSealed starts a new active segment from the end of the newest
// sealed one, when the active file is missing (deleted, or created empty by
// Open): the sealed segments hold every record it had sealed.
func (f *File) restartFromSealed(sf *sealedFile) error {
	if _, err := f.startAfterSealed(sf); err != nil {
		return err
	}
	f.cfg.warn(&FileError{Path: f.path, Op: "open", Err: fmt.Errorf("the active segment was missing or empty; started segment %d from the end of %s", sf.n+1, sf.path)})
	return nil
}

// startAfterSealed reads the whole sealed segment sf, checking it, and
// replaces the active segment with segment sf.n+1, which starts from the
// end of it. It returns the new header.
func (f *File) startAfterSealed(sf *sealedFile) (header, error) {
	s, hash, err := scanSealed(sf.path, f.cfg.chainCheck(), nil)
	if err == nil && s.hdr != nil && s.hdr.Segment != sf.n {
		err = fmt.Errorf("%w: the file is named as segment %d, its header says segment %d", ErrForeignSegment, sf.n, s.hdr.Segment)
	}
	if err != nil {
		return header{}, &FileError{Path: f.path, Op: "open", Err: fmt.Errorf("%s: %w", sf.path, err)}
	}
	f.logs, f.removed = s.logs, max(f.removed, s.removed)
	h := header{Segment: sf.n + 1, Prev: hash, Created: f.cfg.now(), RemovedThrough: f.removed}
	if err := f.replaceActiveLocked(h); err != nil {
		return header{}, &FileError{Path: f.path, Op: "open", Err: err}
	}
	return h, nil
}

// scanSealed reads a whole sealed segment, handing each record to each (nil:
// none), and returns what it read with the file's link hash, computed with
// check.Key (bare without one).
func scanSealed(path string, check events.ChainCheck, each func(Record) error) (*segScan, string, error) {
	fd, err := openRegularRead(path)
	if err != nil {
		return nil, "", err
	}
	defer fd.Close()
	s := newSegScan(check, false)
	s.sealed, s.each = true, each
	h := events.NewLinkHasher(check.Key)
	if err := s.read(io.TeeReader(fd, h)); err != nil {
		return s, "", err
	}
	return s, h.Sum(), nil
}

// openRegularRead opens a file for reading, refusing anything but a regular
// file without waiting on a FIFO.
func openRegularRead(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err == nil {
		err = checkRegular(st)
	}
	if err != nil {
		return nil, err
	}
	fd, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	if st, err = fd.Stat(); err == nil {
		err = checkRegular(st)
	}
	if err != nil {
		fd.Close()
		return nil, err
	}
	return fd, nil
}

// retainLocked runs the retention pass: it removes the oldest sealed
// segments that the limits say to, after recording in the active segment
// that it does. It stops at the first segment it keeps, or cannot read the
// seal line of: what remains is a run of consecutive segments.
func (f *File) retainLocked() error {
	// Segments a pass recorded as removed, which a crash left behind.
	cut := 0
	for cut < len(f.sealed) && f.sealed[cut].n <= f.removed {
		cut++
	}
	var policy []string
	if f.cfg.maxAge > 0 || f.cfg.maxBytes > 0 {
		var total int64
		for _, sf := range f.sealed[cut:] {
			total += sf.size
		}
		now := f.cfg.now()
		for i := cut; i < len(f.sealed); i++ {
			sf := &f.sealed[i]
			big := f.cfg.maxBytes > 0 && total > f.cfg.maxBytes
			if !big && f.cfg.maxAge == 0 {
				break
			}
			// Only a sealed segment of this journal is removed: one whose
			// seal line reads, and names it.
			x, err := sf.loadIndex()
			if err == nil && x.Segment != sf.n {
				err = fmt.Errorf("%w: its seal line says segment %d", ErrForeignSegment, x.Segment)
			}
			if err != nil {
				f.cfg.warn(&FileError{Path: f.path, Op: "retention", Err: fmt.Errorf("keeping %s and what follows: %w", sf.path, err)})
				break
			}
			old := f.cfg.maxAge > 0 && x.Last.Before(now.Add(-f.cfg.maxAge))
			if !big && !old {
				break
			}
			if big {
				policy = appendOnce(policy, fmt.Sprintf("max_bytes %d", f.cfg.maxBytes))
			} else {
				policy = appendOnce(policy, "max_age "+f.cfg.maxAge.String())
			}
			total -= sf.size
			cut = i + 1
		}
	}
	if cut == 0 {
		return nil
	}
	through := f.sealed[cut-1].n
	now := f.cfg.now()
	if through > f.removed {
		line, err := marshalRetention(retention{RemovedThrough: through, Time: now, Policy: strings.Join(policy, ", ")})
		if err != nil {
			return &FileError{Path: f.path, Op: "retention", Err: err}
		}
		if err := f.writeLocked(append(withMAC(line, f.cfg.key), '\n')); err != nil {
			return err
		}
		if f.cfg.sync == SyncNone {
			if err := f.f.Sync(); err != nil {
				return &FileError{Path: f.path, Op: "sync", Err: err}
			}
		}
		f.removed = through
		crashPoint("retention-recorded")
	}
	r := Removal{Through: through, Policy: strings.Join(policy, ", "), Time: now}
	var errs []error
	for i, sf := range f.sealed[:cut] {
		if err := os.Remove(sf.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		r.Paths = append(r.Paths, sf.path)
		r.Bytes += sf.size
		if i == 0 && cut > 1 {
			crashPoint("retention-removed-one")
		}
	}
	f.sealed = slices.Clone(f.sealed[cut:])
	if err := syncDir(filepath.Dir(f.real)); err != nil {
		errs = append(errs, err)
	}
	f.cfg.retained(r)
	if len(errs) > 0 {
		return &FileError{Path: f.path, Op: "retention", Err: errors.Join(errs...)}
	}
	return nil
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// loadIndex reads the segment's seal line, once. An error matches
// ErrCorrupt or ErrNewerFormat, or is one of reading the file.
func (sf *sealedFile) loadIndex() (*SegmentIndex, error) {
	if sf.idx == nil {
		sf.idx = &indexCell{}
	}
	c := sf.idx
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x != nil {
		return c.x, nil
	}
	fd, err := openRegularRead(sf.path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	x, _, err := readSealLine(fd, st.Size())
	if err != nil {
		return nil, err
	}
	if x.Segment != sf.n {
		return nil, fmt.Errorf("%w: the file is named as segment %d, its seal line says segment %d", ErrForeignSegment, sf.n, x.Segment)
	}
	c.x = &x
	return &x, nil
}
