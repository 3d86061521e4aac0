package natsjournal_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/otelbridge"
	"github.com/nats-io/nats.go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The server goes away and comes back: calls go on, the trip made in the
// outage is reported as unstored (to the error handler, by Sync, and in
// the OpenTelemetry bridge's count of failed appends), and once the server is back the retry
// stores it, in order and once, even though the publish made during the
// outage may reach the server after its deadline.
func TestServerOutageAndReturn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := serverAt(t, 0, dir)
	port := s.Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	j := newJournal(t, nc)
	clk := clocktest.New(t0)
	reported := make(chan error, 64)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	bridge, err := otelbridge.New(otelbridge.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	b, err := machine.New("payments", machine.WithJournal(j), machine.WithClock(clk), machine.WithSubscribers(bridge),
		machine.WithWriter("replica-a"), machine.WithJournalTimeout(200*time.Millisecond),
		machine.WithErrorHandler(func(err error) {
			select {
			case reported <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })

	s.Shutdown()
	s.WaitForShutdown()
	for range machine.DefaultFailureThreshold {
		_ = b.Do(ctx, failCall)
	}
	if got := b.State(); got != events.Open {
		t.Fatalf("State in the outage = %s, want open", got)
	}
	select {
	case err := <-reported:
		var je *machine.JournalError
		if !errors.As(err, &je) || je.Refused {
			t.Fatalf("reported %v, want a *machine.JournalError kept for retry", err)
		}
	case <-time.After(20 * time.Second): // a watchdog, not a timing assertion
		t.Fatal("the failed append was never reported")
	}
	if err := b.Sync(ctx); !errors.Is(err, machine.ErrUnstored) {
		t.Fatalf("Sync in the outage = %v, want ErrUnstored", err)
	}
	if n := journalErrors(t, reader); n < 1 {
		t.Fatalf("%s = %d in the outage, want at least 1", otelbridge.JournalErrorsName, n)
	}

	// The server comes back where it was, with its store.
	serverAt(t, port, dir)
	deadline := time.Now().Add(20 * time.Second) // a watchdog, not a timing assertion
	for {
		clk.Advance(30 * time.Second) // the retry timer's longest wait
		err := b.Sync(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Sync after the server came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	recs, err := j.Read(ctx, "payments", 0)
	if err != nil || len(recs) != 1 || recs[0].Event != events.Trip || recs[0].Writer != "replica-a" {
		t.Fatalf("the stream holds %+v, %v; want replica-a's trip, once", recs, err)
	}
}

// journalErrors collects the bridge's count of failed journal appends of
// the breaker "payments".
func journalErrors(t *testing.T, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != otelbridge.JournalErrorsName || !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				if v, _ := dp.Attributes.Value(otelbridge.KeyName); v.AsString() == "payments" {
					n += dp.Value
				}
			}
		}
	}
	return n
}
