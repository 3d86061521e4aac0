package fromgobreaker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/examples/fromgobreaker"
	"github.com/circuitry-go/circuitry/machine"
)

// gobreakerDefaults are the options that behave as gobreaker's zero
// Settings: ReadyToTrip's default trips when ConsecutiveFailures > 5, that
// is on the sixth; Timeout 0 means 60 s open; MaxRequests 0 means one probe,
// whose success closes.
var gobreakerDefaults = []machine.Option{
	machine.WithFailureThreshold(6),
	machine.WithRecoveryTimeout(60 * time.Second),
	machine.WithSuccessThreshold(1), // the probe limit follows: 1
}

// One breaker per host: a failing host opens its own breaker only.
func ExampleRegistry() {
	reg := fromgobreaker.NewRegistry(gobreakerDefaults...)
	ctx := context.Background()
	call := func(host string, err error) error {
		b, berr := reg.Breaker(host)
		if berr != nil {
			return berr
		}
		return b.Do(ctx, func(context.Context) error { return err })
	}
	refused := errors.New("connection refused")
	for range 6 {
		_ = call("a.example:443", refused)
		_ = call("b.example:443", nil)
	}
	for _, host := range []string{"a.example:443", "b.example:443"} {
		b, _ := reg.Breaker(host)
		fmt.Println(host, b.State(), errors.Is(call(host, nil), machine.ErrOpen))
	}
	// Output:
	// a.example:443 open true
	// b.example:443 closed false
}

// The middleware counts a handler's 5xx answers as failures and, while the
// breaker is open, answers 503 with a Retry-After header itself.
func ExampleMiddleware() {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b, _ := machine.New("orders-api", machine.WithClock(clk), machine.WithFailureThreshold(2), machine.WithRecoveryTimeout(30*time.Second))
	healthy := false
	h := fromgobreaker.Middleware(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy {
			http.Error(w, "database down", http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	get := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders", nil))
		fmt.Println(rec.Code, rec.Header().Get("Retry-After"), b.State())
	}
	get() // 502 from the handler
	get() // 502 again: trips
	get() // 503 from the middleware, without calling the handler

	clk.Advance(30 * time.Second)
	healthy = true
	get() // the probe succeeds
	get()
	// Output:
	// 502  closed
	// 502  open
	// 503 30 open
	// 200  half_open
	// 200  closed
}
