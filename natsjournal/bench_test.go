package natsjournal_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
)

// BenchmarkAppend appends one breaker's records, one writer, to a
// nats-server in the same process (file storage): the cost of a journaled
// transition, with the round trip on loopback; without checkpoints, with
// the default checkpoint after every 1000th record, and over a stream with
// a limit, which checkpoints every record (each checkpoint, in the
// background, reads and writes the checkpoint bucket); and, without
// checkpoints, with a chain key (each record linked by an HMAC-SHA-256 of
// the one before it rather than a bare SHA-256).
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []natsjournal.Option
	}{
		{"checkpoint-every=0", []natsjournal.Option{natsjournal.WithCheckpointEvery(0)}},
		{"checkpoint-every=0,chain-key", []natsjournal.Option{natsjournal.WithCheckpointEvery(0), natsjournal.WithChainKey([]byte("a chain key of 32 bytes, for hmac"))}},
		{fmt.Sprintf("checkpoint-every=%d", natsjournal.DefaultCheckpointEvery), nil},
		{"max-age=1h", []natsjournal.Option{natsjournal.WithMaxAge(time.Hour)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			j := newJournal(b, connect(b, startServer(b)), c.opts...)
			seq := uint64(0)
			for b.Loop() {
				seq++
				if err := j.Append(ctx, record("payments", seq)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadAfter reads the last 10 of 1000 records, as a breaker does
// after a conflict, from a journal that knows where they start.
func BenchmarkReadAfter(b *testing.B) {
	ctx := context.Background()
	j := newJournal(b, connect(b, startServer(b)))
	for seq := uint64(1); seq <= 1000; seq++ {
		if err := j.Append(ctx, record("payments", seq)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := j.Read(ctx, "payments", 990); err != nil { // learn where record 990 is
		b.Fatal(err)
	}
	for b.Loop() {
		recs, err := j.Read(ctx, "payments", 990)
		if err != nil || len(recs) != 10 {
			b.Fatal(len(recs), err)
		}
	}
}

// BenchmarkLoad folds a 1010-record history from a journal that has not
// seen it, as a replica starting up does (events.Load): from the first
// record, and from a checkpoint of record 1000.
func BenchmarkLoad(b *testing.B) {
	for _, checkpoint := range []bool{false, true} {
		b.Run(fmt.Sprintf("checkpoint=%v", checkpoint), func(b *testing.B) {
			ctx := context.Background()
			nc := connect(b, startServer(b))
			w := newJournal(b, nc, natsjournal.WithCheckpointEvery(0))
			for seq := uint64(1); seq <= 1010; seq++ {
				if err := w.Append(ctx, record("payments", seq)); err != nil {
					b.Fatal(err)
				}
				if seq == 1000 && checkpoint {
					if err := w.Checkpoint(ctx, "payments"); err != nil {
						b.Fatal(err)
					}
				}
			}
			for b.Loop() {
				r := sameStream(b, nc, w)
				s, err := events.Load(ctx, r, "payments")
				if err != nil || s.Seq != 1010 {
					b.Fatal(s.Seq, err)
				}
				_ = r.Close()
			}
		})
	}
}

// BenchmarkFollowDelay is one replica's manual control, stored in the
// stream, and then the time until another replica has folded it: how long
// the fleet disagrees, reported as follow-ns/op (polled every 10 µs, so
// that the polling does not starve the follower). Both replicas follow the
// stream over their own connections to a nats-server in the same process.
func BenchmarkFollowDelay(b *testing.B) {
	ctx := context.Background()
	fleet, _ := replicas(b, 2)
	a, f := fleet[0], fleet[1]
	var follow time.Duration
	for b.Loop() {
		want := events.Open
		if a.State() == events.Open {
			want = events.Closed
			if err := a.ForceClose(ctx, operator); err != nil {
				b.Fatal(err)
			}
		} else if err := a.ForceOpen(ctx, operator); err != nil {
			b.Fatal(err)
		}
		stored := time.Now()
		for f.State() != want {
			time.Sleep(10 * time.Microsecond)
		}
		follow += time.Since(stored)
	}
	b.ReportMetric(float64(follow.Nanoseconds())/float64(b.N), "follow-ns/op")
}

// BenchmarkCall is a successful call of a closed breaker over the NATS
// journal and over the memory journal, in the same run: the call path
// never touches the journal, so the two cost the same.
func BenchmarkCall(b *testing.B) {
	ok := func(context.Context) error { return nil }
	for _, c := range []struct {
		name    string
		journal func(b *testing.B) events.Journal
	}{
		{"journal=memory", func(b *testing.B) events.Journal {
			m, err := events.NewMemory(events.DefaultMemoryCapacity)
			if err != nil {
				b.Fatal(err)
			}
			return m
		}},
		{"journal=nats", func(b *testing.B) events.Journal { return newJournal(b, connect(b, startServer(b))) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			br, err := machine.New("payments", machine.WithJournal(c.journal(b)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = br.Close(context.Background()) })
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := br.Do(ctx, ok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFleetTrip measures, over three replicas, the latency of an
// acknowledged transition (one replica's manual control, returned once the
// stream stored it) and how long after it the other two have folded it,
// reported as percentiles of every iteration: append-p50-ns, append-p99-ns,
// fleet-p50-ns and fleet-p99-ns (the replicas are polled every 10 µs).
func BenchmarkFleetTrip(b *testing.B) {
	ctx := context.Background()
	fleet, _ := replicas(b, 3)
	var appends, follows []time.Duration
	for b.Loop() {
		want := events.Open
		start := time.Now()
		var err error
		if fleet[0].State() == events.Open {
			want = events.Closed
			err = fleet[0].ForceClose(ctx, operator)
		} else {
			err = fleet[0].ForceOpen(ctx, operator)
		}
		if err != nil {
			b.Fatal(err)
		}
		stored := time.Now()
		for fleet[1].State() != want || fleet[2].State() != want {
			time.Sleep(10 * time.Microsecond)
		}
		appends, follows = append(appends, stored.Sub(start)), append(follows, time.Since(stored))
	}
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"append", appends}, {"fleet", follows}} {
		slices.Sort(m.ds)
		b.ReportMetric(float64(m.ds[len(m.ds)/2]), m.name+"-p50-ns")
		b.ReportMetric(float64(m.ds[len(m.ds)*99/100]), m.name+"-p99-ns")
	}
}
