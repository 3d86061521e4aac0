package filejournal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/circuitry-go/circuitry/events"
)

// File is a durable [events.Journal] shared by every breaker of a process:
// an append-only file of JSON Lines, its active segment, and next to it the
// sealed segments that keep the history, for years if need be. It
// implements [events.Snapshotter], so that [events.Load] (and a breaker
// resuming from the journal) reads the active segment only, however long
// the history.
//
// Open one with [Open] to write, or with [ReadFile] to read a journal that a
// running service may be writing (no lock taken, nothing changed). A File
// keeps the records of the active segment in memory ([WithSegmentSize]
// bounds them); [File.Read] of older records reads them from the sealed
// segments. A File is safe for concurrent use; its methods call back into
// the caller only through the handlers its options set.
//
// # Segments
//
// The journal at path P is a sequence of segments numbered from 1. P is the
// active segment, the only one written to; the sealed segments, never
// modified, sit next to it as P.00000001, P.00000002, … (8 digits or more).
// An append that leaves the active segment with more than [WithSegmentSize]
// bytes after its checkpoint seals it, and so does [File.Checkpoint]: the
// active segment is copied, with a seal line at its end, to its sealed name,
// and replaced by a new active segment that starts from a checkpoint of
// every breaker. Each segment holds, one per line:
//
//   - Its header, the first line:
//
//     {"v":3,"kind":"segment","segment":43,"prev":"sha256:9f86d081884c7d659a2feaa0c55ad015","created":"2026-12-02T10:00:00Z","removed_through":40}
//
//     prev is the link hash of the whole sealed segment before it (absent in
//     segment 1), and removed_through the newest segment a retention pass
//     had removed when it was made (absent for none). In a journal with a
//     chain key, it ends with a field mac, the keyed link hash of the line
//     without it: no record links to a header, and the mac is what keeps
//     one from being changed without the key ([Verify] checks it; the
//     writer does not, so that a journal whose key changed still opens).
//
//   - Its checkpoint: a snapshot record for each breaker with records in
//     earlier segments, the fold ([events.Snapshot]) of every record before
//     the segment, and head, the link hash of the last record it folds.
//     v, kind, breaker, seq (at least 1), state, event (the last one folded)
//     and since (its time) are required; open_for is present exactly when
//     state is open, and opens (the transitions to open since the breaker was
//     last closed) exactly when state is not closed:
//
//     {"v":2,"kind":"snapshot","breaker":"payments","seq":120,"state":"open","event":"retrip","since":"2026-11-27T10:00:00.123456789Z","open_for":"30s","opens":2,"head":"sha256:2c26b46b68ffc68ff99b453c1d304134"}
//
//   - Transition records, exactly as [events.Transition.MarshalJSON] writes
//     them (fields v, breaker, seq, event, from, to, time, open_for,
//     observe_only, writer, id, prev_hash and reason):
//
//     {"v":2,"breaker":"payments","seq":121,"event":"probe","from":"open","to":"half_open","time":"2026-11-27T10:00:30.2Z","writer":"api-7f9c:4242","id":"9f86d081884c7d65","prev_hash":"sha256:fcde2b2edba56bf408601fb721fe9b5c","reason":{"policy":"open_timeout"}}
//
//   - Retention records, written before a retention pass removes sealed
//     segments, so that an audit tells segments removed on purpose from
//     segments lost:
//
//     {"v":3,"kind":"retention","removed_through":40,"time":"2026-12-02T10:00:00Z","policy":"max_age 8760h0m0s"}
//
//     In a journal with a chain key it carries a mac as a header does, so
//     that no one without the key can write one to pass off deleted
//     segments as removed by retention. In a bare journal anyone can.
//
//   - In a sealed segment, last, its seal line: what the segment holds
//     ([SegmentIndex]: its length, its records' count and time range, and
//     for each breaker its first and last sequence number and time and the
//     link hash of its last record), so that readers skip a segment
//     without decoding it:
//
//     {"v":3,"kind":"seal","segment":42,"bytes":4194399,"records":20113,"first":"…","last":"…","breakers":[{"breaker":"payments","first_seq":3001,"last_seq":5000,"first":"…","last":"…","head":"sha256:…"}]}
//
// The records of one breaker in a segment are its history there: at most one
// snapshot record, before its transitions, and transitions whose sequence
// numbers follow on from it (from 1 without one), each legal by
// [events.Snapshot.Apply]. Records of different breakers interleave freely.
// Every line read is checked; the first that breaks a rule is an error
// matching [ErrCorrupt] naming the file and line. Transition and snapshot
// records of format version 1 and 2 read alike, and fields a later minor
// format added are ignored; the lines segments add are of version 3. A line
// of a version above what this build reads is refused with [ErrNewerFormat]:
// the file was written by a newer circuitry, and is never modified.
//
// A file written before segments (no header: transition records, possibly
// after the snapshot records, without head, of that version's compaction)
// reads as segment 1. It takes appends, and its first seal makes it sealed
// segment 1, unchanged but for the seal line after it. A file written by
// [events.EncodeLines] is such a file; [events.DecodeLines] reads
// transitions only.
//
// # The chain
//
// Every transition record carries prev_hash, the link hash
// ([events.LinkHash]) of its breaker's previous record exactly as stored
// (its line, without the newline): "sha256:…", or "hmac-sha256:…" under the
// key of [WithChainKey]. The first record of a segment links to the head
// its breaker's checkpoint carries, which is that same hash; a breaker's
// first record has none. Each header links to the whole sealed segment
// before it, so the link hash of a sealed segment, the head a [Checkpoint]
// hands over, stands for every byte of it and, header by header, of every
// segment before it. [Open] checks the links of the active segment;
// [Verify] checks all of them. What a passing Verify proves:
//
//   - A bare chain catches accidents and partial edits: a record changed,
//     removed or inserted, a segment lost, cut short, renamed or out of
//     place. But whoever can edit the files can recompute every hash after
//     what they changed: against them, a bare chain proves nothing.
//   - A keyed chain ([WithChainKey], checked with [VerifyOptions].Key and
//     RequireKey) cannot be recomputed without the key: an edit by someone
//     who does not hold it breaks it, but for an edit of what no link
//     covers (the newest record of each breaker in the active segment) and
//     the addition of a breaker's first record, which links to nothing.
//   - Neither shows that the newest records were dropped. Cutting the active
//     segment after any record leaves a valid chain: the newest record of
//     each breaker is vouched for by no successor. A head witnessed outside
//     the journal (handed by [WithCheckpointHandler] to logs, traces or
//     another system) and given to Verify proves that every record up to its
//     checkpoint is still there, unchanged; the records after the newest
//     witnessed head can still be dropped unseen.
//
// # Retention
//
// By default the journal keeps every sealed segment: the whole audit trail.
// [WithMaxAge] and [WithMaxBytes] make each seal (and Open) run a retention
// pass, which removes the oldest sealed segments that the limits say to, a
// prefix of the sequence: it first writes a retention record to the active
// segment (so that [Verify] and Open tell those segments from missing
// ones), then removes the files, and hands a [Removal] to the handler of
// [WithRetentionHandler]. The checkpoints keep every breaker's state;
// [File.Read] of removed records returns a [*events.CompactedError]. A
// sealed segment missing without a retention record is reported by Open (a
// warning matching [ErrMissingSegment]), by Verify, and by a Read that
// needs its records.
//
// # Durability and crashes
//
// A record is committed once its whole line, newline included, is in the
// file; [File.Append] writes the line with one write at the end of the last
// committed record and, with [SyncAlways] (the default), fsyncs before it
// returns. So a crash leaves the committed records and at most one
// incomplete line after them: NUL bytes, or the start of a record (every
// record begins with {"v":). [Open] cuts it off and reports it to the
// warning handler as an [ErrTornRecord]; the append that wrote it never
// returned. Bytes after the last newline that are anything else are
// reported as corrupt, so that a file that is not a journal is never cut. An
// append that fails (a full disk) is undone by truncating the file back to
// its last committed record, and returns the error: the breaker keeps the
// record and appends it again before its next one. With [SyncNone], Append
// returns once the line is handed to the operating system: a crash of the
// process loses nothing, but a crash of the machine may lose the most recent
// records (the file then ends earlier, possibly with a torn line, cut as
// above). Either way, what survives is only as durable as the storage device
// is honest about its flushes.
//
// A seal writes the sealed copy to a temporary file, fsyncs it, renames it
// to its sealed name and fsyncs the directory; then writes the new active
// segment to a temporary file, locks and fsyncs it, renames it over P and
// fsyncs the directory. A crash at any point leaves a journal that Open
// resumes: it removes the temporary files, finishes a seal stopped between
// the two renames (the sealed copy is there, the new active segment is not;
// the checkpoint handler then receives its head), and finishes a retention
// pass stopped after its retention record. Nothing committed is lost.
//
// # Locking
//
// One File writes a journal at a time: Open takes an exclusive lock on P,
// without waiting (flock(2) on Unix, LockFileEx on Windows, on a byte past
// the end of the file so that readers are not blocked), and fails with
// [ErrLocked] when another process (or another File of this process) holds
// it. The lock goes with the open file, so the operating system releases it
// when the process dies, even by SIGKILL; a new active segment is locked
// before it replaces the old one. Readers ([ReadFile], [Verify], [Records],
// [StateAt]) take no lock: they open the active segment first and read only
// the sealed segments before it, so that a seal running meanwhile makes them
// neither skip nor repeat a record. On systems with neither lock, Open
// returns an error and the readers still work.
//
// On Windows, a seal cannot rename over the open active segment (Go opens
// files without FILE_SHARE_DELETE): it fails, is reported to the warning
// handler, and the active segment goes on growing, a seal being tried again
// after each further [WithSegmentSize] of records.
type File struct {
	path     string // as given, for messages
	real     string // with symbolic links resolved: what a seal replaces
	cfg      config
	readOnly bool
	torn     int64 // bytes of an incomplete last line: ignored by ReadFile, cut by Open

	mu        sync.RWMutex
	f         *os.File // nil when read-only or closed
	size      int64    // end of the last committed record
	tailStart int64    // end of the header and checkpoint: where the segment's records start
	logs      map[string]*fileLog
	next      uint64       // position of the next record in the segment
	hdr       *header      // the active segment's header; nil in a file written before segments
	removed   uint64       // the newest segment retention removed
	sealed    []sealedFile // the sealed segments, oldest first
	dirSync   bool         // a rename is not yet known to be durable: sync the directory before the next append
	sealAfter int64        // after a seal failed: the size of the active segment before the next attempt
	broken    error        // a failed write that could not be undone: every append fails with it
	closed    bool
}

