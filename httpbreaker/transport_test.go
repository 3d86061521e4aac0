package httpbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/httpbreaker"
	"github.com/circuitry-go/circuitry/machine"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// fleet makes a breaker per key on first use, all on one fake clock and
// one journal, and keeps what they report.
type fleet struct {
	t       testing.TB
	clk     *clocktest.Clock
	journal *events.Memory
	opts    []machine.Option

	mu       sync.Mutex
	breakers map[string]*machine.Breaker
	errs     []error
}

func newFleet(t testing.TB, opts ...machine.Option) *fleet {
	t.Helper()
	j, err := events.NewMemory(1 << 12)
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, clk: clocktest.New(t0), journal: j, opts: opts, breakers: map[string]*machine.Breaker{}}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, b := range f.breakers {
			_ = b.Close(context.Background())
		}
	})
	return f
}

// get is the fleet's Breakers.
func (f *fleet) get(key string) (*machine.Breaker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.breakers[key]; b != nil {
		return b, nil
	}
	b, err := machine.New(key, append([]machine.Option{machine.WithClock(f.clk), machine.WithJournal(f.journal),
		machine.WithErrorHandler(func(err error) {
			f.mu.Lock()
			f.errs = append(f.errs, err)
			f.mu.Unlock()
		})}, f.opts...)...)
	if err != nil {
		return nil, err
	}
	f.breakers[key] = b
	return b, nil
}

func (f *fleet) breaker(key string) *machine.Breaker {
	f.t.Helper()
	b, err := f.get(key)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fleet) reported() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// last returns the last record of key's breaker.
func (f *fleet) last(key string) events.Transition {
	f.t.Helper()
	b := f.breaker(key)
	if err := b.Sync(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	recs, err := f.journal.Read(context.Background(), key, 0)
	if err != nil || len(recs) == 0 {
		f.t.Fatalf("journal of %s: %v, %v", key, recs, err)
	}
	return recs[len(recs)-1]
}

// upstream is a loopback server answering what its handler says, counting
// the requests that reached it.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
}

func newUpstream(t testing.TB, h http.HandlerFunc) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func status(code int, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintln(w, http.StatusText(code))
	}
}

