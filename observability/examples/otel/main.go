// Command otel shows a circuit breaker's OpenTelemetry traces and metrics
// through a real SDK setup, in a few seconds.
//
// A client calls a flaky HTTP server on 127.0.0.1 through a
// [machine.Breaker] at a steady rate, each request in its own client span.
// The server answers "503 Service Unavailable" for a while and then heals, so
// the breaker trips, rejects calls, probes, re-trips and recovers. An
// [otelbridge.Bridge] is subscribed to the breaker and observes it. By
// default the program prints a summary, about a screen:
//
//   - under each call, one line per span that carries a breaker event: the
//     call that tripped the breaker (circuitry.breaker.transition), each
//     short-circuited call (circuitry.breaker.rejected), each probe and the
//     recovery, with the event's attributes. -all-spans prints every span.
//   - metrics are collected by a PeriodicReader. The program flushes it after
//     every call that changed the breaker's state, so that each export shows
//     circuitry.breaker.state flipping, and once more at the end, and prints
//     the breaker's data points, one line per instrument; -metrics-interval
//     adds periodic exports.
//
// With -raw it also prints what the stdouttrace and stdoutmetric exporters
// write, pretty-printed JSON: several thousand lines for the default run.
//
// The same meter provider has a second reader, the OpenTelemetry Prometheus
// exporter (observability.NewPrometheusExporter), served on -prometheus
// (default 127.0.0.1:0, a free port, printed at the start). At the end the
// program prints the breaker's state and transitions as Prometheus names
// them, read from that endpoint. With -linger it keeps serving after the
// outage, so that a Prometheus of your own can scrape it:
//
//	go run ./examples/otel -prometheus 127.0.0.1:9464 -linger 10m
//
// with a scrape job for 127.0.0.1:9464 in prometheus.yml; Ctrl-C stops it.
//
// Usage (from the observability module's directory):
//
//	go run ./examples/otel [-outage 1s] [-recovery 400ms] [-interval 100ms] [-calls 30]
//	                       [-all-spans] [-duration] [-metrics-interval 0] [-raw]
//	                       [-prometheus 127.0.0.1:0] [-linger 0]
//
// # Sending to an OpenTelemetry Collector instead
//
// Replace the two stdout exporters with the OTLP ones. They live in their own
// modules, which this repository does not require; add them to your program:
//
//	go get go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc \
//	       go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc
//
// and build the providers over them (a batching span processor suits a
// network exporter better than the synchronous one used here):
//
//	traceExp, err := otlptracegrpc.New(ctx)
//	metricExp, err := otlpmetricgrpc.New(ctx)
//	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExp), sdktrace.WithResource(res))
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)), sdkmetric.WithResource(res))
//
// The exporters read the standard environment variables, so the collector's
// address needs no code:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317  # gRPC; "http" means no TLS
//	OTEL_SERVICE_NAME=quotes-client                    # read by resource.WithFromEnv in run
//
// Nothing else changes: the bridge uses only the OpenTelemetry API and works
// with whatever exporters the providers have.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/flaky"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/observability"
	"github.com/circuitry-go/circuitry/otelbridge"
)

// healthyLead is how long the dependency works before its outage starts.
const healthyLead = 200 * time.Millisecond

type config struct {
	outage, recovery, interval, metricsInterval time.Duration
	calls                                       int
	allSpans, duration, raw                     bool
	prometheus                                  string        // the address of the /metrics endpoint
	linger                                      time.Duration // how long to serve /metrics after the outage
	// atEnd, when set, is called with the /metrics URL after the outage,
	// while the endpoint serves (the test reads it there).
	atEnd func(metricsURL string) error
}

func main() {
	var c config
	flag.DurationVar(&c.outage, "outage", time.Second, "how long the dependency answers 503")
	flag.DurationVar(&c.recovery, "recovery", 400*time.Millisecond, "the breaker's recovery timeout (open period)")
	flag.DurationVar(&c.interval, "interval", 100*time.Millisecond, "time between two calls")
	flag.IntVar(&c.calls, "calls", 30, "number of calls to make (more are made if the breaker has not recovered by then)")
	flag.BoolVar(&c.allSpans, "all-spans", false, "print every span, not only those with a breaker event")
	flag.BoolVar(&c.duration, "duration", false, "turn on the circuitry.breaker.call.duration histogram")
	flag.DurationVar(&c.metricsInterval, "metrics-interval", 0, "also export metrics periodically at this interval, from the reader's goroutine (0: only after state changes and at the end)")
	flag.BoolVar(&c.raw, "raw", false, "also print the stdout exporters' JSON (thousands of lines)")
	flag.StringVar(&c.prometheus, "prometheus", "127.0.0.1:0", "the address of the Prometheus /metrics endpoint (port 0: a free one)")
	flag.DurationVar(&c.linger, "linger", 0, "keep serving /metrics this long after the outage, for a Prometheus of your own (Ctrl-C stops)")
	flag.Parse()
	if err := run(os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "otel:", err)
		os.Exit(1)
	}
}

