// Package audit is the audit command's implementation, shared by its
// builds: cmd/circuitry over a journal file, and the NATS build in the
// natsjournal module over a JetStream stream. Each build gives a [Command]
// the way to open its journal; the commands (history, verify, state,
// diagram) read any [Journal].
package audit
