package machine_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/circuitry-go/circuitry/clock/clocktest"
	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/machine"
)

// TestPolicies checks what Policies reports for each trip policy after a
// script of calls: the consecutive failures policy first, with its run and
// threshold, then the window policies as Windows gives them, and zero
// counts once the breaker is open.
func TestPolicies(t *testing.T) {
	errFail := errors.New("fail")
	window := machine.LastCalls(10)
	cases := []struct {
		name   string
		opts   []machine.Option
		script string // S succeeds, F fails
		state  events.State
		want   []machine.PolicyCounts
	}{
		{
			name:   "default: consecutive failures",
			script: "SFF",
			state:  events.Closed,
			want: []machine.PolicyCounts{
				{Policy: "consecutive_failures", Figures: events.Reason{Failures: 2, Threshold: 5}},
			},
		},
		{
			name:   "a success ends the run",
			opts:   []machine.Option{machine.WithFailureThreshold(3)},
			script: "FFS",
			state:  events.Closed,
			want: []machine.PolicyCounts{
				{Policy: "consecutive_failures", Figures: events.Reason{Threshold: 3}},
			},
		},
		{
			name:   "open: no run",
			opts:   []machine.Option{machine.WithFailureThreshold(2)},
			script: "FF",
			state:  events.Open,
			want: []machine.PolicyCounts{
				{Policy: "consecutive_failures", Figures: events.Reason{Threshold: 2}},
			},
		},
		{
			name:   "a rate policy alone",
			opts:   []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 4, window))},
			script: "SFS",
			state:  events.Closed,
			want: []machine.PolicyCounts{{
				Policy:       "failure_rate",
				WindowCounts: machine.WindowCounts{Calls: 3, Failures: 1},
				Figures:      events.Reason{Calls: 3, Failures: 1, Rate: 100.0 / 3, RateThreshold: 50, MinCalls: 4},
			}},
		},
		{
			name:   "both, consecutive first",
			opts:   []machine.Option{machine.WithTripPolicy(machine.FailureRate(50, 4, window), machine.ConsecutiveFailures(3))},
			script: "SF",
			state:  events.Closed,
			want: []machine.PolicyCounts{
				{Policy: "consecutive_failures", Figures: events.Reason{Failures: 1, Threshold: 3}},
				{
					Policy:       "failure_rate",
					WindowCounts: machine.WindowCounts{Calls: 2, Failures: 1},
					Figures:      events.Reason{Calls: 2, Failures: 1, Rate: 50, RateThreshold: 50, MinCalls: 4},
				},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := machine.New("p", append([]machine.Option{machine.WithClock(clocktest.New(t0))}, c.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(context.Background())
			for _, step := range c.script {
				_ = b.Do(context.Background(), func(context.Context) error {
					if step == 'F' {
						return errFail
					}
					return nil
				})
			}
			if got := b.State(); got != c.state {
				t.Fatalf("state %s, want %s", got, c.state)
			}
			if got := b.Policies(); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Policies() =\n %+v\nwant\n %+v", got, c.want)
			}
		})
	}
}
