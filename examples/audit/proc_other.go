//go:build !linux

package main

import "syscall"

// dieWithParent returns nil: only Linux has a parent-death signal. The
// child still stops when its standard input, a pipe from the parent,
// reaches end of file, which it does when the parent dies.
func dieWithParent() *syscall.SysProcAttr { return nil }
