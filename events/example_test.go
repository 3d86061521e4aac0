package events_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

func ExampleReplay() {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	history := []events.Transition{
		{Breaker: "payments", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open, Time: at, OpenFor: 30 * time.Second},
		{Breaker: "payments", Seq: 2, Event: events.Probe, From: events.Open, To: events.HalfOpen, Time: at.Add(31 * time.Second)},
		{Breaker: "payments", Seq: 3, Event: events.Retrip, From: events.HalfOpen, To: events.Open, Time: at.Add(32 * time.Second), OpenFor: time.Minute},
	}
	s, err := events.Replay("payments", history)
	if err != nil {
		fmt.Println(err)
		return
	}
	until, _ := s.OpenUntil()
	fmt.Println(s.State, s.Seq, s.Event, until.Format(time.TimeOnly))

	// A history with a hole in it is refused, naming the record.
	_, err = events.Replay("payments", append(history[:1:1], history[2]))
	fmt.Println(err)
	fmt.Println(errors.Is(err, events.ErrGap))
	// Output:
	// open 3 retrip 10:01:32
	// circuitry: record 2 (breaker "payments", seq 3): sequence gap: seq 3, want 2
	// true
}

func ExampleTransition_MarshalJSON() {
	t := events.Transition{
		Breaker: "payments", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open,
		Time:    time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC),
		OpenFor: 30 * time.Second,
		Reason:  events.Reason{Policy: events.PolicyConsecutiveFailures, Failures: 5, Threshold: 5, LastError: "EOF"},
	}
	b, err := t.MarshalJSON()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"v":2,"breaker":"payments","seq":1,"event":"trip","from":"closed","to":"open","time":"2026-11-27T10:00:00.123456789Z","open_for":"30s","reason":{"policy":"consecutive_failures","failures":5,"threshold":5,"last_error":"EOF"}}
}

func ExampleMemory() {
	ctx := context.Background()
	j, err := events.NewMemory(events.DefaultMemoryCapacity)
	if err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	trip := events.Transition{Breaker: "payments", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open, Time: at, OpenFor: 30 * time.Second}
	fmt.Println("append:", j.Append(ctx, trip))

	// A second writer that also thinks it is writing seq 1 loses.
	forced := events.Transition{Breaker: "payments", Seq: 1, Event: events.ForceOpen, From: events.Closed, To: events.Open, Time: at, OpenFor: time.Hour}
	err = j.Append(ctx, forced)
	var conflict *events.ConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict:", conflict.Breaker, "seq", conflict.Seq, "last", conflict.Last, errors.Is(err, events.ErrConflict))
	}

	// It reads what it missed instead.
	missed, err := j.Read(ctx, "payments", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range missed {
		fmt.Println("read:", t)
	}
	s, err := events.Load(ctx, j, "payments")
	fmt.Println("load:", s.State, s.Seq, err)
	// Output:
	// append: <nil>
	// conflict: payments seq 1 last 1 true
	// read: payments #1 trip: closed -> open
	// load: open 1 <nil>
}
