package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The story's trails: pricing's breaker trips on the 503s, re-opens for
// the second its 429 asked for, and recovers; inventory's never moves.
func TestStory(t *testing.T) {
	var out strings.Builder
	if err := story(context.Background(), &out, 2*time.Second); err != nil {
		t.Fatalf("story: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		`(?m)^the audit trail of http://127\.0\.0\.1:\d+: 0 records$`,
		`(?m)^the audit trail of http://127\.0\.0\.1:\d+: 5 records$`,
		`(?m)^1 +trip +closed → open +300ms +consecutive_failures, last: HTTP 503 Service Unavailable$`,
		`(?m)^2 +probe +open → half_open +open_timeout$`,
		`(?m)^3 +retrip +half_open → open +1s +retry_after, the server asked 1s, last: HTTP 429 Too Many Requests$`,
		`(?m)^4 +probe +open → half_open +open_timeout$`,
		`(?m)^5 +recover +half_open → closed +probe_successes$`,
		`(?m): \d+ ok, 0 failed, 0 rejected without being sent$`,
		`(?m): \d+ ok, 4 failed, [1-9]\d* rejected without being sent$`,
	} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("no line matching %s in:\n%s", want, text)
		}
	}
}
