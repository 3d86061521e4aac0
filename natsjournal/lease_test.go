package natsjournal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats.go"
)

func newLeases(t *testing.T, nc *nats.Conn, opts ...natsjournal.Option) *natsjournal.ProbeLeases {
	t.Helper()
	l, err := natsjournal.NewProbeLeases(context.Background(), nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestProbeLeasesAcquire(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	l := newLeases(t, nc)
	if l.Bucket() != "CIRCUITRY_PROBE_LEASES" {
		t.Fatalf("Bucket() = %q", l.Bucket())
	}
	// Each step asks in turn, on one breaker's key.
	for _, step := range []struct {
		what   string
		seq    uint64
		writer string
		want   bool
	}{
		{"the first to ask for a period holds it", 2, "a", true},
		{"another writer is refused", 2, "b", false},
		{"the holder asking again is told yes", 2, "a", true},
		{"a later period replaces the lease", 4, "b", true},
		{"the earlier period's holder is refused now", 2, "a", false},
		{"the later period's other writer is refused", 4, "a", false},
	} {
		got, err := l.Acquire(ctx, "payments", step.seq, step.writer)
		if err != nil || got != step.want {
			t.Fatalf("%s: Acquire(seq %d, %q) = %v, %v; want %v", step.what, step.seq, step.writer, got, err, step.want)
		}
	}
	// Another breaker's key is its own.
	if got, err := l.Acquire(ctx, "ledger", 2, "a"); err != nil || !got {
		t.Fatalf("another breaker: Acquire = %v, %v; want its own lease", got, err)
	}
	// Journals with another prefix on the same stream lease apart.
	other := newLeases(t, nc, natsjournal.WithSubjectPrefix("other.cb"))
	if got, err := other.Acquire(ctx, "payments", 4, "a"); err != nil || !got {
		t.Fatalf("another prefix: Acquire = %v, %v; want its own lease", got, err)
	}
}

// Of many processes racing for one period, exactly one holds it.
func TestProbeLeasesRace(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	var holders atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		l := newLeases(t, connect(t, s)) // a connection each, as separate processes
		wg.Go(func() {
			held, err := l.Acquire(ctx, "payments", 7, fmt.Sprintf("replica-%d", i))
			if err != nil {
				t.Error(err)
			}
			if held {
				holders.Add(1)
			}
		})
	}
	wg.Wait()
	if n := holders.Load(); n != 1 {
		t.Fatalf("%d holders of one period, want 1", n)
	}
}

func TestProbeLeasesBadInput(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, startServer(t))
	//lint:ignore SA1012 a nil context is the point
	if _, err := natsjournal.NewProbeLeases(nil, nc); err == nil { //nolint:staticcheck
		t.Error("NewProbeLeases(nil ctx): no error")
	}
	if _, err := natsjournal.NewProbeLeases(ctx, nil); err == nil {
		t.Error("NewProbeLeases(nil conn): no error")
	}
	if _, err := natsjournal.NewProbeLeases(ctx, nc, nil); !errors.Is(err, events.ErrInvalidOption) {
		t.Errorf("NewProbeLeases(nil option) = %v, want an option error", err)
	}
	_, err := natsjournal.NewProbeLeases(ctx, nc, natsjournal.WithStream("BRÜCKE"))
	if !errors.Is(err, events.ErrInvalidOption) || !strings.Contains(err.Error(), "WithStream") || !strings.Contains(err.Error(), "BRÜCKE") {
		t.Errorf("a stream whose name no bucket can take: %v, want an option error naming WithStream and the name", err)
	}
	l := newLeases(t, nc)
	for _, tc := range []struct {
		seq    uint64
		writer string
	}{{0, "a"}, {1, ""}} {
		if held, err := l.Acquire(ctx, "payments", tc.seq, tc.writer); held || !errors.Is(err, events.ErrInvalidRecord) {
			t.Errorf("Acquire(seq %d, writer %q) = %v, %v; want an invalid-record error", tc.seq, tc.writer, held, err)
		}
	}
	// A value that is not a lease is replaced, not trusted.
	js := jsOf(t, nc)
	kv, err := js.KeyValue(ctx, l.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, l.Key("junk"), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if held, err := l.Acquire(ctx, "junk", 3, "a"); err != nil || !held {
		t.Fatalf("over a value that is not a lease: Acquire = %v, %v; want the lease", held, err)
	}
	// A server that is gone is an error, which the breaker reports and
	// probes on its own limit.
	nc.Close()
	if held, err := l.Acquire(ctx, "payments", 9, "a"); held || err == nil {
		t.Fatalf("with the connection closed: Acquire = %v, %v; want an error", held, err)
	}
}

// Three replicas follow one trip into half-open; only the one holding the
// lease probes, so the dependency sees one probe from the fleet, not three.
func TestProbeLeaseAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	clk := clocktest.New(t0)
	answers := &countedLease{}
	var fleet []*machine.Breaker
	for i := range 3 {
		nc := connect(t, s)
		opts := []natsjournal.Option{natsjournal.WithStream("FLEET"), natsjournal.WithSubjectPrefix("fleet.cb")}
		j := newJournal(t, nc, opts...)
		b, err := machine.New("payments", machine.WithClock(clk), machine.WithJournal(j),
			machine.WithWriter(fmt.Sprintf("replica-%d", i)), machine.WithFollow(10*time.Millisecond),
			machine.WithProbeLease(answers.of(newLeases(t, nc, opts...))), machine.WithHalfOpenTimeout(10*time.Second),
			machine.WithProbeLimit(1), machine.WithSuccessThreshold(1), machine.WithProbeOnTimer(),
			machine.WithErrorHandler(func(err error) { t.Errorf("replica %d: %v", i, err) }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
		fleet = append(fleet, b)
	}
	for range machine.DefaultFailureThreshold {
		_ = fleet[0].Do(ctx, failCall)
	}
	if err := fleet[0].Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, b := range fleet {
		eventually(t, fmt.Sprintf("replica %d opens", i), func() bool { return b.State() == events.Open })
	}
	clk.Advance(machine.DefaultRecoveryTimeout)
	// Every replica's timer fires probe: one stores it, the others adopt
	// it, and each asks for the lease on the same period.
	for i, b := range fleet {
		eventually(t, fmt.Sprintf("replica %d is half-open", i), func() bool { return b.State() == events.HalfOpen })
	}
	eventually(t, "every replica has its answer", func() bool { asked, _ := answers.count(); return asked == 3 })
	if _, n := answers.count(); n != 1 {
		t.Fatalf("%d replicas hold the lease, want 1", n)
	}
	var probes []machine.Permit
	eventually(t, "the holder admits a probe", func() bool {
		for _, b := range fleet {
			if p, err := b.Allow(ctx); err == nil {
				probes = append(probes, p)
			}
		}
		return len(probes) > 0
	})
	for i, b := range fleet { // the holder's one slot is taken; the others have none
		if _, err := b.Allow(ctx); !errors.Is(err, machine.ErrOpen) {
			t.Fatalf("replica %d admitted a second probe: %v", i, err)
		}
	}
	if len(probes) != 1 {
		t.Fatalf("%d probes admitted across the fleet, want 1", len(probes))
	}
	probes[0].Done(nil)
	for i, b := range fleet {
		eventually(t, fmt.Sprintf("replica %d closes", i), func() bool { return b.State() == events.Closed })
	}
}

// countedLease keeps the answers of the leases it wraps, by writer: a
// replica may ask twice for one period (for its own probe record, then for
// the one it adopted) and is given the same answer.
type countedLease struct {
	mu      sync.Mutex
	answers map[string]bool
}

func (c *countedLease) of(l machine.ProbeLease) machine.ProbeLease {
	return leaseFunc(func(ctx context.Context, breaker string, seq uint64, writer string) (bool, error) {
		held, err := l.Acquire(ctx, breaker, seq, writer)
		if err != nil {
			return held, err // a request the breaker ended, or a failure it reports
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.answers == nil {
			c.answers = map[string]bool{}
		}
		if before, ok := c.answers[writer]; ok && before != held {
			return held, fmt.Errorf("%s asked again and was told %v, after %v", writer, held, before)
		}
		c.answers[writer] = held
		return held, err
	})
}

// count returns how many writers have had an answer, and how many of them
// hold the lease.
func (c *countedLease) count() (asked, held int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.answers {
		asked++
		if h {
			held++
		}
	}
	return asked, held
}

type leaseFunc func(ctx context.Context, breaker string, seq uint64, writer string) (bool, error)

func (f leaseFunc) Acquire(ctx context.Context, breaker string, seq uint64, writer string) (bool, error) {
	return f(ctx, breaker, seq, writer)
}

// BenchmarkProbeLeaseAcquire is what a breaker entering half-open waits for,
// off its calls' path, before it may probe: a read of the breaker's key and
// a compare-and-set, for a new half-open period each time.
func BenchmarkProbeLeaseAcquire(b *testing.B) {
	ctx := context.Background()
	l, err := natsjournal.NewProbeLeases(ctx, connect(b, startServer(b)))
	if err != nil {
		b.Fatal(err)
	}
	var seq uint64
	for b.Loop() {
		seq += 2
		if held, err := l.Acquire(ctx, "payments", seq, "replica-0"); err != nil || !held {
			b.Fatal(held, err)
		}
	}
}

// On a bucket of three replicas, processes racing to replace the lease of
// an earlier period lose the compare-and-set with a replicated stream's
// error code: each round has exactly one holder and no error.
func TestProbeLeasesRaceOnACluster(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t)
	var leases []*natsjournal.ProbeLeases
	for i := range 6 {
		nc, err := nats.Connect(c.url(i % 3))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		var l *natsjournal.ProbeLeases
		eventually(t, "the replicated lease bucket", func() bool {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			l, err = natsjournal.NewProbeLeases(cctx, nc, natsjournal.WithReplicas(3))
			return err == nil
		})
		leases = append(leases, l)
	}
	for round := range 10 {
		seq := uint64(2 * (round + 1)) // each round replaces the last one's lease
		var holders atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, l := range leases {
			wg.Go(func() {
				<-start
				held, err := l.Acquire(ctx, "payments", seq, fmt.Sprintf("replica-%d", i))
				if err != nil {
					t.Errorf("round %d, replica %d: %v", round, i, err)
				}
				if held {
					holders.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := holders.Load(); n != 1 {
			t.Fatalf("round %d: %d holders, want 1", round, n)
		}
	}
}
