package filejournal_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/machine"
)

// BenchmarkFileAppend measures one durable append: encode, write and (with
// SyncAlways, the default) fsync, with the default retention, so that the
// cost of the automatic compactions is included, spread over the appends.
func BenchmarkFileAppend(b *testing.B) {
	for _, p := range []filejournal.SyncPolicy{filejournal.SyncAlways, filejournal.SyncNone} {
		b.Run(p.String(), func(b *testing.B) {
			f, err := filejournal.Open(filepath.Join(b.TempDir(), "j"), filejournal.WithSync(p))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			trip := events.Transition{Breaker: "payments", Event: events.Trip, From: events.Closed, To: events.Open,
				OpenFor: 30 * time.Second, Reason: events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: "connection refused"}}
			closeRec := events.Transition{Breaker: "payments", Event: events.ForceClose, From: events.Open, To: events.Closed,
				Reason: events.Reason{Policy: events.PolicyManual, Operator: "ops", Note: "benchmark"}}
			ctx := context.Background()
			b.ReportAllocs()
			for i := 1; b.Loop(); i++ {
				r := trip
				if i%2 == 0 {
					r = closeRec
				}
				r.Seq, r.Time = uint64(i), t0.Add(time.Duration(i)*time.Second)
				if err := f.Append(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFileBreakerRound measures a full round of a machine.Breaker over
// a journal: five failures that trip it, the open period passing (a fake
// clock), and two successes that probe and recover it. That is three
// transitions and seven calls; ns/transition is ns/op over three.
func BenchmarkFileBreakerRound(b *testing.B) {
	for _, tc := range []struct {
		name    string
		journal func(b *testing.B) events.Journal
	}{
		{"File/SyncAlways", func(b *testing.B) events.Journal { return fjBenchFile(b, filejournal.SyncAlways) }},
		{"File/SyncNone", func(b *testing.B) events.Journal { return fjBenchFile(b, filejournal.SyncNone) }},
		{"Memory", func(b *testing.B) events.Journal {
			m, _ := events.NewMemory(events.DefaultMemoryCapacity)
			return m
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			clk := clocktest.New(t0)
			br, err := machine.New("payments", machine.WithClock(clk), machine.WithJournal(tc.journal(b)),
				machine.WithErrorHandler(func(err error) { b.Error(err) }))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			fail := func(context.Context) error { return errFjDown }
			ok := func(context.Context) error { return nil }
			b.ReportAllocs()
			for b.Loop() {
				for range machine.DefaultFailureThreshold {
					br.Do(ctx, fail)
				}
				clk.Advance(machine.DefaultRecoveryTimeout)
				for range machine.DefaultSuccessThreshold {
					br.Do(ctx, ok)
				}
				// The journal writer appends on a goroutine of its own:
				// a round ends when the journal holds its transitions.
				if err := br.Sync(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if br.State() != events.Closed {
				b.Fatalf("state %s after a round, want closed", br.State())
			}
			if err := br.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/3, "ns/transition")
		})
	}
}

func fjBenchFile(b *testing.B, p filejournal.SyncPolicy) *filejournal.File {
	f, err := filejournal.Open(filepath.Join(b.TempDir(), "j"), filejournal.WithSync(p))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}
