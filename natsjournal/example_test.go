package natsjournal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Two replicas of a service share the breaker "payments" through one
// JetStream stream: the first trips it, and the second, following the
// journal, rejects its calls without having seen a failure. Here the
// nats-server runs in the example's process; a service connects to its
// cluster instead.
func Example() {
	dir, err := os.MkdirTemp("", "natsjournal-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	srv.Start()
	defer srv.WaitForShutdown()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		panic("nats-server is not ready")
	}

	ctx := context.Background()
	a, aj, closeA := replica(ctx, srv.ClientURL(), "replica-a")
	defer closeA()
	b, _, closeB := replica(ctx, srv.ClientURL(), "replica-b")
	defer closeB()

	down := errors.New("payments: 503")
	for range machine.DefaultFailureThreshold {
		_ = a.Do(ctx, func(context.Context) error { return down })
	}
	if err := a.Sync(ctx); err != nil { // until the trip is in the stream
		panic(err)
	}
	for b.State() != events.Open { // b follows the stream
		time.Sleep(time.Millisecond)
	}
	err = b.Do(ctx, func(context.Context) error { return nil })
	fmt.Println("replica-b:", b.State(), errors.Is(err, machine.ErrOpen))

	recs, err := aj.Read(ctx, "payments", 0)
	if err != nil {
		panic(err)
	}
	for _, r := range recs {
		fmt.Println(r.Seq, r.Event, "by", r.Writer)
	}
	// Output:
	// replica-b: open true
	// 1 trip by replica-a
}

// replica is one process of the service: a connection, a journal on the
// default stream (CIRCUITRY, created on first use) and a breaker following
// it. stop closes them in that order's reverse.
func replica(ctx context.Context, url, name string) (*machine.Breaker, *natsjournal.Journal, func()) {
	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	j, err := natsjournal.New(ctx, nc)
	if err != nil {
		panic(err)
	}
	b, err := machine.New("payments", machine.WithJournal(j), machine.WithWriter(name),
		machine.WithFollow(100*time.Millisecond))
	if err != nil {
		panic(err)
	}
	return b, j, func() {
		_ = b.Close(ctx)
		_ = j.Close()
		nc.Close()
	}
}
