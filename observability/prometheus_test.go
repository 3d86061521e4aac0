package observability_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/observability"
	"github.com/circuitry-go/circuitry/observability/internal/promtest"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// scrapeInterval is the test server's scrape interval.
const scrapeInterval = 250 * time.Millisecond

var errDependency = errors.New("dependency failed")

// fleet is four breakers with the bridge subscribed, on a fake clock, whose
// metrics the exporter serves on an HTTP endpoint.
type fleet struct {
	clock                               *clocktest.Clock
	payments, inventory, search, quotes *machine.Breaker
	endpoint                            *httptest.Server
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := observability.NewPrometheusExporter(otelprom.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp), otelbridge.WithCallDuration(true))
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{clock: clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	breaker := func(name string, opts ...machine.Option) *machine.Breaker {
		b, err := machine.New(name, append([]machine.Option{machine.WithClock(f.clock), machine.WithSubscribers(bridge)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close(context.Background()) })
		return b
	}
	f.payments = breaker("payments")
	f.inventory = breaker("inventory")
	f.search = breaker("search")
	f.quotes = breaker("quotes", machine.WithTripPolicy(machine.FailureRate(50, 10, machine.LastCalls(20))))
	f.endpoint = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(f.endpoint.Close)
	return f
}

// call makes n calls through b that fail or succeed.
func call(b *machine.Breaker, n int, fail bool) {
	for range n {
		_ = b.Do(context.Background(), func(context.Context) error {
			if fail {
				return errDependency
			}
			return nil
		})
	}
}

// outage plays the script: payments trips, rejects 3 calls, probes and
// recovers after its 30s open period, and trips again, rejecting 2 more;
// inventory serves 10 calls; an operator forces search open and it rejects
// 2 calls; quotes sees 4 failures in 10 calls, 40% against its 50%.
func (f *fleet) outage(t *testing.T) {
	call(f.payments, 2, false)
	call(f.payments, 5, true) // trips
	call(f.payments, 3, false)
	f.clock.Advance(machine.DefaultRecoveryTimeout)
	call(f.payments, 2, false) // probe and recover
	call(f.payments, 5, true)  // trips again
	call(f.payments, 2, false)
	call(f.inventory, 10, false)
	if err := f.search.ForceOpen(context.Background(), machine.Override{Operator: "oncall", Note: "index rebuild"}); err != nil {
		t.Fatal(err)
	}
	call(f.search, 2, false)
	call(f.quotes, 4, true)
	call(f.quotes, 6, false)
	for b, want := range map[*machine.Breaker]events.State{f.payments: events.Open, f.inventory: events.Closed, f.search: events.Open, f.quotes: events.Closed} {
		if got := b.State(); got != want {
			t.Fatalf("%s is %s, want %s", b.Name(), got, want)
		}
	}
}

// TestPrometheus plays an outage through breakers whose metrics a real
// Prometheus server scrapes over loopback, and checks at the last scrape:
// that every name docs/opentelemetry.md gives is a name the server has, the
// three queries a user writes first (open breakers, rejection rate,
// transitions per minute), and every query of the Grafana dashboard.
func TestPrometheus(t *testing.T) {
	f := newFleet(t)
	target, err := url.Parse(f.endpoint.URL)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	prom := promtest.Start(t, target.Host, scrapeInterval)
	ready := time.Since(started)

	// A first scrape before any call: every stream at 0.
	prom.Await(t, `count(circuitry_breaker_calls_total)`, 30*time.Second, func(s []promtest.Sample) bool {
		return len(s) == 1 && s[0].Value == 16
	})
	f.outage(t)
	done := time.Now()
	// The first scrape that began after the script: its samples are the
	// final figures.
	last := prom.Await(t, `max(timestamp(circuitry_breaker_calls_total))`, 30*time.Second, func(s []promtest.Sample) bool {
		return len(s) == 1 && s[0].Value*1000 > float64(done.UnixMilli())
	})
	at := time.UnixMilli(int64(math.Round(last[0].Value * 1000)))
	t.Logf("prometheus ready in %s; final scrape %s after the script", ready.Round(time.Millisecond), at.Sub(done).Round(time.Millisecond))
	query := func(t *testing.T, expr string) []promtest.Sample {
		t.Helper()
		got, err := prom.Query(context.Background(), expr, at)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("documented names", func(t *testing.T) {
		documented := documentedNames(t)
		metrics := map[string]bool{}
		for _, s := range query(t, `count by (__name__) ({__name__=~"circuitry_.*"})`) {
			n := s.Label("__name__")
			metrics[n] = true
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			metrics[base] = true
			if !documented[n] && !documented[base] {
				t.Errorf("Prometheus has %s, which docs/opentelemetry.md does not give", n)
			}
		}
		for name := range documented {
			if !metrics[name] && !labelExists(t, query, name) {
				t.Errorf("docs/opentelemetry.md gives %s, which Prometheus has neither as a metric nor as a label", name)
			}
		}
	})

	// The three queries a user writes first.
	for _, c := range []struct {
		name, expr string
		want       map[string]float64 // by breaker
	}{
		{
			name: "open breakers",
			expr: `sum by (circuitry_breaker_name) (circuitry_breaker_state{circuitry_breaker_state="open"}) == 1`,
			want: map[string]float64{"payments": 1, "search": 1},
		},
		{
			name: "open breakers an operator did not force",
			expr: `sum by (circuitry_breaker_name) (circuitry_breaker_state{circuitry_breaker_state="open", circuitry_breaker_forced="false"}) == 1`,
			want: map[string]float64{"payments": 1},
		},
		{
			name: "rejection rate, per second",
			expr: `sum by (circuitry_breaker_name) (rate(circuitry_breaker_calls_total{circuitry_breaker_outcome="rejected"}[1m]))`,
			want: map[string]float64{"payments": 5.0 / 60, "search": 2.0 / 60, "inventory": 0, "quotes": 0},
		},
		{
			name: "rejection share",
			expr: `sum by (circuitry_breaker_name) (rate(circuitry_breaker_calls_total{circuitry_breaker_outcome="rejected"}[1m])) / sum by (circuitry_breaker_name) (rate(circuitry_breaker_calls_total[1m]))`,
			want: map[string]float64{"payments": 5.0 / 19, "search": 1, "inventory": 0, "quotes": 0},
		},
		{
			name: "transitions per minute",
			expr: `sum by (circuitry_breaker_name) (increase(circuitry_breaker_transitions_total[1m]))`,
			want: map[string]float64{"payments": 4, "search": 1, "inventory": 0, "quotes": 0},
		},
		{
			name: "trips per minute",
			expr: `sum by (circuitry_breaker_name) (increase(circuitry_breaker_transitions_total{circuitry_breaker_event="trip"}[1m]))`,
			want: map[string]float64{"payments": 2, "search": 0, "inventory": 0, "quotes": 0},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := map[string]float64{}
			for _, s := range query(t, c.expr) {
				got[s.Label("circuitry_breaker_name")] = s.Value
			}
			if !sameFigures(got, c.want) {
				t.Errorf("%s\n got %v\nwant %v", c.expr, got, c.want)
			}
		})
	}

	t.Run("dashboard", func(t *testing.T) {
		exprs := dashboardQueries(t)
		// What each query returns at the last scrape, by its series'
		// legend (the labels it keeps, other than job and instance).
		want := map[string]map[string]float64{
			"State/A":                       {"payments": 2, "search": 3, "inventory": 0, "quotes": 0},
			"Open breakers/A":               {"": 2},
			"Rejection share/A":             {"payments": 5.0 / 19, "search": 1, "inventory": 0, "quotes": 0},
			"Transitions by event/A":        {"payments trip": 2, "payments probe": 1, "payments recover": 1, "search force_open": 1},
			"Closeness to tripping/A":       {"payments consecutive_failures": 0, "inventory consecutive_failures": 0, "search consecutive_failures": 0, "quotes failure_rate": 0.8},
			"Failure and slow-call rates/A": {"quotes failure_rate": 40},
			"Failure and slow-call rates/B": {"quotes failure_rate": 50},
			"variable breaker":              {"inventory": 1, "payments": 1, "quotes": 1, "search": 1},
		}
		calls := map[string]float64{}
		for _, b := range []string{"payments", "inventory", "search", "quotes"} {
			for _, o := range []string{"success", "failure", "ignored", "rejected"} {
				calls[b+" "+o] = 0
			}
		}
		calls["payments success"], calls["payments failure"], calls["payments rejected"] = 4.0/60, 10.0/60, 5.0/60
		calls["inventory success"], calls["search rejected"] = 10.0/60, 2.0/60
		calls["quotes success"], calls["quotes failure"] = 6.0/60, 4.0/60
		want["Calls by outcome/A"] = calls
		if len(exprs) != len(want) {
			t.Errorf("the dashboard has %d queries %v, the test expects %d", len(exprs), slices.Sorted(mapsKeys(exprs)), len(want))
		}
		for name, expr := range exprs {
			t.Run(name, func(t *testing.T) {
				w, ok := want[name]
				if !ok {
					t.Fatalf("no expectation for %q: %s", name, expr)
				}
				got := map[string]float64{}
				for _, s := range query(t, expr) {
					got[legend(s.Labels)] = s.Value
				}
				if !sameFigures(got, w) {
					t.Errorf("%s\n got %v\nwant %v", expr, got, w)
				}
			})
		}
	})
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// sameFigures reports whether got and want have the same keys and values
// equal to 1e-9.
func sameFigures(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-w) > 1e-9 {
			return false
		}
	}
	return true
}

