package observability

import (
	_ "embed" // the alerting rules and the dashboard

	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
)

// NameTranslation is the translation of OpenTelemetry names to Prometheus
// names that [NewPrometheusExporter] pins: dots become underscores, the
// unit is appended (circuitry.breaker.call.duration in seconds becomes
// circuitry_breaker_call_duration_seconds, a percent gauge ends in
// _percent, an annotation such as {call} adds nothing) and a counter ends
// in _total. The names are then legal for every Prometheus server, those
// before UTF-8 names (Debian 12's 2.42) included, and do not change with
// the server's negotiation.
var NameTranslation = otlptranslator.UnderscoreEscapingWithSuffixes

// NewPrometheusExporter returns the OpenTelemetry Prometheus exporter (a
// metric reader for the SDK's meter provider) with opts and the name
// translation pinned to [NameTranslation], which it sets after opts: the
// metric and label names are those docs/opentelemetry.md gives, whatever
// the server or the exporter's default. Serve it with promhttp over the
// registerer given with otelprom.WithRegisterer (default: the Prometheus
// client's default registerer, which promhttp.Handler serves).
func NewPrometheusExporter(opts ...otelprom.Option) (*otelprom.Exporter, error) {
	return otelprom.New(append(opts, otelprom.WithTranslationStrategy(NameTranslation))...)
}

// AlertRules is the Prometheus alerting rules file prometheus/alerts.yml:
// a breaker open for five minutes, one forced open for an hour, a breaker
// that flaps, one that rejects a quarter of its calls, and one close to
// tripping.
//
//go:embed prometheus/alerts.yml
var AlertRules []byte

// Dashboard is the Grafana dashboard grafana/circuitry.json: the state of
// each breaker over time, its rejection share, its transitions by event,
// and how close each trip policy is to tripping.
//
//go:embed grafana/circuitry.json
var Dashboard []byte
