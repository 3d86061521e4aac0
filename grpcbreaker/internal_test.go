package grpcbreaker

import (
	"testing"
	"time"
)

// pushbackValue rounds up to whole milliseconds, so that a client that
// waits as long as it says finds the open period over.
func TestPushbackValue(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Millisecond, "1"},
		{30 * time.Second, "30000"},
		{29*time.Second + 999*time.Millisecond + 1, "30000"},
		{time.Nanosecond, "1"},
		{0, "0"},
	} {
		if got := pushbackValue(tc.d); got != tc.want {
			t.Errorf("pushbackValue(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
