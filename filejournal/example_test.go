package filejournal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

func ExampleOpenFile() {
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
