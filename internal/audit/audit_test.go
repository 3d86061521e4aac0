package audit

import (
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"go.uber.org/goleak"
)

// The commands themselves are tested through their builds: cmd/circuitry
// over files, natsjournal/cmd/circuitry-nats over a stream.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestReasonText(t *testing.T) {
	for _, c := range []struct {
		name string
		r    events.Reason
		want string
	}{
		{"policy", events.Reason{Policy: "consecutive_failures", Failures: 5, LastError: "EOF"}, `consecutive_failures failures=5 last_error="EOF"`},
		{"manual control", events.Reason{Operator: "alice", Note: "maintenance"}, `operator="alice" note="maintenance"`},
		{"policy alone", events.Reason{Policy: "open_timeout"}, "open_timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := reasonText(c.r); got != c.want {
				t.Errorf("reasonText = %q, want %q", got, c.want)
			}
		})
	}
}

func TestUsageNamesTheBuild(t *testing.T) {
	c := Command{Name: "circuitry-nats", Arg: "URL"}
	if got, want := c.usage(), "  circuitry-nats verify [-key-file KEYFILE [-old-key-file KEYFILE]...] [-head HASH]... [-segment] URL\n"; !strings.Contains(got, want) {
		t.Errorf("usage = %q, want it to contain %q", got, want)
	}
}
