package dispatch_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: the
// queued lane's goroutine must exit once its queue is drained.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
