package events

import (
	"errors"
	"fmt"
)

// ErrInvalidOption is matched by every [*OptionError]: an option or a
// constructor argument of any circuitry package given a value it refuses.
var ErrInvalidOption = errors.New("circuitry: invalid option")

// OptionError reports an option (or a constructor's argument) given an
// invalid value. Every circuitry package reports a bad option with it, so
// that one errors.As finds the detail whichever package refused it.
type OptionError struct {
	// Option is the option's name, such as "WithFailureThreshold",
	// "filejournal.WithSegmentSize" or "NewMemory capacity".
	Option string
	// Value is the value given, formatted.
	Value string
	// Reason says what the value must be.
	Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("circuitry: %s(%s): %s", e.Option, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidOption) true.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }
