package filejournal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/machine"
)

// BenchmarkFileAppend measures one durable append: encode, link, write and
// (with SyncAlways, the default) fsync, with the default segment size, so
// that the cost of the seals is included, spread over the appends.
func BenchmarkFileAppend(b *testing.B) {
	for _, p := range []filejournal.SyncPolicy{filejournal.SyncAlways, filejournal.SyncNone} {
		b.Run(p.String(), func(b *testing.B) {
			f, err := filejournal.Open(filepath.Join(b.TempDir(), "j"), filejournal.WithSync(p), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
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

// bigJournalEnv switches on BenchmarkBigJournal, which builds journals of
// millions of records first (tens of seconds, a gigabyte of disk).
const bigJournalEnv = "CIRCUITRY_BIG_JOURNAL"

// bigJournals are the journals BenchmarkBigJournal built, by number of
// records, kept for the whole run (with -count, for every round); TestMain
// removes them.
var bigJournals struct {
	sync.Mutex
	dir   string
	paths map[int]string
	last  map[int]time.Time // the newest record's time
}

// bigJournalBreakers are the breakers of a big journal.
const bigJournalBreakers = 10

// bigJournal returns the path of a journal of n records: manual controls
// of 10 breakers, in turn, 15 seconds apart (2,000,000 records span
// about a year), appended with SyncNone and the default segment size.
func bigJournal(b *testing.B, n int) (string, time.Time) {
	bigJournals.Lock()
	defer bigJournals.Unlock()
	if p, ok := bigJournals.paths[n]; ok {
		return p, bigJournals.last[n]
	}
	if bigJournals.dir == "" {
		dir, err := os.MkdirTemp("", "circuitry-big-journal-")
		if err != nil {
			b.Fatal(err)
		}
		bigJournals.dir, bigJournals.paths, bigJournals.last = dir, map[int]string{}, map[int]time.Time{}
	}
	path := filepath.Join(bigJournals.dir, fmt.Sprintf("%d", n), "breakers.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	f, err := filejournal.Open(path, filejournal.WithSync(filejournal.SyncNone), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var at time.Time
	for i := range n {
		at = t0.Add(time.Duration(i) * 15 * time.Second)
		r := fjManual(fmt.Sprintf("breaker-%02d", i%bigJournalBreakers), uint64(i/bigJournalBreakers+1), at)
		if err := f.Append(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	st := f.Stats()
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a journal of %d records in %s: %d sealed segments of %d MB, an active one of %d KB",
		n, time.Since(start).Round(time.Millisecond), st.Sealed, st.SealedBytes>>20, st.Size>>10)
	bigJournals.paths[n], bigJournals.last[n] = path, at
	return path, at
}

// removeBigJournals removes what bigJournal built.
func removeBigJournals() {
	bigJournals.Lock()
	defer bigJournals.Unlock()
	if bigJournals.dir != "" {
		os.RemoveAll(bigJournals.dir)
	}
}

// BenchmarkBigJournal measures a journal of years, of 200,000 and
// 2,000,000 records: opening it and loading every breaker (and the heap
// that takes), verifying it whole, and finding one breaker's records of
// the last hour. Set CIRCUITRY_BIG_JOURNAL=1 to run it.
func BenchmarkBigJournal(b *testing.B) {
	if os.Getenv(bigJournalEnv) != "1" {
		b.Skip("set " + bigJournalEnv + "=1 to build journals of 200,000 and 2,000,000 records and measure them")
	}
	ctx := context.Background()
	for _, n := range []int{200_000, 2_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			path, last := bigJournal(b, n)
			names := make([]string, bigJournalBreakers)
			for i := range names {
				names[i] = fmt.Sprintf("breaker-%02d", i)
			}
			openLoad := func(b *testing.B) *filejournal.File {
				f, err := filejournal.Open(path, filejournal.WithSync(filejournal.SyncNone))
				if err != nil {
					b.Fatal(err)
				}
				for _, name := range names {
					s, err := events.Load(ctx, f, name)
					if err != nil || s.Seq != uint64(n/bigJournalBreakers) {
						b.Fatalf("Load(%q) = %+v, %v", name, s, err)
					}
				}
				return f
			}
			b.Run("OpenLoad", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := openLoad(b).Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				// The heap the open journal keeps.
				f := openLoad(b)
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
				runtime.KeepAlive(f)
				f.Close()
			})
			b.Run("Verify", func(b *testing.B) {
				for b.Loop() {
					rep, err := filejournal.Verify(path, filejournal.VerifyOptions{})
					if err != nil || rep.Records != n {
						b.Fatalf("Verify = %+v, %v", rep, err)
					}
				}
			})
			b.Run("RecordsLastHour", func(b *testing.B) {
				filter := filejournal.Filter{Breakers: func(name string) bool { return name == "breaker-03" }, Since: last.Add(-time.Hour)}
				for b.Loop() {
					count := 0
					for _, err := range filejournal.Records(path, filter) {
						if err != nil {
							b.Fatal(err)
						}
						count++
					}
					if count != 3600/15/bigJournalBreakers {
						b.Fatalf("%d records of the last hour, want %d", count, 3600/15/bigJournalBreakers)
					}
				}
			})
		})
	}
}
