package registry_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
	"github.com/circuitry-go/circuitry/registry"
)

func TestNewRefusesBadOptions(t *testing.T) {
	for _, c := range []struct {
		name   string
		opt    registry.Option
		option string
	}{
		{"nil option", nil, "registry option 0"},
		{"nil breaker option", registry.WithBreakerOptions(machine.WithFailureThreshold(2), nil), "registry.WithBreakerOptions"},
		{"nil name function", registry.WithName(nil), "registry.WithName"},
		{"zero max keys", registry.WithMaxKeys(0), "registry.WithMaxKeys"},
		{"negative max keys", registry.WithMaxKeys(-3), "registry.WithMaxKeys"},
		{"negative idle timeout", registry.WithIdleTimeout(-time.Second), "registry.WithIdleTimeout"},
		{"nil clock", registry.WithClock(nil), "registry.WithClock"},
		{"nil error handler", registry.WithErrorHandler(nil), "registry.WithErrorHandler"},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg, err := registry.New(c.opt)
			var oe *events.OptionError
			if reg != nil || !errors.As(err, &oe) || oe.Option != c.option || !errors.Is(err, events.ErrInvalidOption) {
				t.Fatalf("New = %v, %v; want an *events.OptionError for %s", reg, err, c.option)
			}
		})
	}
}

// TestNoIdleTimeoutArmsNoSweeper checks that a registry that never evicts
// arms no timer, and that one that does arms one.
func TestNoIdleTimeoutArmsNoSweeper(t *testing.T) {
	for _, c := range []struct {
		idle    time.Duration
		pending int
	}{{0, 0}, {time.Minute, 1}} {
		clk := clocktest.New(t0)
		reg, err := registry.New(registry.WithClock(clk), registry.WithIdleTimeout(c.idle))
		if err != nil {
			t.Fatal(err)
		}
		if got := clk.Pending(); got != c.pending {
			t.Errorf("idle timeout %s: %d timers pending, want %d", c.idle, got, c.pending)
		}
		if err := reg.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := clk.Pending(); got != 0 {
			t.Errorf("idle timeout %s: %d timers pending after Close", c.idle, got)
		}
	}
}

func TestGetMakesOneBreakerPerKey(t *testing.T) {
	r := newRig(t)
	a, b := r.get(t, "a.example"), r.get(t, "b.example")
	if a == b || a.Name() != "a.example" || b.Name() != "b.example" {
		t.Fatalf("breakers %q and %q for keys a.example and b.example", a.Name(), b.Name())
	}
	if again := r.get(t, "a.example"); again != a {
		t.Errorf("a second Get made another breaker")
	}
	if n := r.reg.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
	if got, ok := r.reg.Lookup("a.example"); !ok || got != a {
		t.Errorf("Lookup(a.example) = %v, %v", got, ok)
	}
	if _, ok := r.reg.Lookup("c.example"); ok {
		t.Errorf("Lookup made a breaker")
	}
	keys := r.reg.Keys()
	if len(keys) != 2 || !(keys[0] == "a.example" && keys[1] == "b.example" || keys[0] == "b.example" && keys[1] == "a.example") {
		t.Errorf("Keys = %q", keys)
	}
}

func TestWithName(t *testing.T) {
	r := newRig(t, registry.WithName(func(key string) string { return "upstream/" + key }))
	if b := r.get(t, "a.example"); b.Name() != "upstream/a.example" {
		t.Errorf("name %q, want upstream/a.example", b.Name())
	}
}

func TestGetRefusesKeysThatCannotNameABreaker(t *testing.T) {
	long := strings.Repeat("k", events.MaxNameLen+1)
	for _, c := range []struct {
		name string
		key  string
		opts []registry.Option
		want string
	}{
		{"empty", "", nil, `circuitry: registry key "" cannot name a breaker: it must not be empty`},
		{"too long", long, nil, `circuitry: registry key "` + long[:64] + `"… (257 bytes) cannot name a breaker: it is 257 bytes, more than the 256 allowed`},
		{"invalid UTF-8", "a\xffb", nil, `circuitry: registry key "a\xffb" cannot name a breaker: it must be valid UTF-8`},
		{"control character", "a\nb", nil, `circuitry: registry key "a\nb" cannot name a breaker: it holds the control character U+000A`},
		{"named empty", "a.example", []registry.Option{registry.WithName(func(string) string { return "" })},
			`circuitry: registry key "a.example": its breaker name "" must not be empty`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, c.opts...)
			for _, err := range []error{
				func() error { _, err := r.reg.Get(c.key); return err }(),
				r.do(c.key, succeed),
			} {
				var ke *registry.KeyError
				if !errors.As(err, &ke) || !errors.Is(err, registry.ErrInvalidKey) || !errors.Is(err, events.ErrInvalidText) {
					t.Fatalf("error %v, want a *registry.KeyError matching ErrInvalidKey and events.ErrInvalidText", err)
				}
				if err.Error() != c.want {
					t.Errorf("error %q,\nwant  %q", err, c.want)
				}
				if ke.Len != len(c.key) || len(ke.Key) > 64 {
					t.Errorf("KeyError{Key %q, Len %d}, want the key cut to 64 bytes and its length %d", ke.Key, ke.Len, len(c.key))
				}
			}
			if n := r.reg.Len(); n != 0 || r.c.made.Load() != 0 {
				t.Errorf("Len = %d, %d breakers made, after refusing the key", n, r.c.made.Load())
			}
		})
	}
}

