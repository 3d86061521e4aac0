package filejournal

import "time"

// WithClock sets the clock retention measures age against.
func WithClock(now func() time.Time) Option { return withClock(now) }

// CrashPoints are the points of a seal and of a retention pass where
// crashHook is called, in the order a seal that removes several segments
// reaches them.
var CrashPoints = []string{"sealed-written", "sealed-renamed", "active-written", "active-renamed", "retention-recorded", "retention-removed-one"}

// SetCrashHook makes f be called at each crash point, and returns a
// function that restores the hook before it. Tests that set it must not
// run in parallel with others that seal.
func SetCrashHook(f func(point string)) (restore func()) {
	old := crashHook
	crashHook = f
	return func() { crashHook = old }
}
