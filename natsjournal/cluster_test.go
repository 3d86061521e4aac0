package natsjournal_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// cluster is a three-node JetStream cluster in the test's process.
type cluster struct {
	t       *testing.T
	opts    []*server.Options
	servers []*server.Server
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	ports := freePorts(t, 6)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	c := &cluster{t: t}
	for i := range 3 {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "circuitry", Host: "127.0.0.1", Port: ports[3+i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		c.servers = append(c.servers, nil)
		c.start(i)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			if s != nil {
				s.Shutdown()
				s.WaitForShutdown()
			}
		}
	})
	return c
}

func (c *cluster) start(i int) {
	c.t.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("node %d: %v", i, err)
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		c.t.Fatalf("node %d is not ready", i)
	}
	c.servers[i] = s
}

func (c *cluster) stop(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
	c.servers[i] = nil
}

func (c *cluster) url(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port) }

func (c *cluster) urls() string {
	return strings.Join([]string{c.url(0), c.url(1), c.url(2)}, ",")
}

// A stream of three replicas keeps the journal going while its leader is
// down, and a journal connected to the node that came back reads the whole
// history.
func TestClusterNodeDownAndBack(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t)
	nc, err := nats.Connect(c.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var j *natsjournal.Journal
	eventually(t, "the cluster elects a JetStream leader and takes a stream of three replicas", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		j, err = natsjournal.New(cctx, nc, natsjournal.WithReplicas(3))
		return err == nil
	})
	t.Cleanup(func() { _ = j.Close() })
	b, err := machine.New("payments", machine.WithJournal(j), machine.WithWriter("replica-a"),
		machine.WithErrorHandler(func(err error) { t.Logf("reported: %v", err) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	control := func(f func(context.Context, machine.Override) error) {
		t.Helper()
		eventually(t, "a manual control is stored", func() bool {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			// A control that the breaker already made (and keeps for
			// retry) is illegal when tried again.
			err := f(cctx, operator)
			return err == nil || errors.Is(err, machine.ErrIllegalTransition)
		})
	}

	control(b.ForceOpen)
	// Stop the stream's leader: the other two elect another and go on.
	s := streamOf(t, nc, j)
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %+v, %v", info, err)
	}
	down := -1
	for i, o := range c.opts {
		if o.ServerName == info.Cluster.Leader {
			down = i
		}
	}
	if down < 0 {
		t.Fatalf("the stream's leader %q is none of the nodes", info.Cluster.Leader)
	}
	c.stop(down)
	control(b.ForceClose)
	control(b.ForceOpen)
	c.start(down)

	// A journal connected to the node that came back reads everything.
	nc2, err := nats.Connect(c.url(down))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc2.Close)
	var j2 *natsjournal.Journal
	eventually(t, "the restarted node rejoins the cluster", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		j2, err = natsjournal.New(cctx, nc2, natsjournal.WithReplicas(3))
		return err == nil
	})
	t.Cleanup(func() { _ = j2.Close() })
	want := b.Snapshot()
	eventually(t, "a journal on the restarted node reads the whole history", func() bool {
		s, err := events.Load(ctx, j2, "payments")
		return err == nil && s.Equal(want)
	})
	if want.Seq != 3 || want.State != events.Open {
		t.Fatalf("the breaker is at %+v, want seq 3, open", want)
	}
}
