package filejournal

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/circuitry-go/circuitry/events"
)

// Compact rewrites the journal file as each breaker's snapshot record
// followed by its newest records, as many as [WithRetention] says, in their
// original order. It is atomic: the new file is written next to the journal,
// fsynced and renamed over it, so a crash leaves either the old file or the
// new one. [events.Load] gives the same fold for every breaker before and after.
// Appends wait while it runs. It returns a [*FileError] on failure: before
// the rename, the journal is left as it was; when only the fsync of the
// directory after the rename fails, the compacted file is the journal and
// the next append syncs the directory again before it returns.
func (f *File) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writableLocked("compact"); err != nil {
		return err
	}
	return f.compactLocked(f.cfg.keep)
}

// compactLocked rewrites the file keeping keep records per breaker.
func (f *File) compactLocked(keep int) error {
	fail := func(err error) error { return &FileError{Path: f.path, Op: "compact", Err: err} }

	// The new logs, and the file's lines in order: snapshots by breaker
	// name, then every kept record by its position.
	type kept struct {
		pos uint64
		t   events.Transition
	}
	names := make([]string, 0, len(f.logs))
	for n := range f.logs {
		names = append(names, n)
	}
	slices.Sort(names)
	logs := make(map[string]*fileLog, len(f.logs))
	var snaps []events.Snapshot
	var recs []kept
	for _, n := range names {
		l := f.logs[n]
		drop := max(len(l.recs)-keep, 0)
		base, err := events.ReplayFrom(l.base, l.recs[:drop])
		if err != nil { // not reached: the records were checked on the way in
			return fail(err)
		}
		if base.Seq > 0 {
			snaps = append(snaps, base)
		}
		nl := &fileLog{held: held{base: base, head: l.head, recs: slices.Clone(l.recs[drop:])}, pos: slices.Clone(l.pos[drop:])}
		logs[n] = nl
		for i, t := range nl.recs {
			recs = append(recs, kept{nl.pos[i], t})
		}
	}
	slices.SortFunc(recs, func(a, b kept) int {
		switch {
		case a.pos < b.pos:
			return -1
		case a.pos > b.pos:
			return 1
		}
		return 0
	})

	dir := filepath.Dir(f.real)
	tmp, err := os.CreateTemp(dir, f.tempPrefix()+"*")
	if err != nil {
		return fail(err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := lockFile(tmp); err != nil {
		return fail(fmt.Errorf("locking %s: %w", tmp.Name(), err))
	}
	if st, err := f.f.Stat(); err == nil {
		if err := tmp.Chmod(st.Mode().Perm()); err != nil {
			return fail(err)
		}
		copyOwner(tmp, st)
	}
	w := bufio.NewWriter(tmp)
	var size int64
	for _, s := range snaps {
		b, err := marshalSnapshot(s)
		if err != nil { // not reached: a fold of legal records is a valid snapshot
			return fail(err)
		}
		n, _ := w.Write(append(b, '\n'))
		size += int64(n)
	}
	for _, r := range recs {
		b, err := r.t.MarshalJSON()
		if err != nil { // not reached: the records were read or written by this package
			return fail(err)
		}
		n, _ := w.Write(append(b, '\n'))
		size += int64(n)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), f.real); err != nil {
		return fail(err)
	}
	done = true
	// The new file is the journal now, locked since before the rename.
	old := f.f
	f.f, f.size, f.logs = tmp, size, logs
	old.Close()
	if err := syncDir(dir); err != nil {
		// The rename is done but may not be durable yet: the next append
		// syncs the directory before it returns.
		f.dirSync = true
		return fail(fmt.Errorf("syncing the directory after the rename: %w", err))
	}
	return nil
}
