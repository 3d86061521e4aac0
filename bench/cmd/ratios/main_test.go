package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunPrintsMediansAndRatiosFromTheSameRun(t *testing.T) {
	in := `goos: linux
BenchmarkCompare/closed-success/circuitry-2   	100	 10.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkCompare/closed-success/circuitry-2   	100	 30.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkCompare/closed-success/circuitry-2   	100	 12.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkCompare/closed-success/gobreaker-2   	100	 120.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkCompare/closed-success/eapache-2     	100	 6.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkCompare/cycle/circuitry-2            	100	 4000 ns/op	 2600 B/op	 32 allocs/op
BenchmarkTransition/0-subscribers-2           	100	 2000 ns/op
`
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want a header and 4 rows:\n%s", len(lines), out.String())
	}
	for _, c := range []struct {
		row  int
		want []string
	}{
		// median of 10, 30, 12 is 12: 12/120 = 0.10 of gobreaker, 12/6 = 2.00 of eapache
		{1, []string{"closed-success", "circuitry", "12.00", "3", "0", "0.10", "2.00"}},
		{2, []string{"closed-success", "gobreaker", "120.00", "1", "0", "1.00", "20.00"}},
		{3, []string{"closed-success", "eapache", "6.00", "1", "0", "0.05", "1.00"}},
		{4, []string{"cycle", "circuitry", "4000.00", "1", "32", "-", "-"}},
	} {
		if got := strings.Fields(lines[c.row]); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("row %d = %q, want %q", c.row, got, c.want)
		}
	}
}

func TestRunFailsWithoutCompareLines(t *testing.T) {
	if err := run(strings.NewReader("PASS\n"), &bytes.Buffer{}); err == nil {
		t.Error("run accepted input with no BenchmarkCompare lines")
	}
}