func newClient(t testing.TB, f *fleet, opts ...httpbreaker.Option) *http.Client {
	t.Helper()
	tr, err := httpbreaker.NewTransport(nil, f.get, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// get sends a GET and reads and closes the body, returning the status.
func get(t testing.TB, c *http.Client, url string) (int, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func TestTransportBreakerPerHost(t *testing.T) {
	f := newFleet(t)
	c := newClient(t, f)
	healthy, failing := newUpstream(t, status(200)), newUpstream(t, status(502))
	for range machine.DefaultFailureThreshold {
		if code, err := get(t, c, failing.URL); err != nil || code != 502 {
			t.Fatalf("failing upstream: %d, %v", code, err)
		}
	}
	_, err := get(t, c, failing.URL+"/more")
	var oe *machine.OpenError
	if !errors.Is(err, machine.ErrOpen) || !errors.As(err, &oe) || oe.RetryAfter() != machine.DefaultRecoveryTimeout {
		t.Fatalf("a request to the tripped host: %v, want a rejection with 30s left", err)
	}
	if n := failing.hits.Load(); n != machine.DefaultFailureThreshold {
		t.Fatalf("the tripped host got %d requests, want %d: a rejected request must not be sent", n, machine.DefaultFailureThreshold)
	}
	for range 3 {
		if code, err := get(t, c, healthy.URL); err != nil || code != 200 {
			t.Fatalf("the healthy host: %d, %v", code, err)
		}
	}
	key := "http://" + strings.TrimPrefix(failing.URL, "http://")
	r := f.last(key)
	if r.Event != events.Trip || r.Reason.LastError != "HTTP 502 Bad Gateway" {
		t.Fatalf("the failing host's record %+v, want a trip naming HTTP 502 Bad Gateway", r)
	}
}

func TestHostKey(t *testing.T) {
	for url, want := range map[string]string{
		"https://api.example.com/x":       "https://api.example.com:443",
		"http://api.example.com/x":        "http://api.example.com:80",
		"http://api.example.com:8080/x":   "http://api.example.com:8080",
		"https://[::1]/x":                 "https://[::1]:443",
		"https://user@api.example.com/?q": "https://api.example.com:443",
	} {
		req := httptest.NewRequest(http.MethodGet, url, nil)
		if got := httpbreaker.HostKey(req); got != want {
			t.Errorf("HostKey(%s) = %q, want %q", url, got, want)
		}
	}
}

// stub is a transport that answers every request with resp (a fresh copy,
// with a body that tracks whether it was read or closed) or err.
type stub struct {
	code    int
	header  http.Header
	err     error
	bodies  []*trackedBody
	mu      sync.Mutex
	sent    atomic.Int64
	reqBody atomic.Int64 // request bodies closed
}

type trackedBody struct {
	io.Reader
	read, closed atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.Reader.Read(p)
}

func (b *trackedBody) Close() error {
	b.closed.Store(true)
	return nil
}

func (s *stub) RoundTrip(req *http.Request) (*http.Response, error) {
	s.sent.Add(1)
	if req.Body != nil {
		_ = req.Body.Close()
		s.reqBody.Add(1)
	}
	if s.err != nil {
		return nil, s.err
	}
	body := &trackedBody{Reader: strings.NewReader("payload")}
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()
	h := s.header
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: s.code, Status: fmt.Sprintf("%d %s", s.code, http.StatusText(s.code)), Header: h.Clone(), Body: body, Request: req}, nil
}

func roundTrip(t testing.TB, tr http.RoundTripper, ctx context.Context, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr.RoundTrip(req)
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		code int
		want machine.Outcome
	}{
		{200, machine.Success}, {204, machine.Success}, {301, machine.Success}, {400, machine.Success},
		{404, machine.Success}, {408, machine.Failure}, {429, machine.Failure}, {500, machine.Failure},
		{501, machine.Success}, {502, machine.Failure}, {503, machine.Failure}, {504, machine.Failure},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://x/", nil)
			resp := &http.Response{StatusCode: tc.code, Status: fmt.Sprintf("%d %s", tc.code, http.StatusText(tc.code)), Header: http.Header{}}
			r := httpbreaker.Classify(req, resp, nil)
			if r.Outcome != tc.want {
				t.Fatalf("Classify(%d) = %s, want %s", tc.code, r.Outcome, tc.want)
			}
			if tc.want == machine.Failure && r.Cause != "HTTP "+resp.Status {
				t.Fatalf("cause %q, want HTTP %s", r.Cause, resp.Status)
			}
		})
	}
	t.Run("transport error", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "http://x/", nil)
		if r := httpbreaker.Classify(req, nil, errors.New("connection refused")); r.Outcome != machine.Failure {
			t.Fatalf("a transport error: %s", r.Outcome)
		}
	})
	t.Run("the caller's cancellation is ignored; its deadline is not", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		req := httptest.NewRequest(http.MethodGet, "http://x/", nil).WithContext(cctx)
		if r := httpbreaker.Classify(req, nil, context.Canceled); r.Outcome != machine.Ignored {
			t.Fatalf("cancelled by the caller: %s, want ignored", r.Outcome)
		}
		dctx, cancel2 := context.WithDeadline(ctx, t0)
		defer cancel2()
		req = httptest.NewRequest(http.MethodGet, "http://x/", nil).WithContext(dctx)
		if r := httpbreaker.Classify(req, nil, context.DeadlineExceeded); r.Outcome != machine.Failure {
			t.Fatalf("the caller's deadline: %s, want failure", r.Outcome)
		}
	})
}