// legend names a series by the values of its circuitry labels, in the
// order name, then the others sorted by key.
func legend(labels map[string]string) string {
	var parts []string
	if n, ok := labels["circuitry_breaker_name"]; ok {
		parts = append(parts, n)
	}
	var keys []string
	for k := range labels {
		if strings.HasPrefix(k, "circuitry_breaker_") && k != "circuitry_breaker_name" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, labels[k])
	}
	return strings.Join(parts, " ")
}

// dashboardQueries returns every query of the Grafana dashboard, by panel
// title and refId ("variable NAME" for a template variable), with the
// Grafana variables a test server lacks replaced: $breaker by .* (all
// breakers), $__rate_interval by 1m, and label_values(metric, label) by the
// PromQL that returns those values.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	var board struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(observability.Dashboard, &board); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	subst := strings.NewReplacer("$breaker", ".*", "$__rate_interval", "1m")
	for _, p := range board.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
			}
			out[p.Title+"/"+tg.RefID] = subst.Replace(tg.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`)
	for _, v := range board.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q)
			continue
		}
		out["variable "+v.Name] = fmt.Sprintf("group by (%s) (%s)", m[2], m[1])
	}
	return out
}

// documentedNames returns every Prometheus name docs/opentelemetry.md gives
// in its tables: the words in backticks that start with circuitry_ or are
// error_type.
func documentedNames(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile("../docs/opentelemetry.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("`(circuitry_[a-z_]+|error_type)`").FindAllStringSubmatch(string(doc), -1) {
		names[m[1]] = true
	}
	if len(names) < 20 {
		t.Fatalf("docs/opentelemetry.md gives %d Prometheus names: %v", len(names), names)
	}
	return names
}

// labelExists reports whether some circuitry series has the label.
func labelExists(t *testing.T, query func(*testing.T, string) []promtest.Sample, label string) bool {
	return len(query(t, fmt.Sprintf(`count({__name__=~"circuitry_.*", %s!=""})`, label))) > 0
}