var (
	_ events.Journal     = (*File)(nil)
	_ events.Snapshotter = (*File)(nil)
)

// Open opens the journal file at path for writing, creating it (and
// syncing its directory) if it does not exist, and returns it ready for
// appends. It locks the file exclusively ([ErrLocked] when another writer
// holds it), reads and checks every record of the active segment and its
// links (see [File]), cuts off an incomplete last record (a warning matching
// [ErrTornRecord]), resumes what an interrupted seal or retention pass left,
// reports sealed segments missing from the sequence (a warning matching
// [ErrMissingSegment]) and runs the retention pass. It decodes no record of
// a sealed segment (but for the newest, when the active segment is missing
// and the journal must start again from it), so it takes the same time
// whatever the length of the history.
//
// It fails, changing nothing, when path is a directory or not a regular
// file, when it cannot be opened for reading and writing (permissions), when
// a record has a newer format version ([ErrNewerFormat]), when a file next
// to it named as a sealed segment cannot belong to the journal
// ([ErrForeignSegment]), and, unless [WithCorruptionRecovery] is given, when
// a record is corrupt ([ErrCorrupt]).
// Every error is a [*FileError] naming path; for a bad record it holds a
// [*events.RecordError] whose Position is the line.
//
// Close the File when done: that releases the lock.
func Open(path string, opts ...Option) (*File, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("circuitry: Open: empty path")
	}
	fd, real, created, err := openLocked(path, cfg.mode)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, real: real, cfg: cfg, f: fd, logs: make(map[string]*fileLog)}
	if created {
		if err := syncDir(filepath.Dir(real)); err != nil {
			fd.Close()
			return nil, &FileError{Path: path, Op: "sync", Err: err}
		}
	}
	if err := f.load(); err != nil {
		fd.Close()
		return nil, err
	}
	return f, nil
}

