package httpbreaker_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/httpbreaker"
	"github.com/circuitry-go/circuitry/machine"
)

func newHandler(t testing.TB, b *machine.Breaker, next http.Handler, opts ...httpbreaker.HandlerOption) http.Handler {
	t.Helper()
	h, err := httpbreaker.NewHandler(b, next, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	return w
}

func TestHandlerShedsWhileOpen(t *testing.T) {
	f := newFleet(t)
	b := f.breaker("api")
	var served atomic.Int64
	failing := true
	h := newHandler(t, b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		if failing {
			http.Error(w, "database down", http.StatusInternalServerError)
		}
	}))
	for range machine.DefaultFailureThreshold {
		if w := serve(h); w.Code != 500 {
			t.Fatalf("status %d, want the handler's 500", w.Code)
		}
	}
	w := serve(h)
	if w.Code != 503 || w.Header().Get("Retry-After") != "30" || !strings.Contains(w.Body.String(), "open") {
		t.Fatalf("while open: %d, Retry-After %q, %q; want 503, 30", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	if n := served.Load(); n != machine.DefaultFailureThreshold {
		t.Fatalf("the handler served %d requests, want %d", n, machine.DefaultFailureThreshold)
	}
	if r := f.last("api"); r.Event != events.Trip || r.Reason.LastError != "HTTP 500" {
		t.Fatalf("record %+v, want a trip naming HTTP 500", r)
	}
	f.clk.Advance(20 * time.Second)
	if w := serve(h); w.Header().Get("Retry-After") != "10" {
		t.Fatalf("Retry-After %q with 10s left", w.Header().Get("Retry-After"))
	}
	f.clk.Advance(10 * time.Second)
	failing = false
	for range machine.DefaultSuccessThreshold {
		if w := serve(h); w.Code != 200 {
			t.Fatalf("a probe: %d", w.Code)
		}
	}
	if b.State() != events.Closed {
		t.Fatalf("state %s after the probes, want closed", b.State())
	}
}

func TestHandlerStatuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		h      http.HandlerFunc
		counts func(machine.Counts) bool
	}{
		{"writes nothing: 200, a success", func(http.ResponseWriter, *http.Request) {}, func(c machine.Counts) bool { return c.Successes == 1 }},
		{"404: a success", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) }, func(c machine.Counts) bool { return c.Successes == 1 }},
		{"501: a success", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(501) }, func(c machine.Counts) bool { return c.Successes == 1 }},
		{"503: a failure", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }, func(c machine.Counts) bool { return c.Failures == 1 }},
		{"a 103 before a 500: the 500 counts", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(500)
		}, func(c machine.Counts) bool { return c.Failures == 1 }},
		{"a body, then a late 500: the 200 counts", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok")
			w.WriteHeader(500) // superfluous: net/http sent 200
		}, func(c machine.Counts) bool { return c.Successes == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newFleet(t).breaker("api")
			serve(newHandler(t, b, tc.h))
			if c := b.Counts(); !tc.counts(c) {
				t.Fatalf("counts %+v", c)
			}
		})
	}
}

func TestHandlerPanics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value any
		want  func(machine.Counts) bool
	}{
		{"a panic is a failure", "handler bug", func(c machine.Counts) bool { return c.Failures == 1 }},
		{"http.ErrAbortHandler is ignored", http.ErrAbortHandler, func(c machine.Counts) bool { return c.Ignored == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newFleet(t).breaker("api")
			h := newHandler(t, b, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(tc.value) }))
			func() {
				defer func() {
					if v := recover(); v != tc.value {
						t.Fatalf("recovered %v, want the handler's panic", v)
					}
				}()
				serve(h)
			}()
			if c := b.Counts(); !tc.want(c) {
				t.Fatalf("counts %+v", c)
			}
		})
	}
}

// fallbackCounter is a subscriber that hears of fallbacks.
type fallbackCounter struct{ served, failed atomic.Int64 }

func (c *fallbackCounter) Notify(context.Context, events.Transition) {}
func (c *fallbackCounter) FallbackDone(_ context.Context, _ string, rejected bool, err error) {
	if !rejected {
		return
	}
	if err != nil {
		c.failed.Add(1)
	} else {
		c.served.Add(1)
	}
}