// TestGetReportsNewErrors checks that a breaker option New refuses is
// returned, naming the key, and not remembered.
func TestGetReportsNewErrors(t *testing.T) {
	r := newRig(t, registry.WithBreakerOptions(machine.WithFailureThreshold(0)))
	for range 2 {
		_, err := r.reg.Get("a.example")
		var oe *events.OptionError
		if !errors.As(err, &oe) || oe.Option != "WithFailureThreshold" || !strings.Contains(err.Error(), `key "a.example"`) {
			t.Fatalf("Get = %v, want New's *events.OptionError, naming the key", err)
		}
	}
	if n := r.reg.Len(); n != 0 {
		t.Errorf("Len = %d after New failed, want 0", n)
	}
}

func TestDoAndExecute(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, registry.WithBreakerOptions(machine.WithFailureThreshold(2)))
	if err := r.do("a", succeed); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if err := r.do("a", fail); err != errDependency {
		t.Fatalf("Do = %v, want the function's error", err)
	}
	v, err := registry.Execute(ctx, r.reg, "a", func(context.Context) (int, error) { return 42, nil })
	if v != 42 || err != nil {
		t.Fatalf("Execute = %d, %v", v, err)
	}
	_ = r.do("a", fail)
	_ = r.do("a", fail)
	if err := r.do("a", succeed); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("Do on a tripped breaker = %v, want ErrOpen", err)
	}
	if _, err := registry.Execute(ctx, r.reg, "a", func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, machine.ErrOpen) {
		t.Fatalf("Execute on a tripped breaker = %v, want ErrOpen", err)
	}
	if err := r.do("b", succeed); err != nil {
		t.Fatalf("another key's breaker: %v", err)
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"Do nil fn", r.reg.Do(ctx, "c", nil), machine.ErrNilFunc},
		{"Do nil ctx", r.reg.Do(nilCtx, "c", succeed), machine.ErrNilContext},
		{"Execute nil fn", func() error { _, err := registry.Execute[int](ctx, r.reg, "c", nil); return err }(), machine.ErrNilFunc},
	} {
		if c.err != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.err, c.want)
		}
	}
	if r.held("c") {
		t.Errorf("a refused call made a breaker")
	}
}

// TestConcurrentFirstGetsMakeOneBreaker checks that callers of a new key
// racing each other get one breaker, made once.
func TestConcurrentFirstGetsMakeOneBreaker(t *testing.T) {
	r := newRig(t)
	const callers = 32
	got := make([]*machine.Breaker, callers)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = r.get(t, "a.example") })
	}
	wg.Wait()
	for _, b := range got[1:] {
		if b != got[0] {
			t.Fatalf("callers got different breakers")
		}
	}
	if n := r.c.made.Load(); n != 1 {
		t.Errorf("%d breakers made, want 1", n)
	}
}

