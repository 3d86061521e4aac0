// Package goid tells goroutines apart, for the one place that must: a
// dispatcher that runs subscribers on the goroutine that caused a
// transition has to know when a subscriber, on that same goroutine, causes
// another one, or it would wait for itself.
package goid

import (
	"runtime"
	"strconv"
)

// ID returns the current goroutine's id, as the runtime prints it in a
// stack trace ("goroutine 7 [running]:"). It costs a stack walk (a
// microsecond or two): call it where transitions are made, never per call.
func ID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	b = b[len(prefix):]
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	id, err := strconv.ParseUint(string(b[:n]), 10, 64)
	if err != nil {
		return 0 // not reached: every trace starts so
	}
	return id
}
