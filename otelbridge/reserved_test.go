package otelbridge_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/circuitry-go/circuitry/otelbridge"
)

// TestWithAttributesRefusesTheBridgesOwnKeys checks that WithAttributes
// refuses every key the bridge sets itself, with an error that names the key
// and says why: those under its prefix, and error.type, which it sets on the
// subscriber errors counter. A key outside them is accepted.
func TestWithAttributesRefusesTheBridgesOwnKeys(t *testing.T) {
	for _, c := range []struct {
		kv   attribute.KeyValue
		want []string // substrings of the error, besides the key
	}{
		{kv: otelbridge.KeyName.String("everything"), want: []string{"prefix"}},
		{kv: attribute.String("circuitry.breaker.custom", "x"), want: []string{"prefix"}},
		{kv: otelbridge.KeyErrorType.String("timeout"), want: []string{"the bridge's own", "circuitry.breaker.subscriber.errors"}},
		{kv: attribute.String("error.type", "panic"), want: []string{"the bridge's own", "circuitry.breaker.subscriber.errors"}},
	} {
		t.Run(string(c.kv.Key)+"="+c.kv.Value.String(), func(t *testing.T) {
			_, err := otelbridge.New(otelbridge.WithAttributes(c.kv))
			if err == nil {
				t.Fatalf("New(WithAttributes(%s)) succeeded, want an error", c.kv.Key)
			}
			for _, w := range append([]string{string(c.kv.Key)}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New(WithAttributes(%s)) = %v, want an error containing %q", c.kv.Key, err, w)
				}
			}
		})
	}
	for _, kv := range []attribute.KeyValue{
		attribute.String("circuitry.region", "eu"),
		attribute.String("error.kind", "x"),
	} {
		t.Run("accepted "+string(kv.Key), func(t *testing.T) {
			if _, err := otelbridge.New(otelbridge.WithAttributes(kv)); err != nil {
				t.Errorf("a key outside the bridge's own was refused: %v", err)
			}
		})
	}
}
