// Package clocktest provides [Clock], a fake [clock.Clock] for tests of
// breakers and subscribers: time stands still until the test moves it with
// [Clock.Advance] or [Clock.Set], and timers made by [Clock.AfterFunc] run
// synchronously on the goroutine that moves it, so a test never sleeps.
//
// # Timers
//
// A timer is due when the clock's time reaches its deadline: the time at
// which it was made plus its duration. A duration of zero or less makes a
// timer that is due at once; it does not run inside AfterFunc but on the next
// call to Advance (Advance(0) is enough) or Set. Running it inside AfterFunc
// would deadlock a caller that makes timers while holding a lock its timer
// function takes, which is how breakers and subscribers use their clock.
//
// Advance and Set run every timer that is due by the new time, one at a time,
// in order of deadline (timers with the same deadline in the order they were
// made), on the calling goroutine and without holding the clock's lock. While
// a timer's function runs, [Clock.Now] returns that timer's deadline (or the
// time it was made, if that is later), so the function sees the time at which
// it was due. A timer function may call Now, AfterFunc, Stop, Advance or Set;
// a timer it makes that is already due by the new time runs within the same
// Advance or Set.
//
// # Going back
//
// Time never goes back: Advance with a negative duration does nothing, and
// Set with a time before Now returns an error and changes nothing.
//
// # Concurrency
//
// A Clock is safe for concurrent use. Each timer runs at most once even when
// several goroutines advance the clock at the same time, but the order in
// which timers run across concurrent Advance calls is not defined; a test
// that needs an order should advance from one goroutine.
package clocktest