// TestDoTriesAgainWithANewBreaker checks that Do and Execute never return
// ErrClosed for a breaker closed after they found it, or held past its
// eviction, and call fn once.
func TestDoTriesAgainWithANewBreaker(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		close func(r *rig, b *machine.Breaker)
	}{
		{"closed by its holder", func(r *rig, b *machine.Breaker) {
			if err := b.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{"evicted", func(r *rig, b *machine.Breaker) { r.sweep(); r.sweep() }},
		{"removed", func(r *rig, b *machine.Breaker) {
			if err := r.reg.Remove(ctx, "a"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			old := r.get(t, "a")
			c.close(r, old)
			if err := old.Do(ctx, succeed); !errors.Is(err, machine.ErrClosed) {
				t.Fatalf("the old breaker's Do = %v, want ErrClosed", err)
			}
			calls := 0
			if err := r.do("a", func(context.Context) error { calls++; return nil }); err != nil || calls != 1 {
				t.Fatalf("Do = %v with %d calls, want nil and 1", err, calls)
			}
			v, err := registry.Execute(ctx, r.reg, "a", func(context.Context) (string, error) { return "ok", nil })
			if v != "ok" || err != nil {
				t.Fatalf("Execute = %q, %v", v, err)
			}
			if b := r.get(t, "a"); b == old {
				t.Errorf("Get still returns the closed breaker")
			}
			if n := r.reg.Len(); n != 1 {
				t.Errorf("Len = %d, want 1", n)
			}
		})
	}
}

// TestDoReturnsTheFunctionsOwnErrClosed checks that ErrClosed from fn
// itself is returned, not taken for a closed breaker: fn runs once.
func TestDoReturnsTheFunctionsOwnErrClosed(t *testing.T) {
	r := newRig(t)
	calls := 0
	err := r.do("a", func(context.Context) error { calls++; return machine.ErrClosed })
	if err != machine.ErrClosed || calls != 1 {
		t.Fatalf("Do = %v with %d calls, want ErrClosed and 1 call", err, calls)
	}
}

func TestFull(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []registry.Option
	}{
		{"no idle timeout", []registry.Option{registry.WithIdleTimeout(0)}},
		{"breakers in use", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, append([]registry.Option{registry.WithMaxKeys(2)}, c.opts...)...)
			r.get(t, "a")
			r.get(t, "b")
			_, err := r.reg.Get("c")
			var fe *registry.FullError
			if !errors.As(err, &fe) || !errors.Is(err, registry.ErrFull) || fe.Key != "c" || fe.MaxKeys != 2 {
				t.Fatalf("Get on a full registry = %v, want a *registry.FullError for key c and 2 keys", err)
			}
			if err := r.do("c", succeed); !errors.Is(err, registry.ErrFull) {
				t.Fatalf("Do on a full registry = %v, want ErrFull", err)
			}
			if n := r.reg.Len(); n != 2 || r.held("c") {
				t.Errorf("Len = %d, holds c: %v", n, r.held("c"))
			}
			if err := r.reg.Remove(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			r.get(t, "c")
		})
	}
}

// TestFullEvictsWhatTheNextSweepWould checks that a full registry evicts
// the quiet breakers not used since the last sweep, and only them.
func TestFullEvictsWhatTheNextSweepWould(t *testing.T) {
	r := newRig(t, registry.WithMaxKeys(3))
	r.get(t, "quiet")
	_ = r.do("failing", fail)
	if err := r.get(t, "open").ForceOpen(context.Background(), override); err != nil {
		t.Fatal(err)
	}
	r.sweep() // clears the marks: every breaker is unused since
	r.get(t, "new")
	if r.held("quiet") || !r.held("failing") || !r.held("open") || !r.held("new") {
		t.Errorf("held after making a fourth: %q, want failing, open and new", r.reg.Keys())
	}
	if _, err := r.reg.Get("newer"); !errors.Is(err, registry.ErrFull) {
		t.Errorf("Get with nothing to evict = %v, want ErrFull", err)
	}
}

// TestIdleEviction follows breakers through sweeps: a quiet one unused
// for a whole round goes, and one in use, failing, open or half-open stays.
func TestIdleEviction(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, registry.WithBreakerOptions(machine.WithRecoveryTimeout(10*idle)))
	_ = r.do("busy", succeed)
	_ = r.do("idle", succeed)
	_ = r.do("failing", fail)
	if err := r.get(t, "open").ForceOpen(ctx, override); err != nil {
		t.Fatal(err)
	}
	open := r.get(t, "open")
	r.clk.Advance(idle / 2)
	_ = r.do("busy", succeed)
	r.clk.Advance(idle / 2) // the first sweep: every mark was set
	want := func(step string, held ...string) {
		t.Helper()
		for _, k := range []string{"busy", "idle", "failing", "open"} {
			if got := r.held(k); got != contains(held, k) {
				t.Errorf("%s: holds %s: %v, want %v", step, k, got, !got)
			}
		}
	}
	want("after the first sweep", "busy", "idle", "failing", "open")
	_ = r.do("busy", succeed)
	r.sweep()
	want("after the second sweep", "busy", "failing", "open")
	r.sweep()
	want("after the third sweep", "failing", "open")
	if err := open.ForceHalfOpen(ctx, override); err != nil {
		t.Fatal(err)
	}
	r.sweep()
	want("with the open one half-open", "failing", "open")
	if err := open.ForceClose(ctx, override); err != nil {
		t.Fatal(err)
	}
	r.sweep()
	want("with the open one closed", "failing")
	if err := open.Do(ctx, succeed); !errors.Is(err, machine.ErrClosed) {
		t.Errorf("the evicted breaker's Do = %v, want ErrClosed", err)
	}
	_ = r.do("failing", succeed) // a success resets the failures
	r.sweep()
	want("with the failing one healed but used", "failing")
	r.sweep()
	want("with the failing one healed and idle")
	if n := r.reg.Len(); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}

