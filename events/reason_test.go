package events_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// fullReason returns a Reason with every field set, by reflection, so that a
// field added to Reason and forgotten in the schema fails the tests below.
func fullReason(t *testing.T) events.Reason {
	t.Helper()
	var r events.Reason
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("text-" + v.Type().Field(i).Name)
		case reflect.Uint64:
			f.SetUint(uint64(i + 1))
		case reflect.Float64:
			f.SetFloat(float64(i) + 0.5)
		case reflect.Int64: // time.Duration
			f.SetInt(int64(time.Duration(i+1) * time.Second))
		default:
			t.Fatalf("Reason.%s has kind %s, which the schema cannot hold", v.Type().Field(i).Name, f.Kind())
		}
	}
	return r
}

func TestReasonSchemaHoldsEveryField(t *testing.T) {
	r := fullReason(t)
	var names []string
	for f := range r.Fields() {
		names = append(names, f.Name)
	}
	if n := reflect.TypeOf(r).NumField(); len(names) != n {
		t.Fatalf("Fields() yields %d fields %v, Reason has %d", len(names), names, n)
	}
	want := []string{"policy", "failures", "successes", "threshold", "calls", "slow", "rate",
		"rate_threshold", "min_calls", "slower_than", "retry_after", "last_error", "operator", "note"}
	if !slices.Equal(names, want) {
		t.Fatalf("Fields() names %v, want %v", names, want)
	}
	if got := events.ReasonFieldNames(); !slices.Equal(got, want) {
		t.Fatalf("ReasonFieldNames() = %v, want %v", got, want)
	}
	tr := events.Transition{Breaker: "b", Seq: 1, Event: events.Trip, From: events.Closed, To: events.Open,
		Time: t0, OpenFor: time.Second, Reason: r}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back events.Transition
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatalf("UnmarshalJSON(%s): %v", b, err)
	}
	if back.Reason != r {
		t.Fatalf("the reason did not survive the codec:\n got %+v\nwant %+v", back.Reason, r)
	}
}

func TestReasonFields(t *testing.T) {
	r := events.Reason{Policy: "failure_rate", Failures: 3, Calls: 6, Rate: 50, RateThreshold: 40,
		MinCalls: 5, SlowerThan: 1500 * time.Millisecond, LastError: "EOF", Note: "x"}
	var got []string
	for f := range r.Fields() {
		got = append(got, f.String())
	}
	want := []string{"policy=failure_rate", "failures=3", "calls=6", "rate=50%", "rate_threshold=40%",
		"min_calls=5", "slower_than=1.5s", `last_error="EOF"`, `note="x"`}
	if !slices.Equal(got, want) {
		t.Fatalf("Fields() = %q, want %q", got, want)
	}
	for f := range r.Fields() {
		if f.Free != (f.Name == "last_error" || f.Name == "note") {
			t.Errorf("field %s: Free = %v", f.Name, f.Free)
		}
	}
	for range (events.Reason{}).Fields() {
		t.Fatal("the zero Reason yields a field")
	}
}
