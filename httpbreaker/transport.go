package httpbreaker

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// Breakers returns the breaker that protects the calls of a key: a keyed
// registry's lookup (a method value such as reg.Get), or [Single] for one
// breaker for every key.
type Breakers func(key string) (*machine.Breaker, error)

// Single returns Breakers that give b for every key.
func Single(b *machine.Breaker) Breakers {
	return func(string) (*machine.Breaker, error) { return b, nil }
}

// Errors of the transport and the handler; match them with [errors.Is].
var (
	// ErrKey: the key function panicked, or gave a key that cannot name a
	// breaker. The request is not sent. The detail is a [*KeyError].
	ErrKey = errors.New("circuitry: httpbreaker: no breaker key for the request")
)

// KeyError is the detail of an [ErrKey].
type KeyError struct {
	// Key is the key the function returned, cut to 64 bytes; empty when
	// it panicked.
	Key string
	// Err says what is wrong with it, or what the function panicked with.
	Err error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("circuitry: httpbreaker: breaker key %q for the request: %v", e.Key, e.Err)
}

// Unwrap returns the reason.
func (e *KeyError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrKey) true.
func (e *KeyError) Is(target error) bool { return target == ErrKey }

// Transport is an http.RoundTripper that protects each request with the
// breaker of its key: by default its scheme, host and port, so that one
// failing host opens its own breaker and leaves the others closed. A
// request the breaker rejects is never sent: RoundTrip returns the
// breaker's [*machine.OpenError], which matches [machine.ErrOpen] through
// the client's *url.Error and carries the open time left
// (RetryAfter). The breaker's context is the request's, so the
// subscribers' span events land on the request's span (otelhttp's, when
// it wraps this transport).
//
// The response's body is the caller's: the transport never reads or
// closes it, and classifies from the status code and headers alone. Create
// one with [NewTransport].
type Transport struct {
	next     http.RoundTripper
	breakers Breakers
	key      func(*http.Request) string // nil: HostKey, cached
	classify func(*http.Request, *http.Response, error) machine.Result
	keys     [2]hostKeys // the default keys of http and https hosts
}

// hostKeys caches the default keys of one scheme's hosts, checked, so that
// the key of a request costs no allocation and no check: scheme://host:port
// is built and checked once per host. It stops growing at maxCachedHosts.
type hostKeys struct {
	m sync.Map // URL.Host -> key
	n atomic.Int32
}

// maxCachedHosts bounds each scheme's cache of default keys.
const maxCachedHosts = 4096

// NewTransport returns a transport that sends requests with next
// (http.DefaultTransport when nil) under the breakers that breakers gives.
// The options and their defaults are listed at [WithKey].
func NewTransport(next http.RoundTripper, breakers Breakers, opts ...Option) (*Transport, error) {
	if breakers == nil {
		return nil, &events.OptionError{Option: "httpbreaker.NewTransport breakers", Value: "nil", Reason: "must give a breaker for a key"}
	}
	if next == nil {
		next = http.DefaultTransport
	}
	c := config{classify: Classify}
	for i, o := range opts {
		if o == nil {
			return nil, &events.OptionError{Option: fmt.Sprintf("httpbreaker.NewTransport option %d", i), Value: "nil", Reason: "must not be nil"}
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	return &Transport{next: next, breakers: breakers, key: c.key, classify: c.classify}, nil
}

// Option configures a [Transport].
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	key      func(*http.Request) string
	classify func(*http.Request, *http.Response, error) machine.Result
}

// WithKey sets the function that names the breaker of a request. The
// options of [NewTransport] and their defaults:
//
//	option          default
//	WithKey         HostKey: scheme://host:port, the port from the scheme when the URL has none
//	WithClassifier  Classify: transport errors, 5xx but 501, 408 and 429 are failures;
//	                the caller's own cancellation is ignored; Retry-After is obeyed
//
// A key function that panics or returns a key that cannot name a breaker
// (empty, over 256 bytes, or not UTF-8: see [events.CheckName]) fails the
// request with a [*KeyError] before it is sent.
func WithKey(f func(*http.Request) string) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "httpbreaker.WithKey", Value: "nil", Reason: "must not be nil"}
		}
		c.key = f
		return nil
	})
}

// WithClassifier sets how a request's response or error counts, in place
// of [Classify]. It sees the response's status and headers; it must not
// read the body, which is the caller's. A classifier that panics counts
// the request as ignored, reported once per breaker.
func WithClassifier(f func(req *http.Request, resp *http.Response, err error) machine.Result) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return &events.OptionError{Option: "httpbreaker.WithClassifier", Value: "nil", Reason: "must not be nil"}
		}
		c.classify = f
		return nil
	})
}