// run plays the outage, writing to w.
func run(w io.Writer, c config) (err error) {
	if c.outage <= 0 || c.recovery <= 0 || c.interval <= 0 || c.calls <= 0 || c.metricsInterval < 0 || c.linger < 0 {
		return errors.New("-outage, -recovery, -interval and -calls must be positive, -metrics-interval and -linger not negative")
	}
	ctx := context.Background()
	start := time.Now()
	since := func() string { return fmt.Sprintf("+%.2fs", time.Since(start).Seconds()) }

	// 1. The OpenTelemetry SDK: a resource, a tracer provider that prints
	// spans as they end, and a meter provider with a periodic reader. The
	// stdout exporters write to raw, which is w with -raw and nowhere
	// otherwise.
	raw := io.Discard
	if c.raw {
		raw = w
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "quotes-client")),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return err
	}
	var spans sdktrace.SpanProcessor = spanLines{w}
	if c.raw {
		spanExp, err := stdouttrace.New(stdouttrace.WithPrettyPrint(), stdouttrace.WithWriter(raw))
		if err != nil {
			return err
		}
		spans = both{sdktrace.NewSimpleSpanProcessor(spanExp), spans}
	}
	if !c.allSpans {
		spans = breakerSpansOnly{spans}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithResource(res))
	defer func() { err = errors.Join(err, tp.Shutdown(ctx)) }()

	stdoutExp, err := stdoutmetric.New(stdoutmetric.WithPrettyPrint(), stdoutmetric.WithWriter(raw))
	if err != nil {
		return err
	}
	metricExp := &digest{Exporter: stdoutExp, w: w}
	every := c.metricsInterval
	if every == 0 {
		every = time.Hour // in effect never: this run exports by hand
	}
	reader := sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(every))
	// The Prometheus exporter is a second reader, collected at each
	// scrape of the endpoint.
	registry := prometheus.NewRegistry()
	promExp, err := observability.NewPrometheusExporter(otelprom.WithRegisterer(registry))
	if err != nil {
		return err
	}
	endpoint, err := serveMetrics(c.prometheus, registry)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, endpoint.close()) }()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithReader(promExp), sdkmetric.WithResource(res))
	var b *machine.Breaker
	defer func() {
		metricExp.quiet.Store(true)              // the last export was printed before the summary
		err = errors.Join(err, mp.Shutdown(ctx)) // exports once more
		// A service that removes a breaker closes it, which unregisters its
		// instruments, so that no callback is left behind; here the last
		// export comes first.
		if b != nil {
			err = errors.Join(err, b.Close(ctx))
		}
	}()
	tracer := tp.Tracer("github.com/circuitry-go/circuitry/examples/otel")

	// 2. The bridge, and the breaker it is subscribed to: one step wires
	// the span events, the transitions, and the observable instruments
	// that read the breaker's counts at each export.
	bridge, err := otelbridge.New(
		otelbridge.WithMeterProvider(mp),
		otelbridge.WithCallDuration(c.duration),
	)
	if err != nil {
		return err
	}
	b, err = machine.New("quotes",
		machine.WithFailureThreshold(5),
		machine.WithRecoveryTimeout(c.recovery),
		machine.WithSuccessThreshold(2),
		machine.WithSubscribers(bridge),
	)
	if err != nil {
		return err
	}

	// 3. The flaky dependency: a real HTTP server on an ephemeral port.
	dep, err := flaky.Start(start.Add(healthyLead), start.Add(healthyLead+c.outage))
	if err != nil {
		return err
	}
	defer func() {
		if err := dep.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "dependency:", err)
		}
	}()
	fmt.Fprintf(w, "dependency on %s: healthy, then 503 for %s from +%s, then healthy again\n",
		dep.URL, c.outage, healthyLead)
	fmt.Fprintln(w, "each call's line shows the breaker's state after the call, then its span's breaker events;")
	fmt.Fprintln(w, "metrics are exported after each call that moved the breaker, and at the end;")
	fmt.Fprintf(w, "Prometheus scrapes them at %s\n", endpoint.url)
	fmt.Fprintln(w)

	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()

	// 4. Call it at a steady rate, each request in its own client span, and
	// export the metrics whenever a call moved the breaker.
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	limit := time.Now().Add(healthyLead + c.outage + 10*c.recovery + time.Duration(c.calls)*c.interval)
	for i := 1; i <= c.calls || (b.State() != events.Closed && time.Now().Before(limit)); i++ {
		seq := b.Snapshot().Seq
		callCtx, span := tracer.Start(ctx, "GET /quote",
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(
				attribute.String("http.request.method", http.MethodGet),
				attribute.String("url.full", dep.URL),
				attribute.Int("example.call", i),
			))
		at, result := since(), quote(callCtx, b, client, dep.URL)
		fmt.Fprintf(w, "%s call %02d  %-9s  %s\n", at, i, b.State(), result)
		span.End() // printed now, below its line, if it carries a breaker event
		if snap := b.Snapshot(); snap.Seq != seq {
			fmt.Fprintf(w, "%s metrics after call %02d (%d transition(s), now %s):\n", since(), i, snap.Seq-seq, snap.State)
			if err := reader.ForceFlush(ctx); err != nil {
				return err
			}
		}
		<-tick.C
	}
	if b.State() != events.Closed {
		return fmt.Errorf("breaker did not recover (state %s): try a longer -calls or a shorter -outage", b.State())
	}
	fmt.Fprintf(w, "\n%s metrics at the end:\n", since())
	if err := reader.ForceFlush(ctx); err != nil {
		return err
	}
	cs := b.Counts()
	fmt.Fprintf(w, "\n%s calls: %d succeeded, %d failed, %d rejected; %d transitions; the server saw %d requests\n",
		since(), cs.Successes, cs.Failures, cs.Rejected, b.Snapshot().Seq, dep.Requests())
	if err := endpoint.print(w); err != nil {
		return err
	}
	if c.atEnd != nil {
		if err := c.atEnd(endpoint.url); err != nil {
			return err
		}
	}
	if c.linger > 0 {
		fmt.Fprintf(w, "\nserving %s for %s (Ctrl-C stops)\n", endpoint.url, c.linger)
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		timer := time.NewTimer(c.linger)
		defer timer.Stop()
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
	return nil
}

