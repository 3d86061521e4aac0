package registry_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// registry's sweeper holds none between sweeps, and Close stops it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
