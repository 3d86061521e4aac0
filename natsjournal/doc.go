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
//
// # The chain
//
// Each record links to the breaker's record before it: Append sets its
// PrevHash to the link hash ([events.LinkHash]) of that record exactly as
// the stream stores it, the message's data; a bare SHA-256 by default, an
// HMAC-SHA-256 under the key [WithChainKey] gives. A breaker's first record
// links to nothing. The expected-sequence append keeps the chain linear:
// the record stored links to the subject's last message, and a writer that
// loses a race links its next record to the winner's. The journal keeps
// the link hash of the last record of each breaker it appends or reads
// (learning of other writers' records on a conflict, a read or a watch), so
// linking costs an append no round trip. A checkpoint carries the chain's
// head, the link hash of the record it folds, and the first record after
// it links to that head, also when the stream's limits removed every
// record before.
//
// Read, Watch and the load of a breaker (Snapshot, then Read) check every
// link they read, with events.ChainCheck{Key: the journal's key}: a record
// that does not link to the record before it returns a [*MessageError]
// holding an [*events.ChainError] that names the breaker and the record's
// sequence number (errors.Is(err, [events.ErrBrokenChain])), never the
// history. A record without PrevHash, written before its journal chained
// records, is accepted as unlinked; a keyed link read without the key, or
// compared with a link hash of the other kind that the journal remembers,
// is left unchecked. The first record left after the stream's limits
// removed older ones links to a record that is gone: it is checked against
// the head of the breaker's checkpoint when that checkpoint folds exactly
// the records before it, and is otherwise left unchecked, never reported
// as broken. A limit removes the oldest records first, so records missing
// after one still held were removed by hand, and break the chain; the
// oldest records removed by hand look the same as a limit's work, and the
// checkpoint, which must fold them, keeps the breaker's state.
// [Journal.VerifyChain] reads every record the stream holds for a breaker
// and checks every link with a check of the caller's, such as one that
// requires the key, and counts them.
//
// What the chain proves. A bare chain catches accidents and partial edits:
// a record changed, removed or inserted in a breaker's history breaks the
// link of the record after it. It does not stop someone who can write the
// stream: they can purge a subject and republish it with every link after
// the record they changed recomputed. A keyed chain cannot be recomputed
// without the key; a history rewritten with bare links, or under another
// key, is refused by a check that requires the key (and a record without
// PrevHash is accepted as unlinked only by a check that does not). Neither
// shows that the newest records of a breaker were dropped, as what is left
// is still a chain that holds, nor vouches for the newest record, which no
// successor links to: compare the head VerifyChain reports with one
// witnessed elsewhere, in logs or another system. The checkpoint bucket is
// no witness: whoever can write the stream can usually write the bucket.
// Every journal that writes a stream's breakers must use the same key, or
// none.
package natsjournal
