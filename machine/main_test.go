package machine_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// dispatcher goroutine must exit once its queue is drained, and every test
// with queued subscribers flushes them before it ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