// openLocked opens path for reading and writing, creating it if it does not
// exist, checks that it is a regular file and locks it. It retries when the
// file it locked was replaced (by another writer's seal) meanwhile.
func openLocked(path string, mode fs.FileMode) (fd *os.File, real string, created bool, err error) {
	for attempt := 0; ; attempt++ {
		fd, created, err = openRegular(path, mode)
		if err != nil {
			return nil, "", false, err
		}
		if err := lockFile(fd); err != nil {
			fd.Close()
			return nil, "", false, &FileError{Path: path, Op: "lock", Err: err}
		}
		real, err = filepath.EvalSymlinks(path)
		if err == nil {
			var st, cur fs.FileInfo
			if st, err = fd.Stat(); err == nil {
				if cur, err = os.Stat(real); err == nil && os.SameFile(st, cur) {
					return fd, real, created, nil
				}
			}
		}
		fd.Close()
		if attempt == 3 {
			if err == nil {
				err = errors.New("the file was replaced while it was being locked, again and again")
			}
			return nil, "", false, &FileError{Path: path, Op: "lock", Err: err}
		}
	}
}

// openRegular opens path read-write, creating it if it does not exist, and
// refuses anything but a regular file.
func openRegular(path string, mode fs.FileMode) (*os.File, bool, error) {
	for attempt := 0; ; attempt++ {
		created := true
		fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
		if errors.Is(err, fs.ErrExist) {
			created = false
			if st, serr := os.Stat(path); serr == nil && st.IsDir() {
				return nil, false, &FileError{Path: path, Op: "open", Err: errors.New("is a directory, not a journal file")}
			}
			fd, err = os.OpenFile(path, os.O_RDWR, 0)
			if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
				continue // removed between the two opens
			}
		}
		if err != nil {
			return nil, false, &FileError{Path: path, Op: "open", Err: err}
		}
		st, err := fd.Stat()
		if err != nil {
			fd.Close()
			return nil, false, &FileError{Path: path, Op: "open", Err: err}
		}
		if !st.Mode().IsRegular() {
			fd.Close()
			return nil, false, &FileError{Path: path, Op: "open", Err: fmt.Errorf("not a regular file (mode %v)", st.Mode())}
		}
		return fd, created, nil
	}
}