func TestTransportRetryAfter(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		code    int
		header  string
		policy  string
		openFor time.Duration
	}{
		{"429 asks two minutes", 429, "120", events.PolicyRetryAfter, 2 * time.Minute},
		{"503 asks ten seconds", 503, "10", events.PolicyRetryAfter, 10 * time.Second},
		{"a huge ask is capped", 429, "99999999999999999999", events.PolicyRetryAfter, machine.DefaultMaxRetryAfter},
		{"a negative ask is a plain failure", 429, "-5", events.PolicyConsecutiveFailures, machine.DefaultRecoveryTimeout},
		{"a malformed ask is a plain failure", 503, "soon", events.PolicyConsecutiveFailures, machine.DefaultRecoveryTimeout},
		{"500 asks nothing", 500, "60", events.PolicyConsecutiveFailures, machine.DefaultRecoveryTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, machine.WithFailureThreshold(1))
			s := &stub{code: tc.code, header: http.Header{"Retry-After": {tc.header}}}
			tr, err := httpbreaker.NewTransport(s, f.get)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := roundTrip(t, tr, ctx, "https://api.example.com/")
			if err != nil || resp.StatusCode != tc.code {
				t.Fatalf("RoundTrip = %v, %v", resp, err)
			}
			resp.Body.Close()
			r := f.last("https://api.example.com:443")
			if r.Reason.Policy != tc.policy || r.OpenFor != tc.openFor {
				t.Fatalf("record %s open for %s, want %s open for %s", r.Reason.Policy, r.OpenFor, tc.policy, tc.openFor)
			}
			if _, err := roundTrip(t, tr, ctx, "https://api.example.com/"); !errors.Is(err, machine.ErrOpen) {
				t.Fatalf("next request: %v, want a rejection", err)
			}
			if n := s.sent.Load(); n != 1 {
				t.Fatalf("%d requests sent, want 1", n)
			}
		})
	}
}

// The transport never reads or closes a response's body: the caller does.
// A rejected request's body is closed, as a RoundTripper must.
func TestTransportBodies(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, machine.WithFailureThreshold(2))
	s := &stub{code: 503}
	tr, err := httpbreaker.NewTransport(s, f.get)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := roundTrip(t, tr, ctx, "http://a/")
		if err != nil {
			t.Fatal(err)
		}
		b := resp.Body.(*trackedBody)
		if b.read.Load() || b.closed.Load() {
			t.Fatal("the transport read or closed the response body")
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	body := &trackedBody{Reader: strings.NewReader("request")}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://a/", body)
	if _, err := tr.RoundTrip(req); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("a request to the open breaker: %v", err)
	}
	if !body.closed.Load() {
		t.Fatal("the rejected request's body was not closed")
	}
	for i, b := range s.bodies {
		if !b.closed.Load() {
			t.Errorf("response body %d left open", i)
		}
	}
}

func TestTransportBadKeys(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		key  func(*http.Request) string
		want string
	}{
		{"panics", func(*http.Request) string { panic("key bug") }, "panicked: key bug"},
		{"empty", func(*http.Request) string { return "" }, "empty"},
		{"too long", func(*http.Request) string { return strings.Repeat("k", 300) }, "256"},
		{"not UTF-8", func(*http.Request) string { return "\xff\xfe" }, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			s := &stub{code: 200}
			tr, err := httpbreaker.NewTransport(s, f.get, httpbreaker.WithKey(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			body := &trackedBody{Reader: strings.NewReader("x")}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://a/", body)
			_, err = tr.RoundTrip(req)
			var ke *httpbreaker.KeyError
			if !errors.Is(err, httpbreaker.ErrKey) || !errors.As(err, &ke) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RoundTrip = %v, want a *KeyError saying %q", err, tc.want)
			}
			if s.sent.Load() != 0 || !body.closed.Load() {
				t.Fatalf("sent %d, body closed %v: want not sent, body closed", s.sent.Load(), body.closed.Load())
			}
		})
	}
}

