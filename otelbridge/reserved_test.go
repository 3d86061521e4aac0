package otelbridge_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/circuitry-go/circuitry/otelbridge"
)

func TestWithAttributesRefusesTheBridgesOwnKeys(t *testing.T) {
	for _, kv := range []attribute.KeyValue{
		otelbridge.KeyName.String("everything"),
		attribute.String("circuitry.breaker.custom", "x"),
	} {
		t.Run(string(kv.Key), func(t *testing.T) {
			_, err := otelbridge.New(otelbridge.WithAttributes(kv))
			if err == nil || !strings.Contains(err.Error(), string(kv.Key)) || !strings.Contains(err.Error(), "prefix") {
				t.Errorf("New(WithAttributes(%s)) = %v, want an error naming the key and the prefix", kv.Key, err)
			}
		})
	}
	if _, err := otelbridge.New(otelbridge.WithAttributes(attribute.String("circuitry.region", "eu"))); err != nil {
		t.Errorf("a key outside the reserved prefix was refused: %v", err)
	}
}
