package httpbreaker

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfterSeconds bounds the delay-seconds a Retry-After header may
// give before it is taken as asking for too long to represent: about 292
// years, the most a time.Duration holds. The breaker caps what it grants
// far below ([machine.WithMaxRetryAfter]).
const maxRetryAfterSeconds = int64(1<<63-1) / int64(time.Second)

// RetryAfter returns how long a response asks its client to wait before the
// next request, from its Retry-After header (RFC 9110, section 10.2.3):
// either delay-seconds, a non-negative integer, or an HTTP-date, counted
// from now. It returns 0, asking nothing, for a response without the
// header, a malformed value, a negative one, or a date that has passed. A
// wait too long for a time.Duration is returned as the longest one; the
// breaker caps it.
func RetryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	return parseRetryAfter(resp.Header.Get("Retry-After"), now)
}

// parseRetryAfter is RetryAfter on the header's value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil && isAllDigits(v): // too large for an int64
			return time.Duration(maxRetryAfterSeconds) * time.Second
		case err != nil:
			return 0
		case n > maxRetryAfterSeconds:
			return time.Duration(maxRetryAfterSeconds) * time.Second
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// retryAfterHeader is the Retry-After value for a wait of d: whole seconds,
// rounded up, at least 1.
func retryAfterHeader(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}
