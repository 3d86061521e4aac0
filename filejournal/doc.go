// Package filejournal is a durable journal of circuitry breakers: [File],
// an append-only JSON Lines file that implements [events.Journal] and
// [events.Snapshotter], and keeps the audit trail of years. It is durable
// (fsync before an append returns, see [SyncPolicy]), locked against a
// second writer, repaired after a crash that tore its last line or stopped
// a seal, and readable by [ReadFile] and the cmd/circuitry audit command
// while a service writes it.
//
//	j, err := filejournal.Open("/var/lib/payments/breakers.jsonl")
//	if err != nil {
//		return err
//	}
//	defer j.Close()
//	b, err := machine.New("payments", machine.WithJournal(j))
//
// A breaker built over a journal that already holds its history resumes
// from it: an open breaker stays open after a restart until its recorded
// open period has passed.
//
// The journal is a sequence of segments: the file at the path given is the
// active one; once it holds [WithSegmentSize] of records (or on
// [File.Checkpoint]) it is sealed, an immutable file next to it, and a new
// active segment starts from a checkpoint of every breaker's state. Opening
// the journal, and loading a breaker, read the active segment only. By
// default every sealed segment is kept; [WithMaxAge] and [WithMaxBytes]
// remove the oldest, after writing down that they do. [Records] streams
// the history, skipping the segments that hold nothing asked for, and
// [StateAt] gives every breaker's state at a past time.
//
// Every record is chained to its breaker's previous one by a hash, keyed
// when [WithChainKey] gives a key, and every segment to the one before.
// [Verify] checks the whole journal. A bare chain catches accidents and
// partial edits, but whoever can edit the files can recompute it; dropping
// the newest records leaves a valid chain. A keyed chain, and the head of a
// checkpoint witnessed outside the journal ([WithCheckpointHandler]), answer
// those. The format, the chain and what Verify proves, the crash guarantees
// and the locking are described on [File].
//
// The package imports the standard library and package events (plus
// golang.org/x/sys on Windows, for its file lock).
package filejournal