// metricsEndpoint serves a Prometheus registry at /metrics.
type metricsEndpoint struct {
	url  string
	srv  *http.Server
	done chan error
}

// serveMetrics serves registry at http://addr/metrics.
func serveMetrics(addr string, registry *prometheus.Registry) (*metricsEndpoint, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-prometheus: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	e := &metricsEndpoint{
		url:  "http://" + l.Addr().String() + "/metrics",
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan error, 1),
	}
	go func() { e.done <- e.srv.Serve(l) }()
	return e, nil
}

func (e *metricsEndpoint) close() error {
	err := e.srv.Close()
	if serr := <-e.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// print reads the endpoint as Prometheus does and writes the breaker's
// state and its transitions that happened, as Prometheus names them
// (without the otel_scope labels every series has).
func (e *metricsEndpoint) print(w io.Writer) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(e.url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	scope := regexp.MustCompile(`,?otel_scope_[a-z_]+="[^"]*"`)
	fmt.Fprintf(w, "\nas Prometheus scrapes them from %s:\n", e.url)
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		state := strings.HasPrefix(line, "circuitry_breaker_state{")
		transition := strings.HasPrefix(line, "circuitry_breaker_transitions_total{") && !strings.HasSuffix(line, " 0")
		if state || transition {
			fmt.Fprintf(w, "         %s\n", scope.ReplaceAllString(line, ""))
		}
	}
	return nil
}

