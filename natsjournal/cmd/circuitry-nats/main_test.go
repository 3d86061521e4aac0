package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/natsjournal"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// fleetStream starts a nats-server and stores, in the default stream, a
// trip of "payments" by replica-a and a trip and a forced close of
// "search" by replica-b. It returns the server's URL and a connection.
func fleetStream(t *testing.T) (string, *nats.Conn) {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server is not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	j, err := natsjournal.New(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	trip := func(b, w string) events.Transition {
		return events.Transition{Breaker: b, Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open,
			Time: t0, OpenFor: time.Minute, Writer: w, ID: "1",
			Reason: events.Reason{Policy: "consecutive_failures", Failures: 5, LastError: "503"}}
	}
	closed := events.Transition{Breaker: "search", Seq: 2, Event: events.ForceClose, From: events.Open, To: events.Closed,
		Time: t0.Add(time.Second), Writer: "replica-b", ID: "2", Reason: events.Reason{Operator: "oncall", Note: "false alarm"}}
	for _, r := range []events.Transition{trip("payments", "replica-a"), trip("search", "replica-b"), closed} {
		if err := j.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return s.ClientURL(), nc
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e, t0.Add(10*time.Second))
	return code, o.String(), e.String()
}

func TestCommandsOverAStream(t *testing.T) {
	url, _ := fleetStream(t)
	for _, c := range []struct {
		name string
		args []string
		want []string // in stdout, each
	}{
		{"history", []string{"history", url}, []string{"WRITER", "payments  1    trip", "replica-a", "replica-b", `replica-b  operator="oncall" note="false alarm"`}},
		{"history json", []string{"history", "-json", "-breaker", "search", url}, []string{`"breaker":"search","seq":1`, `"writer":"replica-b"`}},
		{"verify", []string{"verify", url}, []string{"ok: 2 breakers, 3 transition records, 0 snapshot records", "latest transition"}},
		{"state", []string{"state", url}, []string{"payments", "open", "search", "closed"}},
		{"diagram", []string{"diagram", "-breaker", "payments", url}, []string{"stateDiagram"}},
		{"named stream", []string{"verify", url + "?stream=CIRCUITRY&prefix=circuitry.transitions"}, []string{"ok: 2 breakers"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCmd(c.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCommandErrors(t *testing.T) {
	url, nc := fleetStream(t)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"not a URL", []string{"verify", "journal.jsonl"}, 1, `"journal.jsonl" is not a NATS URL`},
		{"unknown breaker", []string{"state", "-breaker", "nope", url}, 1, "nope"},
		{"bad option", []string{"verify", url + "?stream=a.b"}, 1, "natsjournal.WithStream"},
		{"no argument", []string{"verify"}, 2, "usage:\n  circuitry-nats history"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runCmd(c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d naming %q", code, errOut, c.code, c.want)
			}
		})
	}
	t.Run("a message that is not a record", func(t *testing.T) {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		j, err := natsjournal.New(context.Background(), nc)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		ack, err := js.Publish(context.Background(), j.Subject("zzz"), []byte("{not json"))
		if err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCmd("verify", url)
		if want := "message " + strconv.FormatUint(ack.Sequence, 10); code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("verify over a bad message: exit %d, stderr %q; want exit 1 naming %q", code, errOut, want)
		}
	})
}

// A stream whose limits removed a breaker's older records: the commands
// start from its checkpoint and say what was removed; records removed that
// no checkpoint folds are an error.
func TestCommandsOverALimitedStream(t *testing.T) {
	ctx := context.Background()
	url, nc := fleetStream(t)
	j, err := natsjournal.New(ctx, nc, natsjournal.WithStream("LIMITED"), natsjournal.WithSubjectPrefix("limited.cb"),
		natsjournal.WithMaxAge(time.Hour), natsjournal.WithWarningHandler(func(err error) { t.Errorf("warning: %v", err) }))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rec := func(seq uint64) events.Transition {
		r := events.Transition{Breaker: "payments", Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Writer: "replica-a", ID: strconv.FormatUint(seq, 10),
			Event: events.ForceOpen, From: events.Closed, To: events.Open, OpenFor: time.Minute, Reason: events.Reason{Operator: "oncall", Note: "n"}}
		if seq%2 == 0 {
			r.Event, r.From, r.To, r.OpenFor = events.ForceClose, events.Open, events.Closed, 0
		}
		return r
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := j.Append(ctx, rec(seq)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		if s, err := j.Snapshot(ctx, "payments"); err == nil && s.Seq == 3 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of record 3: %+v, %v", s, err)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "LIMITED")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(j.Subject("payments"))); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(ctx, rec(4)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		if s, err := j.Snapshot(ctx, "payments"); err == nil && s.Seq == 4 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of record 4: %+v, %v", s, err)
		}
	}
	// Record 5 by a journal that makes no checkpoint.
	quiet, err := natsjournal.New(ctx, nc, natsjournal.WithStream("LIMITED"), natsjournal.WithSubjectPrefix("limited.cb"), natsjournal.WithCheckpointEvery(0))
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	if err := quiet.Append(ctx, rec(5)); err != nil {
		t.Fatal(err)
	}
	limited := url + "?stream=LIMITED&prefix=limited.cb"
	note := `note: breaker "payments": records 1 to 3 were removed by the stream's limits (or a purge); its history starts from its checkpoint at seq 4`
	for _, c := range []struct {
		name string
		args []string
		want []string // in stdout, each
	}{
		{"history", []string{"history", limited}, []string{"# payments: seq 1 to 4 kept only as a snapshot (compacted, or removed by the journal's limits): closed since", "payments  5    force_open"}},
		{"verify", []string{"verify", limited}, []string{"ok: 1 breaker, 2 transition records, 1 snapshot record"}},
		{"state", []string{"state", limited}, []string{"payments  open   5"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCmd(c.args...)
			if code != 0 || !strings.Contains(errOut, note) {
				t.Fatalf("exit %d, stderr %q; want exit 0 and the note %q", code, errOut, note)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}

	t.Run("records removed that no checkpoint folds", func(t *testing.T) {
		d, err := natsjournal.New(ctx, nc) // the default stream, unlimited: no checkpoint yet
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		s, err := js.Stream(ctx, d.Stream())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(d.Subject("search")), jetstream.WithPurgeKeep(1)); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCmd("history", url)
		if want := `breaker "search": records 1 to 1 were removed from the stream, and its checkpoint, at seq 0, does not fold them`; code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d, stderr %q; want exit 1 naming %q", code, errOut, want)
		}
	})
}

// verify checks the stream's chain: bare links by default; a key file
// requires every link to be keyed with it, which a bare chain is not.
func TestVerifyChecksTheChain(t *testing.T) {
	url, _ := fleetStream(t)
	keyFile := filepath.Join(t.TempDir(), "chain.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"bare chain", []string{"verify", url}, 0, "chain: 1 record linked (bare SHA-256"},
		{"a key where the chain is bare", []string{"verify", "-key-file", keyFile, url}, 1, "is not keyed where a keyed chain is required"},
		{"a witnessed head", []string{"verify", "-head", "sha256:00000000000000000000000000000000", url}, 1, "-head: a stream has no sealed segments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.says) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tc.code, tc.says)
			}
		})
	}
}
