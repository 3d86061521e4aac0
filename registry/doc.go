// Package registry holds a circuit breaker per key: per host, per tenant,
// per route. A [Registry] makes each key's [machine.Breaker] on first use
// from one set of machine options, so that every breaker shares the
// subscribers, the journal and the OpenTelemetry bridge given once; the
// breaker's name is the key (or what [WithName] makes of it).
//
//	reg, err := registry.New(
//		registry.WithBreakerOptions(
//			machine.WithJournal(journal),        // every host's history in one place
//			machine.WithSubscribers(bridge),     // every host's metrics and span events
//		),
//		registry.WithMaxKeys(1000),
//		registry.WithIdleTimeout(10*time.Minute),
//	)
//	defer reg.Close(ctx)
//	err = reg.Do(ctx, req.URL.Host, func(ctx context.Context) error { return send(ctx, req) })
//	resp, err := registry.Execute(ctx, reg, host, fetch)
//
// # The call path
//
// Finding a key's breaker takes no lock and allocates nothing: a load from
// a [sync.Map] and of the entry's flags, about 20 ns with 10,000 keys, so
// that [Registry.Do] costs that plus the breaker's own call. A call writes
// to its entry only to mark it used, once per sweep.
//
// # Bounds and eviction
//
// A registry holds at most [WithMaxKeys] breakers. A sweeper, armed every
// idle timeout ([WithIdleTimeout]) on the registry's clock, closes and
// forgets the breakers that went unused for a whole round, but only quiet
// ones ([machine.Breaker.Quiet]): closed, with no failure counted, and
// everything stored in the journal. Evicting an open breaker would skip
// its open period; evicting a failing one would let junk traffic reset a
// failing route. A full registry evicts at once what the next sweep would,
// and otherwise refuses new keys with a [*FullError] (matching [ErrFull])
// rather than growing. A breaker evicted and made again over a shared
// journal resumes from it.
//
// A Get racing an eviction never gets the breaker being evicted: the entry
// goes through the states live, evicting and gone, and Get marks it used
// before it reads the state while the evictor reads the mark after it set
// the state, so that one of them sees the other. [Registry.Do] and
// [Execute] go further: a breaker closed after they found it (held past an
// eviction) makes them try again with a new one, so that machine.ErrClosed
// never reaches their caller.
//
// Close the registry when done ([Registry.Close]): it stops the sweeper,
// waits for the breakers being made, and closes every breaker, so that
// what the breakers share (a journal's connection, a meter provider) may
// be shut down once it returns.
//
// A panic while a breaker is made (a [machine.BreakerObserver] that panics
// in ObserveBreaker, say) goes on to the [Registry.Get] making it, and
// leaves nothing behind: the Gets waiting for the same key return an
// error, and the key's next Get tries again.
package registry