func TestHandlerFallback(t *testing.T) {
	obs := &fallbackCounter{}
	b := newFleet(t, machine.WithSubscribers(hooks.Inline(obs))).breaker("api")
	if err := b.ForceOpen(context.Background(), machine.Override{Operator: "oncall", Note: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	var rejection *machine.OpenError
	cached := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rejection = httpbreaker.Rejection(r)
		_, _ = io.WriteString(w, "cached")
	})
	h := newHandler(t, b, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("the protected handler ran while open") }),
		httpbreaker.WithFallbackHandler(cached))
	if w := serve(h); w.Code != 200 || w.Body.String() != "cached" {
		t.Fatalf("while open: %d %q, want the fallback's 200", w.Code, w.Body.String())
	}
	if rejection == nil || !errors.Is(rejection, machine.ErrOpen) {
		t.Fatalf("Rejection = %v, want the breaker's", rejection)
	}
	if obs.served.Load() != 1 || obs.failed.Load() != 0 {
		t.Fatalf("fallbacks served %d, failed %d; want 1 served", obs.served.Load(), obs.failed.Load())
	}
	broken := newHandler(t, b, http.NotFoundHandler(), httpbreaker.WithFallbackHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
	})))
	serve(broken)
	if obs.failed.Load() != 1 {
		t.Fatalf("a fallback answering 500 was not told as failed")
	}
	if httpbreaker.Rejection(httptest.NewRequest(http.MethodGet, "/", nil)) != nil {
		t.Fatal("Rejection of a request that was not rejected")
	}
}

// The wrapped writer keeps what the server's offers: flushing, deadlines
// through http.ResponseController, and hijacking, after which the request
// counts as ignored.
func TestHandlerKeepsTheWritersAbilities(t *testing.T) {
	b := newFleet(t).breaker("api")
	h := newHandler(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/stream":
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			_, _ = io.WriteString(w, "part 1\n")
			if err := rc.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part 2\n")
		case "/hijack":
			conn, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			_ = rw.Flush()
		}
	}))
	var handled sync.WaitGroup // the protected handler returned, and its outcome counted
	handled.Add(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer handled.Done()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "part 1\npart 2\n" {
		t.Fatalf("streamed %q", body)
	}
	resp, err = http.Get(srv.URL + "/hijack")
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if line != "hijacked" {
		t.Fatalf("hijacked connection sent %q", line)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	handled.Wait()
	if c := b.Counts(); c.Successes != 1 || c.Ignored != 1 {
		t.Fatalf("counts %+v, want the stream a success and the hijacked request ignored", c)
	}
}

func TestNewHandlerRefusesBadArguments(t *testing.T) {
	b := newFleet(t).breaker("api")
	for name, try := range map[string]func() error{
		"nil breaker": func() error { _, err := httpbreaker.NewHandler(nil, http.NotFoundHandler()); return err },
		"nil handler": func() error { _, err := httpbreaker.NewHandler(b, nil); return err },
		"nil option":  func() error { _, err := httpbreaker.NewHandler(b, http.NotFoundHandler(), nil); return err },
		"nil fallback": func() error {
			_, err := httpbreaker.NewHandler(b, http.NotFoundHandler(), httpbreaker.WithFallbackHandler(nil))
			return err
		},
		"nil classifier": func() error {
			_, err := httpbreaker.NewHandler(b, http.NotFoundHandler(), httpbreaker.WithStatusClassifier(nil))
			return err
		},
	} {
		if err := try(); !errors.Is(err, events.ErrInvalidOption) {
			t.Errorf("%s: %v, want an option error", name, err)
		}
	}
}

func TestHandlerOnAClosedBreaker(t *testing.T) {
	b := newFleet(t).breaker("api")
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := serve(newHandler(t, b, http.NotFoundHandler())); w.Code != 503 || w.Header().Get("Retry-After") != "" {
		t.Fatalf("a closed breaker: %d, Retry-After %q; want 503 without Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
}
