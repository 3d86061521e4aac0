package machine_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

func TestWriterIdentity(t *testing.T) {
	t.Run("default: host and pid", func(t *testing.T) {
		w := machine.DefaultWriter()
		host, pid, ok := strings.Cut(w, ":")
		if !ok || pid != strconv.Itoa(os.Getpid()) || host == "" || events.CheckName(w) != nil {
			t.Fatalf("DefaultWriter() = %q, want host:%d", w, os.Getpid())
		}
		f := newFixture(t)
		f.failN(5)
		if got := f.last().Writer; got != w {
			t.Fatalf("record Writer = %q, want %q", got, w)
		}
	})
	t.Run("WithWriter", func(t *testing.T) {
		f := newFixture(t, machine.WithWriter("checkout-7"))
		f.failN(5)
		f.clk.Advance(machine.DefaultRecoveryTimeout)
		f.mustSucceed()
		for _, r := range f.journal() {
			if r.Writer != "checkout-7" {
				t.Fatalf("record %v Writer = %q", r, r.Writer)
			}
		}
	})
	for _, bad := range []string{"", "two\nlines", strings.Repeat("w", events.MaxNameLen+1), "\xff"} {
		t.Run("WithWriter refuses "+strconv.Quote(bad[:min(len(bad), 8)]), func(t *testing.T) {
			_, err := machine.New("svc", machine.WithWriter(bad))
			var oe *events.OptionError
			if !errors.As(err, &oe) || oe.Option != "WithWriter" {
				t.Fatalf("New: %v, want an OptionError for WithWriter", err)
			}
		})
	}
	t.Run("IDs are unique", func(t *testing.T) {
		f := newFixture(t)
		seen := map[string]bool{}
		for range 20 {
			f.failN(5)
			f.clk.Advance(machine.DefaultRecoveryTimeout)
			f.mustSucceed()
			f.mustSucceed()
		}
		for _, r := range f.journal() {
			if len(r.ID) != 16 || seen[r.ID] {
				t.Fatalf("record %v has ID %q, want 16 hex digits of its own", r, r.ID)
			}
			seen[r.ID] = true
		}
	})
}

// TestOwnRecordByID: two breakers of one process share a journal and write
// records that are the same but for their ID. Breaker a's append fails and
// stores nothing; b then stores its record at the same seq. When a appends
// again, the journal's record is not a's own, though it reads the same: a
// must adopt b's history and report that its own transition was lost,
// never take b's record for its own.
func TestOwnRecordByID(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(t0)
	mem := newMemory(t)
	flaky := &flakyJournal{Journal: mem}
	var aErrs, bErrs errSink
	aLog := &recorder{}
	a, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(flaky),
		machine.WithErrorHandler(aErrs.handle), machine.WithSubscribers(aLog))
	if err != nil {
		t.Fatal(err)
	}
	b, err := machine.New("svc", machine.WithClock(clk), machine.WithJournal(mem), machine.WithErrorHandler(bErrs.handle))
	if err != nil {
		t.Fatal(err)
	}
	flaky.set(1, 0)
	if err := a.ForceOpen(ctx, operator); !errors.As(err, new(*machine.JournalError)) {
		t.Fatalf("a.ForceOpen with its append failing = %v, want a JournalError", err)
	}
	if err := b.ForceOpen(ctx, operator); err != nil {
		t.Fatalf("b.ForceOpen: %v", err)
	}
	recs := readAll(t, mem, "svc")
	if len(recs) != 1 {
		t.Fatalf("journal = %v", recs)
	}
	err = a.Sync(ctx)
	if err != nil {
		t.Fatalf("a.Sync: %v", err)
	}
	if got := a.Snapshot(); got.Seq != 1 || got.State != events.Open {
		t.Fatalf("a.Snapshot() = %+v, want the journal's seq 1, open", got)
	}
	var diverged bool
	for _, err := range aErrs.Errors() {
		diverged = diverged || strings.Contains(err.Error(), "never reached the journal")
	}
	if !diverged {
		t.Fatalf("a reported %v, want its lost transition reported", aErrs.Errors())
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(bErrs.Errors()); got != 0 {
		t.Fatalf("b reported %v", bErrs.Errors())
	}
}
