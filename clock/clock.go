// Package clock is the source of time of circuitry's breakers and of the
// stock subscribers that need timers: the [Clock] interface, which tests
// replace with a fake they drive (package clocktest, or testing/synctest
// with the [System] clock), and the system clock.
package clock

import "time"

// Clock is the source of time of a breaker and of the stock subscribers that
// need timers. Live timing uses the monotonic reading of Now; the wall
// reading is for records. Tests inject a fake, such as the one in package
// github.com/circuitry-go/circuitry/clock/clocktest, and drive it.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, on the
	// goroutine that advances it) once d has passed, unless stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by [Clock.AfterFunc].
type Timer interface {
	// Stop prevents the call if it has not started, and reports whether it
	// did so.
	Stop() bool
}

// System returns the clock of the time package. Besides the methods
// of [Clock] it has Since(t time.Time) time.Duration, which is
// [time.Since]: for a t with a monotonic reading it reads only the
// monotonic clock, half the cost of Now. The breaker uses it to time calls
// when a clock has it.
func System() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Since(t time.Time) time.Duration { return time.Since(t) }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
