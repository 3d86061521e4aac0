package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/natsjournal"
)

// BenchmarkFleetCalls is the cost of a successful call of a breaker whose
// state a fleet shares, while the upstream is healthy, with 4 and 16
// goroutines calling at once: circuitry over the NATS journal (calls read
// the local snapshot; only transitions reach the stream) beside gobreaker
// v2's distributed breaker over Redis (miniredis in the process), whose
// every call takes a Redis lock and reads and writes the shared state.
// ok-% is the share of calls that succeeded: a distributed gobreaker call
// fails when its store does.
func BenchmarkFleetCalls(b *testing.B) {
	ok := func(context.Context) error { return nil }
	for _, goroutines := range []int{4, 16} {
		b.Run(fmt.Sprintf("breaker=circuitry-nats/goroutines=%d", goroutines), func(b *testing.B) {
			j := natsJournal(b)
			br, err := machine.New("upstream", machine.WithJournal(j))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = br.Close(context.Background()) })
			ctx := context.Background()
			runCalls(b, goroutines, func() error { return br.Do(ctx, ok) })
		})
		b.Run(fmt.Sprintf("breaker=gobreaker-redis/goroutines=%d", goroutines), func(b *testing.B) {
			store := newRedisStore(b)
			cb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](store, gobreaker.Settings{Name: "upstream"})
			if err != nil {
				b.Fatal(err)
			}
			runCalls(b, goroutines, func() error {
				_, err := cb.Execute(func() (struct{}, error) { return struct{}{}, nil })
				return err
			})
		})
	}
}

// runCalls runs call b.N times over goroutines goroutines (rounded up to a
// multiple of GOMAXPROCS) and reports the share that succeeded.
func runCalls(b *testing.B, goroutines int, call func() error) {
	b.SetParallelism(max(1, (goroutines+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	var failed atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if call() != nil {
				failed.Add(1)
			}
		}
	})
	b.ReportMetric(100*float64(int64(b.N)-failed.Load())/float64(b.N), "ok-%")
}

func natsJournal(b *testing.B) *natsjournal.Journal {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: b.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats-server is not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	j, err := natsjournal.New(context.Background(), nc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = j.Close() })
	return j
}

// redisStore is gobreaker's SharedDataStore over Redis: the shared state
// as a value, and a lock per name taken with SET NX (tried up to lockTries
// times, lockWait apart) and released with DEL. The interface passes no
// token, so Unlock cannot check who holds the lock.
type redisStore struct{ rdb *redis.Client }

const (
	lockTries = 32
	lockWait  = time.Millisecond
	lockTTL   = 8 * time.Second
)

var errLockBusy = errors.New("redis lock busy")

func newRedisStore(b *testing.B) *redisStore {
	mr := miniredis.RunT(b)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	b.Cleanup(func() { _ = rdb.Close() })
	return &redisStore{rdb: rdb}
}

func (s *redisStore) Lock(name string) error {
	for range lockTries {
		ok, err := s.rdb.SetNX(context.Background(), name+":lock", "1", lockTTL).Result()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(lockWait)
	}
	return fmt.Errorf("%w: %s after %d tries", errLockBusy, name, lockTries)
}

func (s *redisStore) Unlock(name string) error {
	return s.rdb.Del(context.Background(), name+":lock").Err()
}

func (s *redisStore) GetData(name string) ([]byte, error) {
	data, err := s.rdb.Get(context.Background(), name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return data, err
}

func (s *redisStore) SetData(name string, data []byte) error {
	return s.rdb.Set(context.Background(), name, data, 0).Err()
}
