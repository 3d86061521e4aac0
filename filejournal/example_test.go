package filejournal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "circuitry-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "breakers.jsonl")
	ctx := context.Background()

	// A service opens the journal once and gives it to its breakers
	// (machine.WithJournal); here a record is appended by hand.
	j, err := filejournal.Open(path)
	if err != nil {
		panic(err)
	}
	err = j.Append(ctx, events.Transition{
		Breaker: "payments", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open,
		Time:    time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		OpenFor: 30 * time.Second,
		Reason:  events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: "EOF"},
	})
	if err != nil {
		panic(err)
	}
	if err := j.Close(); err != nil {
		panic(err)
	}

	// An audit tool reads it, even while the service writes.
	r, err := filejournal.ReadFile(path)
	if err != nil {
		panic(err)
	}
	s, err := events.Load(ctx, r, "payments")
	if err != nil {
		panic(err)
	}
	until, _ := s.OpenUntil()
	fmt.Printf("%s is %s since seq %d, until %s\n", s.Breaker, s.State, s.Seq, until.Format(time.TimeOnly))
	// The file starts with the segment's header; the record follows.
	content, _ := os.ReadFile(path)
	_, record, _ := strings.Cut(string(content), "\n")
	fmt.Print(record)
	// Output:
	// payments is open since seq 1, until 10:00:30
	// {"v":2,"breaker":"payments","seq":1,"event":"trip","from":"closed","to":"open","time":"2026-11-27T10:00:00Z","open_for":"30s","reason":{"policy":"consecutive_failures","failures":5,"threshold":5,"last_error":"EOF"}}
}

// manualControl returns record seq of breaker as an operator's force_open
// (odd seq) or force_close (even seq) writes it.
func manualControl(breaker string, seq uint64) events.Transition {
	r := events.Transition{Breaker: breaker, Seq: seq, Time: time.Date(2026, 11, 27, 10, int(seq), 0, 0, time.UTC),
		Reason: events.Reason{Policy: events.PolicyManual, Operator: "alice", Note: fmt.Sprintf("change %d", seq)}}
	if seq%2 == 1 {
		r.Event, r.From, r.To, r.OpenFor = events.ForceOpen, events.Closed, events.Open, time.Hour
	} else {
		r.Event, r.From, r.To = events.ForceClose, events.Open, events.Closed
	}
	return r
}

func ExampleFile_Checkpoint() {
	dir, err := os.MkdirTemp("", "circuitry-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "breakers.jsonl")
	ctx := context.Background()

	j, err := filejournal.Open(path, filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) {
		fmt.Printf("checkpoint: segment %d sealed as %s, %d records of %d breaker(s)\n", c.Sealed, filepath.Base(c.Path), c.Records, c.Breakers)
	}))
	if err != nil {
		panic(err)
	}
	defer j.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		if err := j.Append(ctx, manualControl("payments", seq)); err != nil {
			panic(err)
		}
	}
	// Seal the active segment now, as an append does once it holds
	// WithSegmentSize of records.
	if _, err := j.Checkpoint(ctx); err != nil {
		panic(err)
	}
	// With no record since, a checkpoint does nothing.
	if c, err := j.Checkpoint(ctx); err != nil || c.Sealed != 0 {
		panic(fmt.Sprint(c, err))
	}
	if err := j.Append(ctx, manualControl("payments", 4)); err != nil {
		panic(err)
	}
	st := j.Stats()
	fmt.Printf("active segment %d: %d record(s) after a checkpoint of %d breaker(s); %d sealed segment(s)\n", st.Segment, st.Records, st.Snapshots, st.Sealed)
	// Read returns the whole history, from the sealed segment and the
	// active one; Load reads the active one only.
	recs, err := j.Read(ctx, "payments", 0)
	if err != nil {
		panic(err)
	}
	s, err := events.Load(ctx, j, "payments")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d records; payments is %s at seq %d\n", len(recs), s.State, s.Seq)
	// Output:
	// checkpoint: segment 1 sealed as breakers.jsonl.00000001, 3 records of 1 breaker(s)
	// active segment 2: 1 record(s) after a checkpoint of 1 breaker(s); 1 sealed segment(s)
	// 4 records; payments is closed at seq 4
}

func ExampleVerify() {
	dir, err := os.MkdirTemp("", "circuitry-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "breakers.jsonl")
	ctx := context.Background()

	// Each checkpoint's head goes somewhere the journal's files are not:
	// logs, traces, another system. Here, a slice.
	var witnessed []string
	j, err := filejournal.Open(path, filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) {
		witnessed = append(witnessed, c.Head)
	}))
	if err != nil {
		panic(err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if err := j.Append(ctx, manualControl("payments", seq)); err != nil {
			panic(err)
		}
		if seq == 4 {
			if _, err := j.Checkpoint(ctx); err != nil {
				panic(err)
			}
		}
	}
	if err := j.Close(); err != nil {
		panic(err)
	}

	rep, err := filejournal.Verify(path, filejournal.VerifyOptions{Heads: witnessed})
	fmt.Printf("verified: %d segments, %d records, %d links checked, %d witnessed head(s) found (%v)\n",
		rep.Segments, rep.Records, rep.Linked, rep.Heads, err)

	// Someone changes who forced the breaker open, in the sealed segment.
	sealed := path + ".00000001"
	b, err := os.ReadFile(sealed)
	if err != nil {
		panic(err)
	}
	b = bytes.Replace(b, []byte(`"operator":"alice","note":"change 1"`), []byte(`"operator":"mallory","note":"change 1"`), 1)
	if err := os.WriteFile(sealed, b, 0o600); err != nil {
		panic(err)
	}
	_, err = filejournal.Verify(path, filejournal.VerifyOptions{})
	var fe *filejournal.FileError
	if errors.As(err, &fe) {
		fmt.Printf("%s line %d: broken chain: %v\n", filepath.Base(fe.Path), fe.Line(), errors.Is(err, events.ErrBrokenChain))
	}
	// Output:
	// verified: 2 segments, 5 records, 4 links checked, 1 witnessed head(s) found (<nil>)
	// breakers.jsonl.00000001 line 3: broken chain: true
}