// load reads the locked active segment, finds the sealed ones and repairs
// what a crash left and the options allow.
func (f *File) load() error {
	s := newSegScan(f.cfg.chainCheck(), true)
	err := s.read(f.f)
	var re *events.RecordError
	if err != nil && !errors.As(err, &re) {
		return &FileError{Path: f.path, Op: "read", Err: err}
	}
	if re != nil && (errors.Is(re, ErrNewerFormat) || !f.cfg.recover) {
		return &FileError{Path: f.path, Op: "read", Err: re}
	}
	f.adopt(s)
	sealed, err := listSealed(f.real)
	if err != nil {
		return &FileError{Path: f.path, Op: "read", Err: fmt.Errorf("listing the sealed segments: %w", err)}
	}
	f.sealed = sealed
	if err := f.checkForeign(); err != nil {
		return err
	}
	f.removeStaleTemps()
	if re != nil {
		if err := f.recoverCorrupt(re); err != nil {
			return err
		}
	} else if s.torn > 0 {
		if err := f.f.Truncate(s.good); err != nil {
			return &FileError{Path: f.path, Op: "truncate", Err: err}
		}
		if err := f.f.Sync(); err != nil {
			return &FileError{Path: f.path, Op: "sync", Err: err}
		}
		f.torn = s.torn
		f.cfg.warn(&FileError{Path: f.path, Op: "open", Err: &events.RecordError{Position: s.lines + 1,
			Err: fmt.Errorf("%w: %d bytes at offset %d cut off (an append that never returned)", ErrTornRecord, s.torn, s.good)}})
	}
	if err := f.resumeSegments(); err != nil {
		return err
	}
	if err := f.retainLocked(); err != nil {
		f.cfg.warn(err)
	}
	return nil
}

