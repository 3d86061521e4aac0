// Package natsjournal is a fleet journal for circuitry breakers, stored in a
// NATS JetStream stream: every process of a service that shares a breaker
// name shares its history, so one replica's trip opens the breaker in all of
// them.
//
// Each breaker's records are the messages of one subject of the stream,
// prefix + "." + the base64url of the breaker's name, one JSON record per
// message, in the journal's line format. An append publishes with the
// stream sequence of the breaker's last message as its expected last
// subject sequence, so JetStream itself refuses a record that another
// writer has overtaken: of several writers racing for one sequence number,
// exactly one is stored and the others get an [events.ConflictError].
//
// A [Journal] is an [events.Watcher]: a breaker built with machine.WithFollow
// learns of the other writers' transitions as JetStream stores them.
//
// It is an [events.Snapshotter] too: it stores checkpoints, the fold of a
// breaker's records up to one of them, in a JetStream key-value bucket
// beside the stream ([WithCheckpointBucket]; by default the stream's name
// + "_CHECKPOINTS"), one entry per breaker, so that a replica starting up
// reads only the records after it. Replicas storing one at once never
// replace a checkpoint with an older one (the bucket's compare-and-set).
// Checkpoints remove nothing: the records stay, as the audit trail.
//
// History is kept unless the stream has a limit. The stream New creates
// has none unless [WithMaxAge] or [WithMaxBytes] sets one; New takes an
// existing stream's limits as they are (age, bytes, messages, messages per
// subject) and does not change them. Over a stream with no limit the
// journal stores a checkpoint after every 1000th record of a breaker
// ([WithCheckpointEvery]); over one with a limit, after every record, in
// the background (a read and a write of the bucket per transition), so
// that whatever the limit removes, each breaker's latest state is in the
// bucket, which no limit on the records touches. A breaker whose records
// were all removed goes on from its checkpoint: it loads from it, and its
// next append follows it. A limit must leave a record in the stream until
// its checkpoint is stored, moments after the append; Close stores those
// due. A checkpoint that a process stopping at once left undone is stored
// by the next journal that reads the breaker's records.
//
// What a limit or a purge removed is said: Read returns an
// [*events.CompactedError] when records asked for are no longer in the
// stream, with Base the checkpoint's sequence number when every record of
// the breaker is gone, and Watch when records after its position are.
// Records removed that no checkpoint folds are lost to the journal: over a
// stream with no limit, do not purge the records of breakers in use.
package natsjournal
