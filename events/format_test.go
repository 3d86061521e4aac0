package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/events"
)

// A rolling deploy: readers of this build meet records written by a later
// one. Fields a later minor format added (same major version) are ignored;
// a later major version is refused, and the error names it.
func TestLaterFormats(t *testing.T) {
	base := `{"v":2,"breaker":"payments","seq":1,"event":"trip","from":"closed","to":"open",` +
		`"time":"2026-11-27T10:00:00Z","open_for":"30s","writer":"api-1","id":"00000000000000ff",` +
		`"reason":{"policy":"consecutive_failures","failures":5,"threshold":5}}`
	t.Run("a later minor format", func(t *testing.T) {
		for name, rec := range map[string]string{
			"a field added to the record": strings.Replace(base, `"writer":`, `"region":"eu-1","lease":{"until":3},"writer":`, 1),
			"a field added to the reason": strings.Replace(base, `"threshold":5}`, `"threshold":5,"p99":"120ms"}`, 1),
			"a version 1 record":          strings.Replace(strings.Replace(base, `"v":2`, `"v":1`, 1), `"writer":"api-1","id":"00000000000000ff",`, ``, 1),
		} {
			t.Run(name, func(t *testing.T) {
				var got events.Transition
				if err := got.UnmarshalJSON([]byte(rec)); err != nil {
					t.Fatalf("UnmarshalJSON: %v", err)
				}
				if got.Seq != 1 || got.Event != events.Trip || got.Reason.Failures != 5 || got.OpenFor.String() != "30s" {
					t.Fatalf("decoded %+v", got)
				}
			})
		}
	})
	t.Run("a later major format", func(t *testing.T) {
		var got events.Transition
		err := got.UnmarshalJSON([]byte(strings.Replace(base, `"v":2`, `"v":3`, 1)))
		if !errors.Is(err, events.ErrDecode) || !strings.Contains(err.Error(), "format version 3") {
			t.Fatalf("UnmarshalJSON of version 3 = %v, want an error naming the version", err)
		}
	})
}
