package natsjournal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/events/journaltest"
	"github.com/circuitry-go/circuitry/natsjournal"
)

func TestNATSConformance(t *testing.T) {
	nc := connect(t, startServer(t))
	journaltest.Run(t, func(t *testing.T) events.Journal { return chained(t, newJournal(t, nc), nil) })
}

// Over a stream with a limit the journal checkpoints every record; the
// limit (an hour) removes nothing while the suite runs.
func TestNATSConformanceLimited(t *testing.T) {
	nc := connect(t, startServer(t))
	journaltest.Run(t, func(t *testing.T) events.Journal {
		return chained(t, newJournal(t, nc, natsjournal.WithMaxAge(time.Hour),
			natsjournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) })), nil)
	})
}

func TestNATSConformanceKeyed(t *testing.T) {
	nc := connect(t, startServer(t))
	journaltest.Run(t, func(t *testing.T) events.Journal {
		return chained(t, newJournal(t, nc, natsjournal.WithChainKey(chainKey)), chainKey)
	})
}

// With the powers the suite can test: a checkpoint of every breaker on
// demand, and a record changed in the stream by whoever can write it (a
// purge of the subject and a publish of each record, one of them edited),
// after which VerifyChain must report the broken link.
func TestNATSConformancePowers(t *testing.T) {
	nc := connect(t, startServer(t))
	journaltest.RunWith(t, func(t *testing.T) events.Journal { return newJournal(t, nc) }, journaltest.Powers{
		Checkpoint: func(ctx context.Context, j events.Journal) error {
			nj := j.(*natsjournal.Journal)
			names, _, err := nj.Breakers(ctx)
			for _, name := range names {
				err = errors.Join(err, nj.Checkpoint(ctx, name))
			}
			return err
		},
		Tamper: func(t *testing.T, j events.Journal, breaker string, seq uint64) error {
			nj := j.(*natsjournal.Journal)
			recs := datas(storedMsgs(t, nc, nj, breaker))
			recs[seq-1] = edited(t, recs[seq-1], func(r *events.Transition) { r.Writer = "mallory" })
			republish(t, nc, nj, breaker, recs)
			_, err := nj.VerifyChain(context.Background(), breaker, events.ChainCheck{})
			return err
		},
	})
}

// chained returns j, checking when the test ends, before j is closed,
// that every breaker the suite wrote is one unbroken chain under key:
// each record linked to the one before it, but the first.
func chained(t *testing.T, j *natsjournal.Journal, key []byte) *natsjournal.Journal {
	t.Cleanup(func() {
		ctx := context.Background()
		names, _, err := j.Breakers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			rep, err := j.VerifyChain(ctx, name, events.ChainCheck{Key: key, RequireKey: key != nil})
			if err != nil || rep.Broken != 0 || rep.Unchecked != 0 || rep.Linked+rep.Unlinked != rep.Records || rep.Unlinked != min(rep.Records, 1) {
				t.Errorf("the chain of breaker %q: %+v, %v; want every record linked but the first", name, rep, err)
			}
		}
	})
	return j
}