// adopt makes what s read of the active segment the journal's state.
func (f *File) adopt(s *segScan) {
	f.logs, f.next, f.size, f.hdr, f.removed = s.logs, s.next, s.good, s.hdr, s.removed
	f.tailStart = s.tailStart
	if f.tailStart < 0 {
		f.tailStart = s.good
	}
}

// recoverCorrupt copies the corrupt file aside and cuts the journal back
// to the end of the last good line before the bad one: what remains is a
// valid segment, whose records and links are those that were read.
func (f *File) recoverCorrupt(re *events.RecordError) error {
	aside := fmt.Sprintf("%s.corrupt-%s", f.real, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := f.copyTo(aside); err != nil {
		return &FileError{Path: f.path, Op: "recover", Err: fmt.Errorf("line %d: %w; copying the file aside to %s failed: %w", re.Position, re.Err, aside, err)}
	}
	if n := len(f.sealed); f.next == 0 && n > 0 && (f.hdr == nil || f.sealed[n-1].n+1 == f.hdr.Segment) {
		// No record was read: the checkpoint may be cut short. The newest
		// sealed segment ends where it starts; start again from there.
		f.size, f.hdr, f.logs = 0, nil, make(map[string]*fileLog)
	}
	if err := f.f.Truncate(f.size); err != nil {
		return &FileError{Path: f.path, Op: "recover", Err: fmt.Errorf("line %d: %w; the file was copied to %s, but cutting it failed: %w", re.Position, re.Err, aside, err)}
	}
	if err := f.f.Sync(); err != nil {
		return &FileError{Path: f.path, Op: "sync", Err: err}
	}
	f.cfg.warn(&FileError{Path: f.path, Op: "recover", Err: fmt.Errorf(
		"line %d: %w; the whole file was copied to %s, and the journal starts from the records before that line", re.Position, re.Err, aside)})
	return nil
}

// copyTo copies the whole journal file to a new file at dst, durably.
func (f *File) copyTo(dst string) error {
	st, err := f.f.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f.f, 0, st.Size()))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(dst))
	}
	return err
}

// tempPrefixes are the name prefixes of a seal's temporary files: the
// new active segment, and the copy that becomes the sealed one (and of the
// temporary file of a version before segments, which the new active one
// keeps). They are removed when found on open.
func (f *File) tempPrefixes() []string {
	base := filepath.Base(f.real)
	return []string{base + ".compact-", base + ".seal-"}
}

// removeStaleTemps removes what an interrupted seal left behind. Only the
// holder of the lock seals, so none is in use.
func (f *File) removeStaleTemps() {
	dir := filepath.Dir(f.real)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !slices.ContainsFunc(f.tempPrefixes(), func(p string) bool { return strings.HasPrefix(e.Name(), p) }) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if err := os.Remove(name); err != nil {
			f.cfg.warn(&FileError{Path: f.path, Op: "open", Err: fmt.Errorf("removing %s, left by an interrupted seal: %w", name, err)})
			continue
		}
		f.cfg.warn(&FileError{Path: f.path, Op: "open", Err: fmt.Errorf("removed %s, left by an interrupted seal", name)})
	}
}

