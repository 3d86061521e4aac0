package httpbreaker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// HandlerOption configures [NewHandler].
type HandlerOption interface {
	applyHandler(*handlerConfig) error
}

type handlerOptionFunc func(*handlerConfig) error

func (f handlerOptionFunc) applyHandler(c *handlerConfig) error { return f(c) }

type handlerConfig struct {
	fallback http.Handler
	classify func(*http.Request, int) machine.Result
}

// WithFallbackHandler makes the handler serve requests the breaker rejects
// with h instead of a 503; [Rejection] gives h the rejection. The
// breaker's fallback observers hear of each ([machine.FallbackObserver]).
// The options of [NewHandler] and their defaults:
//
//	option                 default
//	WithFallbackHandler    none: a rejected request gets 503 Service Unavailable, Retry-After set
//	WithStatusClassifier   ClassifyStatus: 5xx but 501 are failures, any other status a success
func WithFallbackHandler(h http.Handler) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if h == nil {
			return &events.OptionError{Option: "httpbreaker.WithFallbackHandler", Value: "nil", Reason: "must not be nil"}
		}
		c.fallback = h
		return nil
	})
}

// WithStatusClassifier sets how the status the protected handler wrote
// counts, in place of [ClassifyStatus]. A classifier that panics counts
// the request as ignored, reported once per breaker.
func WithStatusClassifier(f func(r *http.Request, status int) machine.Result) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if f == nil {
			return &events.OptionError{Option: "httpbreaker.WithStatusClassifier", Value: "nil", Reason: "must not be nil"}
		}
		c.classify = f
		return nil
	})
}

// ClassifyStatus is the default classifier of a [NewHandler] handler: a
// status of 500 and above, but 501 Not Implemented, is a failure named by
// its code; any other a success.
func ClassifyStatus(_ *http.Request, status int) machine.Result {
	if status >= 500 && status != http.StatusNotImplemented {
		return machine.Result{Outcome: machine.Failure, Cause: fmt.Sprintf("HTTP %d", status)}
	}
	return machine.Result{Outcome: machine.Success}
}

// NewHandler returns a handler that protects next with b. While b rejects,
// a request gets 503 Service Unavailable with Retry-After set to the open
// time left, in whole seconds rounded up (1 in half-open), or the fallback
// handler's answer; otherwise next serves it, and the status it wrote
// counts ([WithStatusClassifier]). A handler that panics counts as a
// failure and its panic goes on up (http.ErrAbortHandler, the deliberate
// abort, counts as ignored, as does a connection next hijacked).
//
// The response writer next gets keeps what the server's offers:
// http.Flusher, http.Hijacker and, through its Unwrap method,
// http.ResponseController's deadlines and full-duplex control.
func NewHandler(b *machine.Breaker, next http.Handler, opts ...HandlerOption) (http.Handler, error) {
	if b == nil || next == nil {
		return nil, &events.OptionError{Option: "httpbreaker.NewHandler", Value: "nil", Reason: "needs a breaker and a handler"}
	}
	c := handlerConfig{classify: ClassifyStatus}
	for i, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: fmt.Sprintf("httpbreaker.NewHandler option %d", i), Value: "nil", Reason: "must not be nil"}
		}
		if err := o.applyHandler(&c); err != nil {
			return nil, err
		}
	}
	return &handler{b: b, next: next, cfg: c}, nil
}

type handler struct {
	b    *machine.Breaker
	next http.Handler
	cfg  handlerConfig
}

type rejectionKey struct{}

// Rejection returns the breaker's rejection of r, for a fallback handler
// ([WithFallbackHandler]); nil for a request that was not rejected.
func Rejection(r *http.Request) *machine.OpenError {
	oe, _ := r.Context().Value(rejectionKey{}).(*machine.OpenError)
	return oe
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := h.b.Allow(r.Context())
	if err != nil {
		h.reject(w, r, err)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	returned := false
	defer func() {
		if returned {
			return
		}
		v := recover()
		if v == nil || v == http.ErrAbortHandler || sw.hijacked {
			p.Report(machine.Result{Outcome: machine.Ignored})
		} else {
			p.Report(machine.Result{Outcome: machine.Failure, Cause: fmt.Sprintf("the handler panicked: %v", v)})
		}
		if v != nil {
			panic(v)
		}
	}()
	h.next.ServeHTTP(sw, r)
	returned = true
	if sw.hijacked {
		p.Report(machine.Result{Outcome: machine.Ignored})
		return
	}
	status := sw.status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	p.ReportFunc(func() machine.Result { return h.cfg.classify(r, status) })
}

// reject answers a request the breaker did not admit.
func (h *handler) reject(w http.ResponseWriter, r *http.Request, err error) {
	var oe *machine.OpenError
	if !errors.As(err, &oe) {
		// Not a rejection: a closed breaker, or a nil context.
		http.Error(w, "circuit breaker unavailable", http.StatusServiceUnavailable)
		return
	}
	if h.cfg.fallback != nil {
		served := &statusWriter{ResponseWriter: w}
		h.cfg.fallback.ServeHTTP(served, r.WithContext(context.WithValue(r.Context(), rejectionKey{}, oe)))
		var ferr error
		if served.status >= 500 {
			ferr = fmt.Errorf("the fallback handler answered %d", served.status)
		}
		h.b.ReportFallback(r.Context(), true, ferr)
		return
	}
	w.Header().Set("Retry-After", retryAfterHeader(oe.RetryAfter()))
	http.Error(w, oe.Error(), http.StatusServiceUnavailable)
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

// WriteHeader records the final status; 1xx informational headers are
// passed on and not recorded.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what was written so far, when the server's writer can.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes over the connection, when the server's writer can; the
// request then counts as ignored.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap returns the server's writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	_ http.Flusher  = (*statusWriter)(nil)
	_ http.Hijacker = (*statusWriter)(nil)
)
