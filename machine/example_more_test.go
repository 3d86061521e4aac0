package machine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
	"github.com/circuitry-go/circuitry/hooks"
	"github.com/circuitry-go/circuitry/machine"
)

// StatusError is an HTTP client's error for a response with a status code
// other than 2xx.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d", e.Code) }

// A classifier decides what counts as a failure: here a 4xx answer is the
// caller's mistake, not the dependency's, so it counts as a success, and only
// 5xx answers and transport errors trip the breaker.
func ExampleWithClassifier() {
	b, _ := machine.New("users",
		machine.WithFailureThreshold(3),
		machine.WithClassifier(func(ctx context.Context, err error) machine.Outcome {
			var status *StatusError
			if errors.As(err, &status) && status.Code < 500 {
				return machine.Success // the dependency answered
			}
			return machine.DefaultClassifier(ctx, err)
		}),
	)
	ctx := context.Background()
	for _, code := range []int{404, 404, 404, 404} {
		_ = b.Do(ctx, func(context.Context) error { return &StatusError{code} })
	}
	fmt.Println("after four 404s:", b.State(), b.Counts().Failures, "failures")

	for range 3 {
		_ = b.Do(ctx, func(context.Context) error { return &StatusError{503} })
	}
	fmt.Println("after three 503s:", b.State(), b.Counts().Failures, "failures")
	// Output:
	// after four 404s: closed 0 failures
	// after three 503s: open 3 failures
}

// A custom policy trips on any function of a window's counts: here, three
// failures among the last ten calls, whatever the successes around them.
// Its name is the policy named in the journal's reason.
func ExampleCustomPolicy() {
	b, _ := machine.New("search", machine.WithTripPolicy(
		machine.CustomPolicy("three_in_ten", machine.LastCalls(10), func(c machine.WindowCounts) bool {
			return c.Failures >= 3
		}),
	))
	ctx := context.Background()
	timeout := errors.New("timeout")
	for _, fails := range []bool{true, false, false, true, false, false, false, true} {
		_ = b.Do(ctx, func(context.Context) error {
			if fails {
				return timeout
			}
			return nil
		})
	}
	fmt.Println(b.State())
	_ = b.Sync(ctx) // the journal writer has stored every transition
	recs, _ := b.Journal().Read(ctx, "search", 0)
	r := recs[0].Reason
	fmt.Printf("%s: %d failures in %d calls\n", r.Policy, r.Failures, r.Calls)
	// Output:
	// open
	// three_in_ten: 3 failures in 8 calls
}

// A count window holds the last n calls of the closed period: older calls
// leave it as new ones arrive. Breaker.Windows shows what each window
// policy sees.
func ExampleLastCalls() {
	b, _ := machine.New("inventory", machine.WithTripPolicy(
		machine.FailureRate(75, 4, machine.LastCalls(4)), // 3 of the last 4 calls failed
	))
	ctx := context.Background()
	call := func(fails bool) {
		_ = b.Do(ctx, func(context.Context) error {
			if fails {
				return errors.New("connection reset")
			}
			return nil
		})
		if b.State() != events.Closed {
			_ = b.Sync(ctx) // the journal writer has stored every transition
			recs, _ := b.Journal().Read(ctx, "inventory", 0)
			r := recs[0].Reason
			fmt.Printf("%-5t %s, %s: %d of %d calls failed\n", fails, r.Policy, b.State(), r.Failures, r.Calls)
			return
		}
		w := b.Windows()[0]
		fmt.Printf("%-5t %s: %d of %d calls failed\n", fails, w.Policy, w.Failures, w.Calls)
	}
	call(true)
	call(false)
	call(false)
	call(false) // the window is full
	call(true)  // the first failure leaves the window
	call(true)
	call(true) // 3 of the last 4: trips
	// Output:
	// true  failure_rate: 1 of 1 calls failed
	// false failure_rate: 1 of 2 calls failed
	// false failure_rate: 1 of 3 calls failed
	// false failure_rate: 1 of 4 calls failed
	// true  failure_rate: 1 of 4 calls failed
	// true  failure_rate: 2 of 4 calls failed
	// true  failure_rate, open: 3 of 4 calls failed
}

// An inline subscriber runs on the goroutine of the call that caused the
// transition, before that call returns, with the call's context: the place
// to add an event to the caller's span, or to do what gobreaker's
// OnStateChange did. A queued subscriber (the default lane) runs later, on
// the breaker's dispatcher goroutine.
func ExampleWithSubscribers_inline() {
	type requestID struct{}
	b, _ := machine.New("payments",
		machine.WithFailureThreshold(2),
		machine.WithSubscribers(hooks.Inline(hooks.Func(func(ctx context.Context, t events.Transition) {
			fmt.Printf("  %s: %s -> %s (request %v, %s)\n", t.Event, t.From, t.To, ctx.Value(requestID{}), t.Reason.LastError)
		}))),
	)
	for i := 1; i <= 3; i++ {
		ctx := context.WithValue(context.Background(), requestID{}, i)
		err := b.Do(ctx, func(context.Context) error { return errors.New("503 Service Unavailable") })
		if errors.Is(err, machine.ErrOpen) {
			err = machine.ErrOpen // without the time left, for a fixed output
		}
		fmt.Printf("call %d returned: %v\n", i, err)
	}
	// Output:
	// call 1 returned: 503 Service Unavailable
	//   trip: closed -> open (request 2, 503 Service Unavailable)
	// call 2 returned: 503 Service Unavailable
	// call 3 returned: circuitry: breaker is open
}