// ReadFile reads the journal file at path for audit tools and checks every
// record, without locking or modifying the file, so it may be called while a
// service appends to it. An incomplete last line (an append in progress, or
// torn by a crash) is ignored and counted in [Stats].TornBytes. The
// returned File serves Read (of older records too, from the sealed
// segments), Snapshot, Breakers and Stats from what was read; its Append and
// Checkpoint fail with [ErrReadOnly]; Close does nothing.
//
// When a record is bad, ReadFile returns a File holding the records before
// it together with a [*FileError] naming the path and line, matching
// [ErrCorrupt] or [ErrNewerFormat]. Other failures (no such file, a
// directory, permissions) return a nil File and a *FileError.
func ReadFile(path string) (*File, error) {
	if path == "" {
		return nil, errors.New("circuitry: ReadFile: empty path")
	}
	// Checked before opening, and again on what was opened: opening a FIFO
	// would wait for a writer for ever, and the non-blocking open keeps a
	// file swapped for one in between from doing so.
	st, err := os.Stat(path)
	if err == nil {
		err = checkRegular(st)
	}
	if err != nil {
		return nil, &FileError{Path: path, Op: "open", Err: err}
	}
	fd, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, &FileError{Path: path, Op: "open", Err: err}
	}
	defer fd.Close()
	if st, err = fd.Stat(); err == nil {
		err = checkRegular(st)
	}
	if err != nil {
		return nil, &FileError{Path: path, Op: "open", Err: err}
	}
	s := newSegScan(events.ChainCheck{}, true)
	err = s.read(fd)
	var re *events.RecordError
	if err != nil && !errors.As(err, &re) {
		return nil, &FileError{Path: path, Op: "read", Err: err}
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	f := &File{path: path, real: real, readOnly: true, torn: s.torn, cfg: defaults()}
	f.adopt(s)
	sealed, lerr := listSealed(real)
	if lerr != nil {
		return nil, &FileError{Path: path, Op: "read", Err: fmt.Errorf("listing the sealed segments: %w", lerr)}
	}
	// Those before the active segment: one numbered as the active one is
	// the copy of a seal in progress.
	f.sealed = before(sealed, f.segmentLocked())
	if re != nil {
		return f, &FileError{Path: path, Op: "read", Err: re}
	}
	return f, nil
}

// checkRegular refuses anything but a regular file.
func checkRegular(st fs.FileInfo) error {
	switch {
	case st.IsDir():
		return errors.New("is a directory, not a journal file")
	case !st.Mode().IsRegular():
		return fmt.Errorf("not a regular file (mode %v)", st.Mode())
	}
	return nil
}

// Path returns the path the journal was opened with.
func (f *File) Path() string { return f.path }

// Append stores t durably (see [SyncPolicy]) if it directly follows the last
// record of t.Breaker. It returns a [*events.ConflictError] when t.Seq does not
// follow; a [*events.RefusedError] (matching [events.ErrRefused]) wrapping
// [events.ErrInvalidRecord] or [events.ErrIllegalTransition] when t is not a legal next
// record (or its breaker name fails [events.CheckName], or it encodes to more than
// [events.MaxRecordSize] bytes); and a [*FileError] when the file cannot be
// written, in which case nothing of t is left in the file. It fails for good
// (a *RefusedError) with [ErrReadOnly] on a File from [ReadFile], with
// [ErrClosed] after Close, and once a failed write could not be undone.
//
// What Read returns afterwards is t as the file holds it: t.Time in UTC
// without a monotonic reading, and strings with invalid UTF-8 replaced, as
// encoding/json writes them, so that a journal read after a restart gives
// exactly the same records.
//
// When the append leaves the active segment longer than [WithSegmentSize],
// Append seals it (see [File.Checkpoint]) before it returns; a seal that
// fails is reported to the warning handler, and Append still returns nil:
// t is stored.
func (f *File) Append(ctx context.Context, t events.Transition) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	refuse := func(err error) error { return &events.RefusedError{Breaker: t.Breaker, Seq: t.Seq, Err: err} }
	if err := f.writableLocked("append"); err != nil {
		return refuse(err)
	}
	if err := events.CheckName(t.Breaker); err != nil {
		return refuse(fmt.Errorf("circuitry: File.Append %v: %w: %w", t, events.ErrInvalidRecord, err))
	}
	l := f.logs[t.Breaker]
	head := events.Initial(t.Breaker)
	if l != nil {
		head = l.head
	}
	if t.Seq != head.Seq+1 {
		return &events.ConflictError{Breaker: t.Breaker, Seq: t.Seq, Last: head.Seq}
	}
	next, err := head.Apply(t)
	if err != nil {
		return refuse(fmt.Errorf("circuitry: File.Append %v: %w", t, err))
	}
	t.PrevHash = ""
	if l != nil {
		t.PrevHash = l.prevLink(f.cfg.key)
	}
	line, err := t.MarshalJSON()
	if err != nil {
		return refuse(fmt.Errorf("circuitry: File.Append %v: %w: %w", t, events.ErrInvalidRecord, err))
	}
	if len(line) > events.MaxRecordSize {
		return refuse(fmt.Errorf("circuitry: File.Append %v: %w: encoded in %d bytes, more than MaxRecordSize (%d)", t, events.ErrInvalidRecord, len(line), events.MaxRecordSize))
	}
	stored, err := storedForm(t, line)
	if err != nil { // not reached: MarshalJSON writes what UnmarshalJSON reads
		return refuse(fmt.Errorf("circuitry: File.Append %v: %w: %w", t, events.ErrInvalidRecord, err))
	}
	if err := f.writeLocked(append(line, '\n')); err != nil {
		return err
	}
	if l == nil {
		l = &fileLog{held: held{base: events.Initial(t.Breaker)}}
		f.logs[t.Breaker] = l
	}
	next.Since = stored.Time
	l.head = next
	l.recs = append(l.recs, stored)
	l.last = append(l.last[:0], line...)
	if l.count == 0 {
		l.firstSeq, l.first, l.late = t.Seq, stored.Time, stored.Time
	}
	l.count++
	l.first, l.late = minTime(l.first, stored.Time), maxTime(l.late, stored.Time)
	f.next++
	if f.size-f.tailStart > f.cfg.segmentSize && f.size >= f.sealAfter {
		if _, err := f.sealLocked(); err != nil {
			// Not again before another segment's worth of records: a
			// seal copies the whole active segment.
			f.sealAfter = f.size + f.cfg.segmentSize
			f.cfg.warn(err)
		}
	}
	return nil
}

