package observability_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/circuitry-go/circuitry/observability"
	"github.com/circuitry-go/circuitry/observability/internal/promtest"
)

// TestAlertRules checks the alerting rules with promtool, as Prometheus
// loads them, and runs their unit tests (prometheus/alerts_test.yml).
func TestAlertRules(t *testing.T) {
	promtool := promtest.Binary(t, "promtool")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"check rules", []string{"check", "rules", "alerts.yml"}},
		{"test rules", []string{"test", "rules", "alerts_test.yml"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(promtool, c.args...)
			cmd.Dir = "prometheus"
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %v: %v\n%s", c.args, err, out)
			}
			t.Logf("promtool %v:\n%s", c.args, out)
		})
	}
}

// TestEmbedded checks that AlertRules and Dashboard are the files.
func TestEmbedded(t *testing.T) {
	for _, c := range []struct {
		file string
		got  []byte
	}{
		{"prometheus/alerts.yml", observability.AlertRules},
		{"grafana/circuitry.json", observability.Dashboard},
	} {
		want, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !bytes.Equal(c.got, want) {
			t.Errorf("the embedded %s differs from the file (%d bytes, file %d)", c.file, len(c.got), len(want))
		}
	}
}
