package machine

import "github.com/circuitry-go/circuitry/hooks"

// Clock is the breaker's source of time, declared in package hooks so that
// the stock subscribers share it. The breaker reads it only on transitions
// and arms one timer per open period: never per call with the default
// policy. Package clocktest provides a fake that tests drive.
type Clock = hooks.Clock

// Timer is a pending call armed by [Clock.AfterFunc].
type Timer = hooks.Timer

// SystemClock returns the clock of the time package.
func SystemClock() Clock { return hooks.SystemClock() }
