package httpbreaker

import (
	"net/http"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestRetryAfter(t *testing.T) {
	longest := time.Duration(maxRetryAfterSeconds) * time.Second
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{" 7 ", 7 * time.Second},
		{"Tue, 01 Dec 2026 10:01:30 GMT", 90 * time.Second},
		{"Tuesday, 01-Dec-26 10:00:10 GMT", 10 * time.Second}, // RFC 850, which RFC 9110 still accepts
		{"Tue Dec  1 10:00:05 2026", 5 * time.Second},         // asctime
		{"Tue, 01 Dec 2026 09:59:00 GMT", 0},                  // passed
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"12abc", 0},
		{"99999999999999999999999", longest},
		{"9223372036", longest},
		{"9223372035", 9223372035 * time.Second},
	} {
		t.Run(tc.header, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			if tc.header != "" {
				resp.Header.Set("Retry-After", tc.header)
			}
			if got := RetryAfter(resp, now); got != tc.want {
				t.Fatalf("RetryAfter(%q) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
	if got := RetryAfter(nil, now); got != 0 {
		t.Fatalf("RetryAfter(nil) = %s", got)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Millisecond:        "1",
		time.Second:             "1",
		time.Second + 1:         "2",
		30 * time.Second:        "30",
		29*time.Second + 999e6:  "30",
		0:                       "1",
		5 * time.Minute:         "300",
		-3 * time.Second:        "1",
		1500 * time.Millisecond: "2",
	} {
		if got := retryAfterHeader(d); got != want {
			t.Errorf("retryAfterHeader(%s) = %q, want %q", d, got, want)
		}
	}
}

// FuzzRetryAfter: any header value gives a wait that is not negative,
// without a panic.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Tue, 01 Dec 2026 10:01:30 GMT", "-1", "99999999999999999999", "", " ", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v, now); d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %s", v, d)
		}
	})
}
