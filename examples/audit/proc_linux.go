package main

import "syscall"

// dieWithParent makes the kernel kill the child with SIGKILL when its
// parent dies, whatever kills the parent.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
