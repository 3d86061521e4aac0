package filejournal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// lockOffset is where the lock lies: one byte far past the end of any
// journal. Windows locks are mandatory, so a lock on the records would
// keep readers such as ReadFile (and the audit command) from reading them;
// a lock past the end keeps out only other writers, who take the same one.
const lockOffset uint64 = 1<<63 - 1

// lockFile takes an exclusive LockFileEx lock on f without waiting. It fails
// with an error matching ErrLocked when another open file holds the lock.
// Windows releases the lock when the handle is closed or the process ends.
func lockFile(f *os.File) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	err = conn.Control(func(fd uintptr) {
		off := lockOffset
		ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
		lerr = windows.LockFileEx(windows.Handle(fd),
			windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	})
	if err != nil {
		return err
	}
	if errors.Is(lerr, windows.ERROR_LOCK_VIOLATION) {
		return fmt.Errorf("%w (LockFileEx: another process, or another filejournal.File of this one, has it open for writing)", ErrLocked)
	}
	if lerr != nil {
		return fmt.Errorf("LockFileEx: %w", lerr)
	}
	return nil
}

// syncDir does nothing: Windows has no fsync of a directory, and NTFS
// journals the metadata of a rename itself.
func syncDir(string) error { return nil }

// copyOwner does nothing: Windows files have no Unix owner to copy.
func copyOwner(*os.File, fs.FileInfo) {}