// A breaker over a file journal resumes from it after a restart: an open
// breaker stays open for the rest of its recorded open period, and its
// sequence numbers carry on. (The clock is a fake one so that the output is
// fixed; a service uses the default.)
func ExampleWithJournal_resume() {
	dir, err := os.MkdirTemp("", "circuitry-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "breakers.jsonl")
	clk := clocktest.New(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	down := func(context.Context) error { return errors.New("connection refused") }

	// The first run of the service trips the breaker, then stops.
	j, err := filejournal.Open(path)
	if err != nil {
		panic(err)
	}
	b, _ := machine.New("payments", machine.WithJournal(j), machine.WithClock(clk), machine.WithFailureThreshold(1))
	_ = b.Do(ctx, down)
	fmt.Println("first run:", b.State(), "at seq", b.Snapshot().Seq)
	if err := b.Close(ctx); err != nil { // stores what the journal writer has not yet
		panic(err)
	}
	if err := j.Close(); err != nil {
		panic(err)
	}

	// Ten seconds later the service restarts over the same file.
	clk.Advance(10 * time.Second)
	j, err = filejournal.Open(path)
	if err != nil {
		panic(err)
	}
	defer j.Close()
	b, _ = machine.New("payments", machine.WithJournal(j), machine.WithClock(clk), machine.WithFailureThreshold(1))
	err = b.Do(ctx, down)
	var open *machine.OpenError
	if errors.As(err, &open) {
		fmt.Println("second run:", open.State, "at seq", b.Snapshot().Seq, "for another", open.RetryAfter())
	}

	clk.Advance(20 * time.Second)
	_ = b.Do(ctx, func(context.Context) error { return nil }) // probes
	_ = b.Sync(ctx)
	recs, _ := j.Read(ctx, "payments", 0)
	for _, r := range recs {
		fmt.Println(r)
	}
	// Output:
	// first run: open at seq 1
	// second run: open at seq 1 for another 20s
	// payments #1 trip: closed -> open
	// payments #2 probe: open -> half_open
}

// A classifier of results sees the response as well as the error: a 503 is
// a failure without an error, and a 429 with Retry-After opens the breaker
// for the time the server asked, which the record keeps.
func ExampleExecuteResult() {
	clk := clocktest.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	b, _ := machine.New("payments", machine.WithClock(clk))
	defer b.Close(context.Background())

	type response struct {
		Status     int
		RetryAfter time.Duration // from the Retry-After header
	}
	classify := func(ctx context.Context, r response, err error) machine.Result {
		switch {
		case err != nil:
			return machine.Result{Outcome: machine.DefaultClassifier(ctx, err)}
		case r.Status == 429 || r.Status >= 500:
			return machine.Result{Outcome: machine.Failure, Cause: fmt.Sprintf("HTTP %d", r.Status), RetryAfter: r.RetryAfter}
		}
		return machine.Result{Outcome: machine.Success}
	}
	ctx := context.Background()
	r, err := machine.ExecuteResult(ctx, b, func(context.Context) (response, error) {
		return response{Status: 429, RetryAfter: 2 * time.Minute}, nil
	}, classify)
	fmt.Println("the call returned:", r.Status, err)
	fmt.Println("the breaker is", b.State())

	_ = b.Sync(ctx)
	recs, _ := b.Journal().Read(ctx, "payments", 0)
	t := recs[0]
	fmt.Printf("%s: %s, open for %s (asked %s), cause %q\n", t.Event, t.Reason.Policy, t.OpenFor, t.Reason.RetryAfter, t.Reason.LastError)
	// Output:
	// the call returned: 429 <nil>
	// the breaker is open
	// trip: retry_after, open for 2m0s (asked 2m0s), cause "HTTP 429"
}

// A proxy that learns only a status code reports the outcome and its cause
// itself, with no error made up for it.
func ExamplePermit_Report() {
	b, _ := machine.New("inventory", machine.WithFailureThreshold(2))
	defer b.Close(context.Background())
	ctx := context.Background()
	for range 2 {
		p, err := b.Allow(ctx)
		if err != nil {
			fmt.Println("rejected:", err)
			return
		}
		status := 502 // what the upstream answered
		p.Report(machine.Result{Outcome: machine.Failure, Cause: fmt.Sprintf("HTTP %d", status)})
	}
	_ = b.Sync(ctx)
	recs, _ := b.Journal().Read(ctx, "inventory", 0)
	fmt.Println(b.State(), recs[0].Reason.LastError)
	// Output:
	// open HTTP 502
}

// A fallback serves the last known price while the breaker is open, and,
// with OnFailure, when the call fails too.
func ExampleExecuteFallback() {
	b, _ := machine.New("prices", machine.WithFailureThreshold(1))
	defer b.Close(context.Background())
	ctx := context.Background()
	fetch := func(context.Context) (float64, error) { return 0, errors.New("price service down") }
	lastKnown := func(_ context.Context, err error) (float64, error) {
		if errors.Is(err, machine.ErrOpen) {
			fmt.Println("fallback: the breaker is open")
		} else {
			fmt.Println("fallback:", err)
		}
		return 9.99, nil
	}
	for range 2 {
		price, err := machine.ExecuteFallback(ctx, b, fetch, lastKnown, machine.OnFailure())
		fmt.Println("price", price, err)
	}
	// Output:
	// fallback: price service down
	// price 9.99 <nil>
	// fallback: the breaker is open
	// price 9.99 <nil>
}
