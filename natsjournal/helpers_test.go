package natsjournal_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServer starts a nats-server with JetStream in this process, on a
// loopback port of its own, storing in a temporary directory, and stops it
// when the test ends.
func startServer(t testing.TB) *server.Server { return serverAt(t, 0, t.TempDir()) }

// serverAt starts a nats-server with JetStream on the given port (0: a
// random one) and store directory, stopped when the test ends.
func serverAt(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server did not become ready in 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// connect returns a connection to s, closed when the test ends.
func connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connecting to %s: %v", s.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

var streams atomic.Int64

// sameStream returns a new journal on nc over the stream and subjects of
// j, with opts, closed when the test ends (or by the caller).
func sameStream(t testing.TB, nc *nats.Conn, j *natsjournal.Journal, opts ...natsjournal.Option) *natsjournal.Journal {
	t.Helper()
	prefix := strings.TrimSuffix(j.Subject(""), ".")
	opts = append([]natsjournal.Option{natsjournal.WithStream(j.Stream()), natsjournal.WithSubjectPrefix(prefix)}, opts...)
	r, err := natsjournal.New(context.Background(), nc, opts...)
	if err != nil {
		t.Fatalf("natsjournal.New: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// newJournal returns a journal on nc in a stream of its own, closed when
// the test ends.
func newJournal(t testing.TB, nc *nats.Conn, opts ...natsjournal.Option) *natsjournal.Journal {
	t.Helper()
	n := streams.Add(1)
	opts = append([]natsjournal.Option{
		natsjournal.WithStream(fmt.Sprintf("T%d", n)),
		natsjournal.WithSubjectPrefix(fmt.Sprintf("t%d.cb", n)),
	}, opts...)
	j, err := natsjournal.New(context.Background(), nc, opts...)
	if err != nil {
		t.Fatalf("natsjournal.New: %v", err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// jsOf returns nc's JetStream.
func jsOf(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamOf returns the stream of j, through nc.
func streamOf(t testing.TB, nc *nats.Conn, j *natsjournal.Journal) jetstream.Stream {
	t.Helper()
	s, err := jsOf(t, nc).Stream(context.Background(), j.Stream())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bucketOf returns the checkpoint bucket of j, through nc.
func bucketOf(t testing.TB, nc *nats.Conn, j *natsjournal.Journal) jetstream.KeyValue {
	t.Helper()
	kv, err := jsOf(t, nc).KeyValue(context.Background(), j.CheckpointBucket())
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
