package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/internal/dispatch"
)

// recorder is a subscriber that logs the sequence numbers it sees.
type recorder struct {
	mu   sync.Mutex
	seqs []uint64
	ctxs []context.Context
}

func (r *recorder) Notify(ctx context.Context, t events.Transition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs = append(r.seqs, t.Seq)
	r.ctxs = append(r.ctxs, ctx)
}

func (r *recorder) seen() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.seqs...)
}

func seqsUpTo(n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func rec(seq uint64) events.Transition {
	return events.Transition{Breaker: "b", Seq: seq, Event: events.Trip, From: events.Closed, To: events.Open}
}

// publisher serialises Publish as a breaker's transition lock does.
type publisher struct {
	mu  sync.Mutex
	d   *dispatch.Dispatcher
	seq uint64
}

func (p *publisher) transition(ctx context.Context) uint64 {
	p.mu.Lock()
	p.seq++
	seq := p.seq
	t := p.d.Publish(ctx, rec(seq))
	p.mu.Unlock()
	p.d.Deliver(ctx, t)
	return seq
}

func newDispatcher(t *testing.T, cfg dispatch.DispatcherConfig, subs ...hooks.Subscriber) *dispatch.Dispatcher {
	t.Helper()
	d, err := dispatch.NewDispatcher("b", subs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDispatcherDeliversEveryTransitionOnceInOrderOnBothLanes(t *testing.T) {
	inline1, inline2, queued1, queued2 := &recorder{}, &recorder{}, &recorder{}, &recorder{}
	d := newDispatcher(t, dispatch.DispatcherConfig{},
		hooks.Inline(inline1), queued1, hooks.Inline(inline2), hooks.Queue(queued2))
	p := &publisher{d: d}
	const n = 200
	for range n {
		p.transition(context.Background())
	}
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*recorder{"inline1": inline1, "inline2": inline2, "queued1": queued1, "queued2": queued2} {
		if got := r.seen(); !equalSeqs(got, seqsUpTo(n)) {
			t.Errorf("%s saw %v, want 1..%d in order", name, got, n)
		}
	}
}

func TestDispatcherDeliverReturnsAfterItsOwnTransitionIsDeliveredInline(t *testing.T) {
	inline := &recorder{}
	d := newDispatcher(t, dispatch.DispatcherConfig{}, hooks.Inline(inline))
	p := &publisher{d: d}
	const goroutines, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for range goroutines {
		wg.Go(func() {
			for range each {
				seq := p.transition(context.Background())
				got := inline.seen()
				if len(got) < int(seq) || got[seq-1] != seq {
					errs <- fmt.Errorf("Deliver of seq %d returned before it was delivered (saw %d records)", seq, len(got))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := inline.seen(); !equalSeqs(got, seqsUpTo(goroutines*each)) {
		t.Errorf("inline subscriber saw %d records out of order or duplicated", len(got))
	}
}

type callKey struct{}

func TestDispatcherPassesTheCausingContext(t *testing.T) {
	inline, queued := &recorder{}, &recorder{}
	d := newDispatcher(t, dispatch.DispatcherConfig{}, hooks.Inline(inline), queued)
	p := &publisher{d: d}
	p.transition(context.WithValue(context.Background(), callKey{}, "call-1"))
	p.transition(context.WithValue(context.Background(), callKey{}, "call-2"))
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*recorder{"inline": inline, "queued": queued} {
		for i, want := range []string{"call-1", "call-2"} {
			if got := r.ctxs[i].Value(callKey{}); got != want {
				t.Errorf("%s: transition %d got ctx value %v, want %s", name, i+1, got, want)
			}
		}
	}
}

func TestDispatcherInlineSubscriberMayCauseATransitionWithoutDeadlock(t *testing.T) {
	type key struct{}
	for name, nestedCtx := range map[string]func(given context.Context) context.Context{
		"with the context it was given": func(given context.Context) context.Context { return given },
		"with another context":          func(context.Context) context.Context { return context.Background() },
		"with a context derived from it": func(given context.Context) context.Context {
			return context.WithValue(given, key{}, "derived")
		},
	} {
		t.Run(name, func(t *testing.T) {
			log := &recorder{}
			var p *publisher
			nested := hooks.Inline(hooks.Func(func(ctx context.Context, tr events.Transition) {
				if tr.Seq == 1 {
					// As a subscriber calling b.ForceOpen(ctx, ...) would.
					p.transition(nestedCtx(ctx))
				}
			}))
			d := newDispatcher(t, dispatch.DispatcherConfig{}, nested, hooks.Inline(log))
			p = &publisher{d: d}
			caller := context.WithValue(context.Background(), callKey{}, "caller")
			done := make(chan struct{})
			go func() {
				defer close(done)
				p.transition(caller)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second): // a deadlock guard, not timing logic
				t.Fatal("nested transition from an inline subscriber deadlocked")
			}
			if got := log.seen(); !equalSeqs(got, []uint64{1, 2}) {
				t.Errorf("saw %v, want [1 2]: the nested transition right after the first", got)
			}
			if log.ctxs[0] != caller {
				t.Errorf("the inline subscriber got %v, want the caller's own context", log.ctxs[0])
			}
		})
	}
}

func TestDispatcherFlushFromAQueuedSubscriberIsRefused(t *testing.T) {
	var d *dispatch.Dispatcher
	got := make(chan error, 1)
	d = newDispatcher(t, dispatch.DispatcherConfig{}, hooks.Func(func(context.Context, events.Transition) {
		got <- d.Flush(context.Background())
	}))
	p := &publisher{d: d}
	p.transition(context.Background())
	select {
	case err := <-got:
		if !errors.Is(err, hooks.ErrReentrant) {
			t.Fatalf("Flush from a queued subscriber: %v, want ErrReentrant", err)
		}
	case <-time.After(10 * time.Second): // a deadlock guard, not timing logic
		t.Fatal("Flush from a queued subscriber deadlocked")
	}
	if err := d.Flush(context.Background()); err != nil {
		t.Fatalf("Flush from the test: %v", err)
	}
}

func TestDispatcherRecoversPanickingSubscribers(t *testing.T) {
	for _, lane := range []hooks.Lane{hooks.LaneInline, hooks.LaneQueued} {
		t.Run(lane.String(), func(t *testing.T) {
			wrap := hooks.Queue
			if lane == hooks.LaneInline {
				wrap = hooks.Inline
			}
			var mu sync.Mutex
			var reported []error
			before, after := &recorder{}, &recorder{}
			boom := hooks.Func(func(_ context.Context, tr events.Transition) {
				if tr.Seq == 2 {
					panic("subscriber bug")
				}
			})
			d := newDispatcher(t, dispatch.DispatcherConfig{OnError: func(err error) {
				mu.Lock()
				defer mu.Unlock()
				reported = append(reported, err)
			}}, wrap(before), wrap(boom), wrap(after))
			p := &publisher{d: d}
			for range 3 {
				p.transition(context.Background())
			}
			if err := d.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			for name, r := range map[string]*recorder{"before": before, "after": after} {
				if got := r.seen(); !equalSeqs(got, []uint64{1, 2, 3}) {
					t.Errorf("%s saw %v, want [1 2 3]", name, got)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reported) != 1 {
				t.Fatalf("reported %d errors, want 1: %v", len(reported), reported)
			}
			var pe *hooks.PanicError
			if !errors.As(reported[0], &pe) {
				t.Fatalf("reported %T, want *hooks.PanicError", reported[0])
			}
			if pe.Breaker != "b" || pe.Seq != 2 || pe.Value != "subscriber bug" || !strings.HasPrefix(pe.Subscriber, "1 (") || len(pe.Stack) == 0 {
				t.Errorf("PanicError = %+v, want breaker b, seq 2, subscriber 1, the value and a stack", pe)
			}
			if got := d.Stats().Panics; got != 1 {
				t.Errorf("Stats().Panics = %d, want 1", got)
			}
		})
	}
}

func TestDispatcherQueueOverflowIsCountedAndReportedWithoutBlocking(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	slow := &recorder{}
	blocking := hooks.Func(func(ctx context.Context, tr events.Transition) {
		once.Do(func() { close(started) })
		<-release
		slow.Notify(ctx, tr)
	})
	var mu sync.Mutex
	var reported []error
	d := newDispatcher(t, dispatch.DispatcherConfig{QueueCapacity: 1, OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}}, blocking)
	p := &publisher{d: d}
	p.transition(context.Background()) // taken by the worker, which blocks
	<-started
	p.transition(context.Background()) // fills the queue
	for range 3 {
		p.transition(context.Background()) // dropped: seq 3, 4, 5
	}
	if got := d.Stats().Dropped; got != 3 {
		t.Errorf("Stats().Dropped = %d, want 3", got)
	}
	close(release)
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := slow.seen(); !equalSeqs(got, []uint64{1, 2}) {
		t.Errorf("queued subscriber saw %v, want [1 2]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	var oe *hooks.OverflowError
	if len(reported) != 1 || !errors.As(reported[0], &oe) {
		t.Fatalf("reported %v, want one *hooks.OverflowError", reported)
	}
	if *oe != (hooks.OverflowError{Breaker: "b", FirstSeq: 3, LastSeq: 5, Count: 3}) {
		t.Errorf("OverflowError = %+v, want seq 3 to 5, count 3", *oe)
	}
}

func TestDispatcherFlushStopsWhenContextIsDone(t *testing.T) {
	release := make(chan struct{})
	d := newDispatcher(t, dispatch.DispatcherConfig{}, hooks.Func(func(context.Context, events.Transition) { <-release }))
	p := &publisher{d: d}
	p.transition(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Flush with a cancelled context = %v, want context.Canceled", err)
	}
	close(release)
	if err := d.Flush(context.Background()); err != nil {
		t.Errorf("Flush after release = %v", err)
	}
}

func TestNewDispatcherRejectsBadConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		subs []hooks.Subscriber
		cfg  dispatch.DispatcherConfig
		want string
	}{
		{"negative capacity", nil, dispatch.DispatcherConfig{QueueCapacity: -1}, "QueueCapacity -1"},
		{"nil subscriber", []hooks.Subscriber{&recorder{}, nil}, dispatch.DispatcherConfig{}, "subscriber 1 is nil"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := dispatch.NewDispatcher("b", c.subs, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewDispatcher = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestLaneOf(t *testing.T) {
	r := &recorder{}
	for _, c := range []struct {
		name string
		sub  hooks.Subscriber
		want hooks.Lane
	}{
		{"plain", r, hooks.LaneQueued},
		{"func", hooks.Func(func(context.Context, events.Transition) {}), hooks.LaneQueued},
		{"inline", hooks.Inline(r), hooks.LaneInline},
		{"queue of inline", hooks.Queue(hooks.Inline(r)), hooks.LaneQueued},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := hooks.LaneOf(c.sub); got != c.want {
				t.Errorf("LaneOf = %v, want %v", got, c.want)
			}
		})
	}
	if hooks.LaneInline.String() != "inline" || hooks.LaneQueued.String() != "queued" || hooks.Lane(9).String() != "Lane(9)" {
		t.Error("Lane.String")
	}
}

// TestNilDispatcher checks that a nil dispatcher, a breaker's without
// subscribers, publishes, delivers, flushes and counts nothing.
func TestNilDispatcher(t *testing.T) {
	var d *dispatch.Dispatcher
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tk := d.Publish(ctx, rec(1))
	d.Deliver(ctx, tk)
	if err := d.Flush(ctx); err != nil {
		t.Errorf("Flush = %v, want nil: there is nothing to wait for", err)
	}
	if s := d.Stats(); s != (dispatch.DispatcherStats{}) {
		t.Errorf("Stats = %+v, want zeros", s)
	}
}