// HostKey returns the default key of a request: its URL's scheme, host
// and port, such as "https://api.example.com:443".
func HostKey(req *http.Request) string {
	u := req.URL
	host := u.Host
	if u.Port() == "" {
		switch u.Scheme {
		case "https":
			host += ":443"
		case "http":
			host += ":80"
		}
	}
	return u.Scheme + "://" + host
}

// hostKey is HostKey, checked, and cached per host for http and https.
func (t *Transport) hostKey(req *http.Request) (string, error) {
	var c *hostKeys
	switch req.URL.Scheme {
	case "http":
		c = &t.keys[0]
	case "https":
		c = &t.keys[1]
	}
	if c != nil {
		if k, ok := c.m.Load(req.URL.Host); ok {
			return k.(string), nil
		}
	}
	k := HostKey(req)
	if err := events.CheckName(k); err != nil {
		return "", &KeyError{Key: clip(k), Err: err}
	}
	if c != nil && c.n.Add(1) <= maxCachedHosts {
		c.m.Store(req.URL.Host, k)
	}
	return k, nil
}

// Classify is the default classifier of a [Transport]: an error is a
// failure, unless it is the cancellation of the request's own context
// (ignored); a response with status 500 and above (but 501 Not
// Implemented, which retrying does not mend), 408 Request Timeout or 429
// Too Many Requests is a failure, named by its status, and for 429 and 503
// its Retry-After header opens the breaker for the time asked
// ([machine.Result]); any other response is a success.
func Classify(req *http.Request, resp *http.Response, err error) machine.Result {
	if err != nil {
		return machine.Result{Outcome: machine.DefaultClassifier(req.Context(), err)}
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		return machine.Result{Outcome: machine.Failure, Cause: statusCause(resp), RetryAfter: RetryAfter(resp, time.Now())}
	case code >= 500 && code != http.StatusNotImplemented, code == http.StatusRequestTimeout:
		return machine.Result{Outcome: machine.Failure, Cause: statusCause(resp)}
	}
	return machine.Result{Outcome: machine.Success}
}

// statusCause names a response's status for a record: "HTTP 503 Service
// Unavailable".
func statusCause(resp *http.Response) string {
	if s := strings.TrimSpace(resp.Status); s != "" {
		return "HTTP " + s
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// RoundTrip sends req under the breaker of its key, or returns the
// breaker's rejection without sending it, closing its body as an
// http.RoundTripper must.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, err := t.admit(req)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	returned := false
	defer func() {
		if returned {
			return
		}
		// next panicked (a failure, and the panic goes on) or exited its
		// goroutine (ignored): either way the permit ends, so that a probe
		// slot is not held for ever.
		if v := recover(); v != nil {
			p.Report(machine.Result{Outcome: machine.Failure, Cause: fmt.Sprintf("the transport panicked: %v", v)})
			panic(v)
		}
		p.Report(machine.Result{Outcome: machine.Ignored})
	}()
	resp, err := t.next.RoundTrip(req)
	returned = true
	p.ReportFunc(func() machine.Result { return t.classify(req, resp, err) })
	return resp, err
}

// admit finds the request's breaker and asks it to admit the request. A
// breaker closed between the lookup and the call (a registry evicted it)
// is looked up once more.
func (t *Transport) admit(req *http.Request) (machine.Permit, error) {
	key, err := t.keyOf(req)
	if err != nil {
		return machine.Permit{}, err
	}
	for attempt := 0; ; attempt++ {
		b, err := t.breakers(key)
		if err != nil {
			return machine.Permit{}, fmt.Errorf("circuitry: httpbreaker: the breaker of %q: %w", key, err)
		}
		if b == nil {
			return machine.Permit{}, &KeyError{Key: clip(key), Err: errors.New("no breaker for the key")}
		}
		p, err := b.Allow(req.Context())
		if errors.Is(err, machine.ErrClosed) && attempt == 0 {
			continue
		}
		return p, err
	}
}

// keyOf runs the key function, turning a panic or a key that cannot be a
// breaker's name into a *KeyError.
func (t *Transport) keyOf(req *http.Request) (key string, err error) {
	if t.key == nil {
		return t.hostKey(req)
	}
	defer func() {
		if v := recover(); v != nil {
			key, err = "", &KeyError{Err: fmt.Errorf("the key function panicked: %v", v)}
		}
	}()
	key = t.key(req)
	if err := events.CheckName(key); err != nil {
		return "", &KeyError{Key: clip(key), Err: err}
	}
	return key, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// CloseIdleConnections closes the idle connections of the transport that
// sends the requests, when it can (http.Transport can): http.Client's
// method of that name reaches it through this one.
func (t *Transport) CloseIdleConnections() {
	type closeIdler interface{ CloseIdleConnections() }
	if c, ok := t.next.(closeIdler); ok {
		c.CloseIdleConnections()
	}
}
