//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package filejournal

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
)

// lockFile fails: this system has no flock(2), and without a lock two
// writers could interleave their records. ReadFile still works.
func lockFile(*os.File) error {
	return errors.New("the file journal needs flock(2), which " + runtime.GOOS + " does not have; filejournal.ReadFile can still read journals")
}

func syncDir(string) error { return nil }

func copyOwner(*os.File, fs.FileInfo) {}
