package clocktest_test

import (
	"fmt"
	"time"

	"github.com/circuitry-go/circuitry/clock/clocktest"
)

func ExampleClock() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clocktest.New(start)

	at := func(name string) func() {
		return func() { fmt.Printf("%s at +%s\n", name, c.Now().Sub(start)) }
	}
	c.AfterFunc(30*time.Second, at("recovery timeout"))
	c.AfterFunc(10*time.Second, at("first check"))
	stopped := c.AfterFunc(20*time.Second, at("never"))
	fmt.Println("stopped:", stopped.Stop())

	c.Advance(time.Minute)
	fmt.Println("now +", c.Now().Sub(start), "pending", c.Pending())
	// Output:
	// stopped: true
	// first check at +10s
	// recovery timeout at +30s
	// now + 1m0s pending 0
}

func ExampleClock_Set() {
	c := clocktest.New(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	if err := c.Set(time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)); err != nil {
		fmt.Println(err)
	}
	// Output:
	// clocktest: Set(2026-01-01T11:00:00Z) is before Now 2026-01-01T12:00:00Z: time never goes back
}
