package registry

import (
	"errors"
	"fmt"

	"github.com/circuitry-go/circuitry/events"
)

// ErrFull is matched by the error of [Registry.Get] (and Do and Execute)
// when the registry holds its most breakers ([WithMaxKeys]) and none of
// them can be evicted: the details are a [*FullError].
var ErrFull = errors.New("circuitry: registry is full")

// ErrInvalidKey is matched by the error for a key that cannot name a
// breaker: the details are a [*KeyError].
var ErrInvalidKey = errors.New("circuitry: invalid registry key")

// ErrClosed is returned by [Registry.Get], Do and Execute after
// [Registry.Close].
var ErrClosed = errors.New("circuitry: registry is closed")

// FullError is the detail of an [ErrFull]: the key refused and the bound.
type FullError struct {
	// Key is the key whose breaker could not be made, cut to its first
	// 64 bytes when longer.
	Key string
	// MaxKeys is the registry's bound ([WithMaxKeys]).
	MaxKeys int
}

func (e *FullError) Error() string {
	return fmt.Sprintf("circuitry: registry is full: it holds %d breakers, none of them quiet and unused since the last sweep; key %q refused", e.MaxKeys, e.Key)
}

// Is makes errors.Is(err, ErrFull) true.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// KeyError is the detail of an [ErrInvalidKey]: a key whose breaker name
// (the key, or what [WithName] makes of it) fails [events.CheckName]:
// empty, longer than [events.MaxNameLen] bytes, not UTF-8, or holding
// control characters. It unwraps to the [*events.TextError], which matches
// [events.ErrInvalidText].
type KeyError struct {
	// Key is the key given, cut to its first 64 bytes when longer, and
	// Len its length in bytes.
	Key string
	Len int
	// Named says that the name is WithName's, not the key itself.
	Named bool
	// Err is the name's *events.TextError.
	Err error
}

func (e *KeyError) Error() string {
	k := fmt.Sprintf("%q", e.Key)
	if e.Len > len(e.Key) {
		k = fmt.Sprintf("%q… (%d bytes)", e.Key, e.Len)
	}
	var te *events.TextError
	switch {
	case !errors.As(e.Err, &te):
		return fmt.Sprintf("circuitry: registry key %s cannot name a breaker: %v", k, e.Err)
	case e.Named:
		v := fmt.Sprintf("%q", te.Value)
		if te.Len > len(te.Value) {
			v = fmt.Sprintf("%q… (%d bytes)", te.Value, te.Len)
		}
		return fmt.Sprintf("circuitry: registry key %s: its breaker name %s %s", k, v, te.Reason)
	default:
		return fmt.Sprintf("circuitry: registry key %s cannot name a breaker: it %s", k, te.Reason)
	}
}

// Is makes errors.Is(err, ErrInvalidKey) true.
func (e *KeyError) Is(target error) bool { return target == ErrInvalidKey }

// Unwrap returns the name's error.
func (e *KeyError) Unwrap() error { return e.Err }

// cut returns s cut to its first 64 bytes, as errors quote keys.
func cut(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
