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
// It is an [events.Snapshotter] too: after every 1000th record of a breaker
// ([WithCheckpointEvery]) it stores a checkpoint, the fold of the records
// so far, on the subject of the breaker's records + ".checkpoint", so that
// a replica starting up reads only the records after it. Checkpoints
// remove nothing: the records stay, as the audit trail.
//
// The journal keeps every record: the stream it creates has no limits.
// Records that a stream's limits or a purge drop are lost to the journal:
// Read and Watch report [events.ErrCompacted] when asked for records of
// which later ones remain. A breaker made after every one of its records
// was purged starts a new history; a running one's next append conflicts
// with the empty history, so do not purge the records of breakers in use.
package natsjournal