func TestTransportLooksAgainForAClosedBreaker(t *testing.T) {
	ctx := context.Background()
	var lookups atomic.Int32
	f := newFleet(t)
	stale, err := machine.New("stale")
	if err != nil {
		t.Fatal(err)
	}
	if err := stale.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The first lookup finds a breaker that was closed meanwhile, as a
	// registry's eviction leaves one; the second finds its successor.
	breakers := func(key string) (*machine.Breaker, error) {
		if lookups.Add(1) == 1 {
			return stale, nil
		}
		return f.get(key)
	}
	tr, err := httpbreaker.NewTransport(&stub{code: 200}, breakers)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := roundTrip(t, tr, ctx, "http://a/")
	if err != nil {
		t.Fatalf("RoundTrip = %v, want the request sent under the new breaker", err)
	}
	resp.Body.Close()
	if n := lookups.Load(); n != 2 {
		t.Fatalf("%d lookups, want 2", n)
	}
	if c := f.breaker("http://a:80").Counts(); c.Successes != 1 {
		t.Fatalf("counts %+v, want the success on the new breaker", c)
	}
}

func TestTransportClassifierPanics(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, machine.WithFailureThreshold(1))
	tr, err := httpbreaker.NewTransport(&stub{code: 500}, f.get, httpbreaker.WithClassifier(func(*http.Request, *http.Response, error) machine.Result {
		panic("classifier bug")
	}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := roundTrip(t, tr, ctx, "http://a/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	b := f.breaker("http://a:80")
	if c := b.Counts(); c.Ignored != 2 || b.State() != events.Closed {
		t.Fatalf("counts %+v, state %s: want two ignored calls, closed", c, b.State())
	}
	var ce *machine.ClassifierError
	if errs := f.reported(); len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Panic != "classifier bug" {
		t.Fatalf("reported %v, want one *ClassifierError", errs)
	}
}

func TestNewTransportRefusesBadArguments(t *testing.T) {
	f := newFleet(t)
	for name, try := range map[string]func() error{
		"nil breakers": func() error { _, err := httpbreaker.NewTransport(nil, nil); return err },
		"nil option":   func() error { _, err := httpbreaker.NewTransport(nil, f.get, nil); return err },
		"nil key":      func() error { _, err := httpbreaker.NewTransport(nil, f.get, httpbreaker.WithKey(nil)); return err },
		"nil classifier": func() error {
			_, err := httpbreaker.NewTransport(nil, f.get, httpbreaker.WithClassifier(nil))
			return err
		},
	} {
		if err := try(); !errors.Is(err, events.ErrInvalidOption) {
			t.Errorf("%s: %v, want an option error", name, err)
		}
	}
}

// panicky is a transport that panics, or exits its goroutine.
type panicky struct{ goexit bool }

func (p panicky) RoundTrip(*http.Request) (*http.Response, error) {
	if p.goexit {
		runtime.Goexit()
	}
	panic("transport bug")
}

// A transport below that panics or exits its goroutine ends the permit
// all the same: in half-open its probe slot is freed, and the breaker is
// never stuck with probes in flight.
func TestTransportBelowPanics(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		goexit bool
		counts func(machine.Counts) bool
	}{
		{"a panic is a failure, and goes on", false, func(c machine.Counts) bool { return c.Failures == 1 }},
		{"an exit of the goroutine is ignored", true, func(c machine.Counts) bool { return c.Ignored == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, machine.WithProbeLimit(1))
			b := f.breaker("http://a:80")
			if err := b.ForceOpen(ctx, machine.Override{Operator: "test", Note: "probe"}); err != nil {
				t.Fatal(err)
			}
			if err := b.ForceHalfOpen(ctx, machine.Override{Operator: "test", Note: "probe"}); err != nil {
				t.Fatal(err)
			}
			tr, err := httpbreaker.NewTransport(panicky{goexit: tc.goexit}, f.get)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan any)
			go func() {
				defer func() { done <- recover() }()
				_, _ = roundTrip(t, tr, ctx, "http://a/")
			}()
			v := <-done
			if !tc.goexit && v != "transport bug" {
				t.Fatalf("recovered %v, want the transport's panic", v)
			}
			if c := b.Counts(); !tc.counts(c) || c.Probes != 0 {
				t.Fatalf("counts %+v, want the probe ended and counted", c)
			}
		})
	}
}