func contains(s []string, k string) bool {
	for _, x := range s {
		if x == k {
			return true
		}
	}
	return false
}

// TestEvictedBreakerResumesFromTheSharedJournal checks that a breaker made
// again after its eviction resumes from the journal the breakers share: its
// sequence numbers go on, and its records follow the old ones.
func TestEvictedBreakerResumesFromTheSharedJournal(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	old := r.get(t, "a")
	for _, control := range []func(context.Context, machine.Override) error{old.ForceOpen, old.ForceClose} {
		if err := control(ctx, override); err != nil {
			t.Fatal(err)
		}
	}
	before := old.Snapshot()
	r.sweep()
	r.sweep()
	if r.held("a") {
		t.Fatalf("a quiet breaker unused for a round was not evicted")
	}
	b := r.get(t, "a")
	if b == old || b.Snapshot() != before || b.State() != events.Closed {
		t.Fatalf("made again: snapshot %+v, want %+v", b.Snapshot(), before)
	}
	if err := b.ForceOpen(ctx, override); err != nil {
		t.Fatalf("the new breaker's first transition: %v", err)
	}
	recs, err := r.j.Read(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[2].Seq != before.Seq+1 || recs[2].Event != events.ForceOpen {
		t.Errorf("journal of a: %v, want the two old records and the new one at seq %d", recs, before.Seq+1)
	}
}

// TestRemove checks that Remove closes a breaker in any state, and that
// the key's next breaker resumes from the shared journal: still open.
func TestRemove(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	old := r.get(t, "a")
	if err := old.ForceOpen(ctx, override); err != nil {
		t.Fatal(err)
	}
	if err := r.reg.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := r.reg.Remove(ctx, "a"); err != nil {
		t.Errorf("Remove of a key not held = %v, want nil", err)
	}
	if err := r.reg.Remove(nilCtx, "a"); err != machine.ErrNilContext {
		t.Errorf("Remove with a nil context = %v", err)
	}
	if r.held("a") || r.reg.Len() != 0 {
		t.Fatalf("still held after Remove")
	}
	if err := old.Do(ctx, succeed); !errors.Is(err, machine.ErrClosed) {
		t.Errorf("the removed breaker's Do = %v, want ErrClosed", err)
	}
	if err := r.do("a", succeed); !errors.Is(err, machine.ErrOpen) {
		t.Errorf("Do on the key's new breaker = %v, want ErrOpen: it resumes open", err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	a, b := r.get(t, "a"), r.get(t, "b")
	if err := r.reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, br := range []*machine.Breaker{a, b} {
		if err := br.Do(ctx, succeed); !errors.Is(err, machine.ErrClosed) {
			t.Errorf("breaker %s after Close: %v, want ErrClosed", br.Name(), err)
		}
	}
	if n := r.c.open.Load(); n != 0 || r.reg.Len() != 0 || r.clk.Pending() != 0 {
		t.Errorf("after Close: %d breakers open, Len %d, %d timers pending", n, r.reg.Len(), r.clk.Pending())
	}
	if _, err := r.reg.Get("a"); err != registry.ErrClosed {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := r.do("c", succeed); err != registry.ErrClosed {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
	if err := r.reg.Close(nilCtx); err != machine.ErrNilContext {
		t.Errorf("Close(nil) = %v", err)
	}
	r.sweep() // no sweep runs
}

// TestCloseReportsBreakerErrors checks that Close returns what the
// breakers' Close returned.
func TestCloseReportsBreakerErrors(t *testing.T) {
	ctx := context.Background()
	j := &failingJournal{}
	var err error
	if j.Memory, err = events.NewMemory(8); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.WithIdleTimeout(0), registry.WithBreakerOptions(
		machine.WithJournal(j), machine.WithErrorHandler(func(error) {})))
	if err != nil {
		t.Fatal(err)
	}
	b, err := reg.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	j.failing.Store(true)
	if err := b.ForceOpen(ctx, override); !errors.As(err, new(*machine.JournalError)) {
		t.Fatalf("ForceOpen = %v, want a journal error", err)
	}
	if err := reg.Close(ctx); !errors.Is(err, machine.ErrUnstored) {
		t.Errorf("Close = %v, want the breaker's *machine.UnstoredError", err)
	}
}
