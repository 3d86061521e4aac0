// Package observability is what a service needs to watch circuitry's
// breakers from Prometheus and Grafana: the OpenTelemetry Prometheus
// exporter set up so that the names are those the documentation gives
// ([NewPrometheusExporter]), the alerting rules ([AlertRules], the file
// prometheus/alerts.yml) and the Grafana dashboard ([Dashboard], the file
// grafana/circuitry.json).
//
// It is a module of its own, github.com/circuitry-go/circuitry/observability,
// so that the core module never requires the Prometheus client or the OTLP
// exporters. Its tests run the real components: a Prometheus server
// scraping the exporter over loopback (the three queries a user writes
// first, and every query of the dashboard), promtool's unit tests of the
// alerting rules, and an OTLP/HTTP receiver that decodes what the OTLP
// exporters send. They need the prometheus and promtool binaries on the
// PATH (on Debian: apt-get install -y prometheus) and skip without them,
// unless CIRCUITRY_REQUIRE_PROMETHEUS=1, which makes them fail instead.
//
// examples/otel plays an outage through a breaker with the OpenTelemetry
// SDK, printing its span events and metrics and serving them to Prometheus.
package observability