// storedForm returns t as a reader of line gets it back: its time in UTC
// without a monotonic reading and, when a string is not valid UTF-8, its
// invalid bytes replaced as encoding/json writes them.
func storedForm(t events.Transition, line []byte) (events.Transition, error) {
	r := t.Reason
	for _, s := range []string{r.Policy, r.LastError, r.Operator, r.Note} {
		if !utf8.ValidString(s) {
			var stored events.Transition
			err := stored.UnmarshalJSON(line)
			return stored, err
		}
	}
	t.Time = t.Time.UTC()
	return t, nil
}

// writableLocked says why the journal cannot be written, if it cannot.
func (f *File) writableLocked(op string) error {
	switch {
	case f.readOnly:
		return &FileError{Path: f.path, Op: op, Err: ErrReadOnly}
	case f.closed:
		return &FileError{Path: f.path, Op: op, Err: ErrClosed}
	case f.broken != nil:
		return f.broken
	}
	return nil
}

// writeLocked writes line after the last committed record and makes it
// durable as the sync policy says. On failure it truncates the file back,
// so that no part of line stays in it.
func (f *File) writeLocked(line []byte) error {
	if f.dirSync {
		if err := syncDir(filepath.Dir(f.real)); err != nil {
			return &FileError{Path: f.path, Op: "sync", Err: fmt.Errorf("the directory, after a seal: %w", err)}
		}
		f.dirSync = false
	}
	op := "append"
	_, err := f.f.WriteAt(line, f.size)
	if err == nil && f.cfg.sync == SyncAlways {
		op, err = "sync", f.f.Sync()
	}
	if err != nil {
		if terr := f.f.Truncate(f.size); terr != nil {
			f.broken = &FileError{Path: f.path, Op: "truncate", Err: fmt.Errorf(
				"undoing a failed %s left the file in an unknown state; reopen the journal (its last line will be cut as torn): %w", op, errors.Join(err, terr))}
		}
		return &FileError{Path: f.path, Op: op, Err: err}
	}
	f.size += int64(len(line))
	return nil
}

