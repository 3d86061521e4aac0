package machine

import "github.com/circuitry-go/circuitry/hooks"

// Clock is the breaker's source of time, declared in package hooks so that
// the stock subscribers share it. With the default policy the breaker reads
// it on transitions (and in [OpenError.RetryAfter]), never per call; a time
// window reads it once per call, and a slow-call policy or call timing
// twice. The breaker arms one timer per open period, and one per half-open
// period with [WithHalfOpenTimeout]. Package clocktest provides a fake that
// tests drive.
type Clock = hooks.Clock

// Timer is a pending call armed by [Clock.AfterFunc].
type Timer = hooks.Timer

// SystemClock returns the clock of the time package.
func SystemClock() Clock { return hooks.SystemClock() }
