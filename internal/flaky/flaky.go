// Package flaky is the dependency the examples protect: an HTTP quote
// service on 127.0.0.1 that fails for a while and then heals, and the client
// call that treats any status other than 2xx as an error. It is internal to
// the repository: the nested modules' examples (observability) use it too.
package flaky

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Server is the flaky quote service.
type Server struct {
	// URL is the quote endpoint.
	URL string

	srv      *http.Server
	done     chan error
	requests atomic.Int64
}

// Start serves on an ephemeral port of 127.0.0.1, answering 503 from down
// until up and a quote otherwise.
func Start(down, up time.Time) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String() + "/quote", done: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /quote", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if now := time.Now(); !now.Before(down) && now.Before(up) {
			http.Error(w, "upstream overloaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "quote=101.25")
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Requests returns how many requests the server has received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close shuts the server down and waits for it to stop serving.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Get fetches url and returns its body; any status other than 2xx is an
// error, so that a breaker counts it as a failure.
func Get(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("quote service: %s", resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}
