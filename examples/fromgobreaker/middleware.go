package fromgobreaker

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/circuitry-go/circuitry/machine"
)

// StatusError is the error a response with a 5xx status is reported with:
// where gobreaker's two-step breaker took done(false), a [machine.Permit]
// takes the call's error, and a classifier (or the default one) decides.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
}

// Middleware protects next with b. A response with a 5xx status from next
// counts as a failure, any other as a success; a panic in next is a failure,
// and is re-raised. While b rejects calls, the middleware answers 503 Service
// Unavailable with a Retry-After header, without calling next.
func Middleware(b *machine.Breaker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		permit, err := b.Allow(r.Context())
		if err != nil {
			var open *machine.OpenError
			if errors.As(err, &open) && open.RetryAfter() > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(open.RetryAfter().Seconds()))))
			}
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				permit.Done(fmt.Errorf("handler panicked: %v", v))
				panic(v)
			}
			if rec.status >= 500 {
				permit.Done(&StatusError{rec.status})
			} else {
				permit.Done(nil)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the writer underneath.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
