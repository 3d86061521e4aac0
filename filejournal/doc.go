// Package filejournal is a durable journal of circuitry breakers: [File], an
// append-only JSON Lines file that implements [events.Journal] and
// [events.Snapshotter]. It is durable (fsync before an append returns, see
// [SyncPolicy]), locked against a second writer, compacted into snapshot
// records, repaired after a crash that tore its last line, and readable by
// [ReadFile] and the cmd/circuitry audit command while a service writes it.
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
// open period has passed. The format, the crash guarantees and the locking
// are described on [File].
//
// The package imports the standard library and package events (plus
// golang.org/x/sys on Windows, for its file lock).
package filejournal
