//go:build unix

package filejournal

import "syscall"

// openNonblock makes opening a FIFO or a device return at once instead of
// waiting for a writer; it changes nothing for a regular file.
const openNonblock = syscall.O_NONBLOCK
