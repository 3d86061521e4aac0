package machine

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"
	"weak"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/internal/dispatch"
)

// WithFollow makes the breaker follow the other writers of its journal:
// each transition another instance appends is folded into the breaker as
// soon as the breaker learns of it, and delivered to its subscribers marked
// adopted, without waiting for a call, a transition or Sync. One instance
// trips, every follower opens.
//
// A journal that pushes its records ([events.Watcher], such as
// [events.Memory]) is watched: one watch per journal serves every breaker of
// the process on it, from one position across breakers. Any other journal
// is read every poll, breaker by breaker; poll also bounds how long a
// follower waits before watching again after the journal failed. poll must
// be positive. Close a following breaker when done with it: Close stops
// following. Default: off; a breaker learns of other writers when its own
// append meets theirs, and at Sync.
func WithFollow(poll time.Duration) Option {
	return optionFunc(func(c *config) error {
		if poll <= 0 {
			return &events.OptionError{Option: "WithFollow", Value: poll.String(), Reason: "must be positive"}
		}
		c.follow = poll
		return nil
	})
}

// followers are the watches of the process, one per journal.
var followers struct {
	mu sync.Mutex
	by map[events.Journal]*follower
}

// follower watches one journal for every following breaker on it.
type follower struct {
	j    events.Journal
	poll time.Duration
	// breakers are the following breakers, by name; guarded by
	// followers.mu. Weak: a dropped breaker is collected, and forgotten.
	breakers map[string][]weak.Pointer[Breaker]
	cancel   context.CancelFunc
}

// follow registers b with the follower of its journal, starting it.
func (b *Breaker) follow() error {
	j := b.cfg.journal
	if !reflect.TypeOf(j).Comparable() {
		return &events.OptionError{Option: "WithFollow", Value: b.cfg.follow.String(),
			Reason: "the journal (" + reflect.TypeOf(j).String() + ") is not comparable, so it cannot be shared by one watch"}
	}
	followers.mu.Lock()
	defer followers.mu.Unlock()
	if followers.by == nil {
		followers.by = make(map[events.Journal]*follower)
	}
	f := followers.by[j]
	if f == nil {
		ctx, cancel := context.WithCancel(context.Background())
		f = &follower{j: j, poll: b.cfg.follow, breakers: make(map[string][]weak.Pointer[Breaker]), cancel: cancel}
		followers.by[j] = f
		// The watch starts from the journal's head now, read before New
		// returns, so that nothing stored from here on is missed.
		var pos uint64
		w, push := j.(events.Watcher)
		if push {
			hctx, hcancel := context.WithTimeout(ctx, b.cfg.journalTimeout)
			var err error
			pos, err = w.Head(hctx)
			hcancel()
			push = err == nil
		}
		go f.run(ctx, pos, push)
	}
	f.poll = min(f.poll, b.cfg.follow)
	f.breakers[b.name] = append(f.breakers[b.name], weak.Make(b))
	return nil
}

// unfollow unregisters b; the last breaker of a journal stops its watch.
func (b *Breaker) unfollow() {
	followers.mu.Lock()
	defer followers.mu.Unlock()
	f := followers.by[b.cfg.journal]
	if f == nil {
		return
	}
	ws := f.breakers[b.name]
	self := weak.Make(b) // equal to the one follow registered
	for i, w := range ws {
		if w == self {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(f.breakers, b.name)
	} else {
		f.breakers[b.name] = ws
	}
	if len(f.breakers) == 0 {
		f.cancel()
		delete(followers.by, b.cfg.journal)
	}
}

// following returns the live breakers named name (all when name is ""),
// forgetting the collected ones.
func (f *follower) following(name string) []*Breaker {
	followers.mu.Lock()
	defer followers.mu.Unlock()
	var out []*Breaker
	for n, ws := range f.breakers {
		if name != "" && n != name {
			continue
		}
		kept := ws[:0]
		for _, w := range ws {
			if b := w.Value(); b != nil {
				out = append(out, b)
				kept = append(kept, w)
			}
		}
		if len(kept) == 0 {
			delete(f.breakers, n)
		} else {
			f.breakers[n] = kept
		}
	}
	if len(f.breakers) == 0 && followers.by[f.j] == f {
		// Every breaker of the watch was dropped without Close: stop.
		f.cancel()
		delete(followers.by, f.j)
	}
	return out
}

// run is the watch: pushed records when the journal is a Watcher, a read
// of every breaker each poll otherwise.
func (f *follower) run(ctx context.Context, pos uint64, pushed bool) {
	w, push := f.j.(events.Watcher)
	var err error
	if push && !pushed {
		err = errors.New("the journal's head could not be read")
	}
	for ctx.Err() == nil {
		if !push || err != nil {
			f.catchUpAll(ctx)
			if !sleep(ctx, f.pollEvery()) {
				return
			}
			if push {
				pos, err = w.Head(ctx)
			}
			continue
		}
		var recs []events.Stored
		recs, err = w.Watch(ctx, pos)
		if errors.Is(err, events.ErrCompacted) {
			pos, err = w.Head(ctx)
			f.catchUpAll(ctx)
			continue
		}
		for _, r := range recs {
			for _, b := range f.following(r.Breaker) {
				b.followed(r.Transition)
			}
			pos = r.Pos
		}
	}
}

func (f *follower) pollEvery() time.Duration {
	followers.mu.Lock()
	defer followers.mu.Unlock()
	return f.poll
}

// catchUpAll folds what every following breaker missed.
func (f *follower) catchUpAll(ctx context.Context) {
	for _, b := range f.following("") {
		t, err := b.catchUp(ctx)
		b.dispatch.Deliver(context.Background(), t)
		if err != nil && !errors.Is(err, ErrUnstored) && ctx.Err() == nil {
			b.report(err)
		}
	}
}

// sleep waits d, or until ctx is done (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// followed folds rec, another writer's record pushed by the watch, into
// the breaker, when it is the next one: a record the breaker has (its own,
// or adopted before) is skipped, and after a gap the breaker reads what it
// missed.
func (b *Breaker) followed(rec events.Transition) {
	t, gap := b.followedLocked(rec)
	b.dispatch.Deliver(context.Background(), t)
	if gap {
		t, err := b.catchUp(context.Background())
		b.dispatch.Deliver(context.Background(), t)
		if err != nil && !errors.Is(err, ErrUnstored) {
			b.report(err)
		}
	}
}

func (b *Breaker) followedLocked(rec events.Transition) (dispatch.Ticket, bool) {
	b.mu.Lock()
	defer b.release()
	switch {
	case b.snap.Load().state == stateShut, rec.Seq <= b.fold.Seq:
		return 0, false
	case b.backlog.unstored(b.name) != nil:
		return 0, false // the writer meets it when it appends
	case rec.Seq > b.fold.Seq+1:
		return 0, true
	}
	fold, err := b.fold.Apply(rec)
	if err != nil {
		b.toReport = append(b.toReport, errors.Join(errors.New("circuitry: following the journal"), err))
		return 0, false
	}
	b.machine = nil // rebuilt from the adopted fold
	b.adoptLocked(fold)
	rec.Adopted = true
	return b.dispatch.Publish(context.Background(), rec), false
}
