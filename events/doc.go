// Package events is the vocabulary of circuitry: the breaker [State], the typed
// transition [Event], the [Transition] record appended to a journal for every
// change of state, the [Journal] interface and its bounded in-memory
// implementation, the [Replay] fold that rebuilds a breaker's state from its
// history, and the stable JSON encoding of a record.
//
// The package holds one journal, [Memory], bounded and in memory (the
// default of a breaker). Storage engines live in packages of their own: the
// durable file journal in package filejournal, network journals in modules
// of their own, each implementing [Journal].
//
// The package imports nothing but the standard library, so that journals,
// audit tools and subscribers can depend on it without pulling in the breaker.
//
// # The transition table
//
// Every legal transition is declared once, in [Table]; the breaker builds its
// finite-state machine from it and [Replay] validates history against it:
//
//	event            from        to
//	trip             closed      open       a trip policy fired
//	probe            open        half_open  the open period ended and a call arrived (or its timer fired)
//	recover          half_open   closed     enough probes succeeded
//	retrip           half_open   open       a probe failed, or half-open lasted its longest time
//	force_open       closed      open       an operator opened the breaker
//	force_open       half_open   open
//	force_close      open        closed     an operator closed the breaker
//	force_close      half_open   closed
//	force_half_open  open        half_open  an operator asked for probes now
//
// # Event sourcing
//
// The state of a breaker is the fold of its journal: [Replay] starts from
// [Initial] (closed, sequence 0) and applies each record in order with
// [Snapshot.Apply], which rejects a gap in sequence numbers, a record of
// another breaker, and a transition the table does not allow. Every error
// names the record as a [*RecordError].
//
// A [Journal] is shaped for many writers from the start: [Journal.Append]
// succeeds only when the record's sequence number directly follows the last
// one stored for its breaker, and fails with [ErrConflict] otherwise, so two
// processes sharing a journal never both write sequence N; [Journal.Read]
// returns everything after a given sequence number, so a process can follow
// transitions it did not write.
package events