// Read returns a copy of breaker's records with sequence numbers above
// after: from memory for those of the active segment, and for older ones
// from the sealed segments, read from disk (without holding the journal's
// lock), every line, fold and bare link of the segments read checked
// (keyed links are left to [Verify]). Asking for records that retention
// removed, or that a file written before segments compacted away, returns
// a [*events.CompactedError]; for records in a sealed segment that is
// missing (and that no retention removed), the error is a [*FileError]
// matching [ErrMissingSegment].
func (f *File) Read(ctx context.Context, breaker string, after uint64) ([]events.Transition, error) {
	for attempt := 0; ; attempt++ {
		f.mu.RLock()
		l := f.logs[breaker]
		if l == nil {
			f.mu.RUnlock()
			return nil, nil
		}
		if after >= l.base.Seq {
			defer f.mu.RUnlock()
			return l.after(after)
		}
		tail, base := slices.Clone(l.recs), l.base.Seq
		v := sealedView{sealed: slices.Clone(f.sealed), removed: f.removed, active: f.segmentLocked(), path: f.path}
		f.mu.RUnlock()
		crashPoint("read-sealed")
		// The sealed segments are checked as Records checks them: keyed
		// links are left to Verify, so that records linked under an
		// earlier key still read.
		older, err := v.read(ctx, breaker, after, base, events.ChainCheck{})
		if err != nil && errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			// A retention pass may have removed the segment meanwhile:
			// read again from what the journal holds now.
			f.mu.RLock()
			removed := f.removed
			f.mu.RUnlock()
			if removed != v.removed {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		return append(older, tail...), nil
	}
}

// Snapshot returns the fold of breaker's records before the active
// segment: its checkpoint, from which [events.Load] reads the records the
// active segment holds; [events.Initial] when there are none.
func (f *File) Snapshot(_ context.Context, breaker string) (events.Snapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if l := f.logs[breaker]; l != nil {
		return l.base, nil
	}
	return events.Initial(breaker), nil
}

// Breakers returns the names of the breakers with records or a snapshot in
// the journal, sorted.
func (f *File) Breakers() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return sortedNames(f.logs)
}

// Stats describes what a [File] holds.
type Stats struct {
	// Breakers is the number of breakers in the journal.
	Breakers int
	// Records is the number of transition records in the active segment.
	Records int
	// Snapshots is the number of snapshot records in the active segment's
	// checkpoint: breakers whose earlier records are in sealed segments
	// (or were folded by the compaction of a version before segments).
	Snapshots int
	// Size is the length of the active segment up to the end of its last
	// record.
	Size int64
	// TornBytes is the length of the incomplete line found at the end of
	// the file when it was read: ignored by [ReadFile], cut off by
	// [Open].
	TornBytes int64
	// Segment is the number of the active segment (1 for a file written
	// before segments).
	Segment uint64
	// Sealed is the number of sealed segments, SealedBytes their total
	// size, and RemovedThrough the newest segment retention removed (0
	// for none).
	Sealed         int
	SealedBytes    int64
	RemovedThrough uint64
}

// Stats returns what the journal holds.
func (f *File) Stats() Stats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	st := Stats{Breakers: len(f.logs), Size: f.size, TornBytes: f.torn, Segment: f.segmentLocked(), Sealed: len(f.sealed), RemovedThrough: f.removed}
	for _, l := range f.logs {
		st.Records += len(l.recs)
		if l.base.Seq > 0 {
			st.Snapshots++
		}
	}
	for _, sf := range f.sealed {
		st.SealedBytes += sf.size
	}
	return st
}

// Close releases the lock and closes the file, after an fsync when the sync
// policy is [SyncNone]. Appends after Close fail with [ErrClosed]; Read,
// Snapshot, Breakers and Stats still answer from memory. Closing twice, or
// closing a File from [ReadFile], does nothing.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.f == nil {
		f.closed = true
		return nil
	}
	f.closed = true
	var err error
	if f.cfg.sync == SyncNone && f.broken == nil {
		if err = f.f.Sync(); err != nil {
			err = &FileError{Path: f.path, Op: "sync", Err: err}
		}
	}
	if f.dirSync {
		if derr := syncDir(filepath.Dir(f.real)); derr != nil && err == nil {
			err = &FileError{Path: f.path, Op: "sync", Err: fmt.Errorf("the directory, after a seal: %w", derr)}
		}
	}
	if cerr := f.f.Close(); cerr != nil && err == nil {
		err = &FileError{Path: f.path, Op: "close", Err: cerr}
	}
	f.f = nil
	return err
}
