package fromgobreaker

import (
	"sync"

	"github.com/circuitry-go/circuitry/machine"
)

// Registry holds one breaker per host, each made on first use with the same
// options. Where a gobreaker port kept a map[string]*gobreaker.CircuitBreaker
// under a mutex, this is the same map: a breaker is cheap when idle (about
// 0.9 KiB) and safe for concurrent use, and its name, the host, is the
// breaker named in its journal records, logs and metrics.
type Registry struct {
	opts []machine.Option

	mu     sync.RWMutex
	byHost map[string]*machine.Breaker
}

// NewRegistry returns a registry whose breakers are made with opts. Give it
// a shared journal (machine.WithJournal) to keep every host's audit trail in
// one place, and subscribers to hear of every host's transitions.
func NewRegistry(opts ...machine.Option) *Registry {
	return &Registry{opts: opts, byHost: make(map[string]*machine.Breaker)}
}

// Breaker returns the breaker of host, making it on first use. It returns
// New's error for an invalid option or a host that cannot name a breaker.
func (r *Registry) Breaker(host string) (*machine.Breaker, error) {
	r.mu.RLock()
	b, ok := r.byHost[host]
	r.mu.RUnlock()
	if ok {
		return b, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.byHost[host]; ok {
		return b, nil
	}
	b, err := machine.New(host, r.opts...)
	if err != nil {
		return nil, err
	}
	r.byHost[host] = b
	return b, nil
}
