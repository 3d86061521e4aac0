package events_test

import (
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

func TestSnapshotEqual(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	base := events.Snapshot{Breaker: "b", Seq: 3, State: events.Open, Event: events.Trip, Since: at, OpenFor: time.Second}
	for _, c := range []struct {
		name  string
		other events.Snapshot
		want  bool
	}{
		{"same", base, true},
		{"same instant in another zone", func() events.Snapshot { o := base; o.Since = at.In(time.FixedZone("x", 3600)); return o }(), true},
		{"breaker", func() events.Snapshot { o := base; o.Breaker = "c"; return o }(), false},
		{"seq", func() events.Snapshot { o := base; o.Seq = 4; return o }(), false},
		{"state", func() events.Snapshot { o := base; o.State = events.Closed; return o }(), false},
		{"event", func() events.Snapshot { o := base; o.Event = events.ForceOpen; return o }(), false},
		{"since", func() events.Snapshot { o := base; o.Since = at.Add(1); return o }(), false},
		{"open for", func() events.Snapshot { o := base; o.OpenFor = 2 * time.Second; return o }(), false},
		{"opens", func() events.Snapshot { o := base; o.Opens = 2; return o }(), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := base.Equal(c.other); got != c.want {
				t.Errorf("Equal = %v, want %v", got, c.want)
			}
		})
	}
}