// quote calls the dependency through the breaker and says how it went. The
// breaker's span events go on the span in ctx; quote sets its status.
func quote(ctx context.Context, b *machine.Breaker, client *http.Client, url string) string {
	span := trace.SpanFromContext(ctx)
	body, err := machine.Execute(ctx, b, func(ctx context.Context) (string, error) {
		return flaky.Get(ctx, client, url)
	})
	var open *machine.OpenError
	switch {
	case err == nil:
		return "ok        " + body
	case errors.As(err, &open):
		// The span has the circuitry.breaker.rejected event: the request
		// never left the process.
		span.SetStatus(codes.Error, "short-circuited by the breaker")
		return fmt.Sprintf("rejected  (%s, retry after %s)", open.State, open.RetryAfter().Round(time.Millisecond))
	default:
		span.SetStatus(codes.Error, err.Error())
		return "failed    " + err.Error()
	}
}

// digest is the stdout metric exporter followed by a digest of the breaker
// metrics it has just exported, one line per instrument, written to w unless
// quiet.
type digest struct {
	sdkmetric.Exporter
	w     io.Writer
	quiet atomic.Bool
}

func (d *digest) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := d.Exporter.Export(ctx, rm)
	if d.quiet.Load() {
		return err
	}
	var parts []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			var key attribute.Key
			switch m.Name {
			case otelbridge.StateName:
				points, key = m.Data.(metricdata.Gauge[int64]).DataPoints, otelbridge.KeyState
			case otelbridge.CallsName:
				points, key = m.Data.(metricdata.Sum[int64]).DataPoints, otelbridge.KeyOutcome
			case otelbridge.TransitionsName:
				points, key = m.Data.(metricdata.Sum[int64]).DataPoints, otelbridge.KeyEvent
			default:
				continue
			}
			var kv []string
			for _, p := range points {
				if m.Name == otelbridge.TransitionsName && p.Value == 0 {
					continue // every transition's stream starts at 0: show those that happened
				}
				v, _ := p.Attributes.Value(key)
				kv = append(kv, fmt.Sprintf("%s=%d", v.String(), p.Value))
			}
			slices.Sort(kv)
			parts = append(parts, fmt.Sprintf("%s{%s}", m.Name, strings.Join(kv, " ")))
		}
	}
	slices.Sort(parts)
	for _, p := range parts {
		fmt.Fprintf(d.w, "         %s\n", p)
	}
	return err
}

// spanLines prints one line per ended span: its name, trace ID and each
// breaker event with its attributes (without their common prefix).
type spanLines struct{ w io.Writer }

func (spanLines) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (spanLines) Shutdown(context.Context) error                  { return nil }
func (spanLines) ForceFlush(context.Context) error                { return nil }

func (p spanLines) OnEnd(s sdktrace.ReadOnlySpan) {
	var evs []string
	for _, e := range s.Events() {
		name, ok := strings.CutPrefix(e.Name, "circuitry.breaker.")
		if !ok {
			continue
		}
		kv := []string{name}
		for _, a := range e.Attributes {
			if a.Key == otelbridge.KeyName {
				continue
			}
			k := strings.TrimPrefix(string(a.Key), "circuitry.breaker.")
			kv = append(kv, k+"="+a.Value.String())
		}
		evs = append(evs, strings.Join(kv, " "))
	}
	if len(evs) == 0 {
		evs = []string{"no breaker event"}
	}
	fmt.Fprintf(p.w, "         span %q trace %s: %s\n", s.Name(), s.SpanContext().TraceID(), strings.Join(evs, "; "))
}

// both passes every span to two processors, in order.
type both [2]sdktrace.SpanProcessor

func (b both) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	b[0].OnStart(ctx, s)
	b[1].OnStart(ctx, s)
}

func (b both) OnEnd(s sdktrace.ReadOnlySpan) {
	b[0].OnEnd(s)
	b[1].OnEnd(s)
}

func (b both) Shutdown(ctx context.Context) error {
	return errors.Join(b[0].Shutdown(ctx), b[1].Shutdown(ctx))
}

func (b both) ForceFlush(ctx context.Context) error {
	return errors.Join(b[0].ForceFlush(ctx), b[1].ForceFlush(ctx))
}

// breakerSpansOnly passes on only the spans that carry a breaker event.
type breakerSpansOnly struct{ sdktrace.SpanProcessor }

func (p breakerSpansOnly) OnEnd(s sdktrace.ReadOnlySpan) {
	for _, e := range s.Events() {
		if strings.HasPrefix(e.Name, "circuitry.breaker.") {
			p.SpanProcessor.OnEnd(s)
			return
		}
	}
}
