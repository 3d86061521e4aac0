// Package promtest runs the real Prometheus tools for the tests of this
// module: a Prometheus server on loopback with a temporary configuration and
// storage, scraping one target, and promtool. Tests skip when the binaries
// are not on the PATH, with a message saying how to install them, unless
// CIRCUITRY_REQUIRE_PROMETHEUS=1, which makes them fail.
package promtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing binary from
// a skip into a failure.
const RequireEnv = "CIRCUITRY_REQUIRE_PROMETHEUS"

// Binary returns the path of the named binary (prometheus or promtool), or
// skips the test, or fails it when [RequireEnv] is 1.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not on the PATH: install it (on Debian: apt-get install -y prometheus) to run this test", name)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s, which %s=1 requires", msg, RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// Server is a Prometheus server started for a test.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL    string
	client *http.Client
}

// Start runs a Prometheus server on a free loopback port that scrapes
// target (host:port, path /metrics) every interval as job "circuitry", with
// its storage in a temporary directory, and waits until it is ready. It is
// stopped when the test ends.
func Start(t testing.TB, target string, interval time.Duration) *Server {
	t.Helper()
	bin := Binary(t, "prometheus")
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: circuitry
    metrics_path: /metrics
    static_configs:
      - targets: [%[2]q]
`, model(interval), target)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	var lastErr error
	for range 3 { // a port found free may be taken before the server binds it
		addr, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin,
			"--config.file="+cfg,
			"--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr,
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			_ = logFile.Close()
		}
		s := &Server{URL: "http://" + addr, client: client}
		if lastErr = s.waitReady(exited, 30*time.Second); lastErr == nil {
			t.Cleanup(stop)
			return s
		}
		stop()
		if log, err := os.ReadFile(logFile.Name()); err == nil {
			lastErr = fmt.Errorf("%w\n%s", lastErr, log)
		}
	}
	t.Fatalf("prometheus did not start: %v", lastErr)
	return nil
}

// model formats d as a Prometheus duration, in milliseconds.
func model(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or the
// time is up.
func (s *Server) waitReady(exited <-chan error, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("prometheus exited: %v", err)
		default:
		}
		resp, err := s.client.Get(s.URL + "/-/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond) // polling a starting process
	}
	return errors.New("prometheus was not ready in time")
}

// Sample is one series of an instant query's result.
type Sample struct {
	Labels map[string]string
	Value  float64
	Time   time.Time
}

// Label returns the value of the named label.
func (s Sample) Label(name string) string { return s.Labels[name] }

// Query runs an instant query at the time at (the server's time when at is
// zero) and returns its samples, sorted by their labels. A query that does
// not parse, or does not return a vector or a scalar, is an error.
func (s *Server) Query(ctx context.Context, expr string, at time.Time) ([]Sample, error) {
	q := url.Values{"query": {expr}}
	if !at.IsZero() {
		q.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: %s: %v", expr, resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", expr, body.ErrorType, body.Error)
	}
	switch body.Data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, err
		}
		smp, err := sample(nil, v)
		return []Sample{smp}, err
	case "vector":
	default:
		return nil, fmt.Errorf("query %q returned a %s", expr, body.Data.ResultType)
	}
	var result []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(body.Data.Result, &result); err != nil {
		return nil, err
	}
	out := make([]Sample, 0, len(result))
	for _, r := range result {
		smp, err := sample(r.Metric, r.Value)
		if err != nil {
			return nil, fmt.Errorf("query %q: %v", expr, err)
		}
		out = append(out, smp)
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i].Labels) < key(out[j].Labels) })
	return out, nil
}

func sample(labels map[string]string, v [2]any) (Sample, error) {
	ts, ok := v[0].(float64)
	str, ok2 := v[1].(string)
	if !ok || !ok2 {
		return Sample{}, fmt.Errorf("malformed sample %v", v)
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return Sample{}, err
	}
	return Sample{Labels: labels, Value: f, Time: time.UnixMilli(int64(ts * 1000))}, nil
}

// key is a label set as one sortable string.
func key(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Await runs expr until ok accepts its samples or within has passed, polling
// every 50ms, and returns the last samples; it fails the test on a query
// error or when time is up.
func (s *Server) Await(t testing.TB, expr string, within time.Duration, ok func([]Sample) bool) []Sample {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := s.Query(context.Background(), expr, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s returned %v", within, expr, got)
		}
		time.Sleep(50 * time.Millisecond) // polling the server's scrapes
	}
}
