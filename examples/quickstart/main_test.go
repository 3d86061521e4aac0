package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestStoryReadsInOrder runs a short version of the story and checks what a
// reader relies on without the source: the table's header says the state is
// the state after the call, probes are marked, every log line has the
// table's time format, and each transition's log line follows the line of
// the call or operator action that caused it.
func TestStoryReadsInOrder(t *testing.T) {
	var out strings.Builder
	if err := run(&out, 300*time.Millisecond, 100*time.Millisecond, 10*time.Millisecond, 60); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	lines := strings.Split(text, "\n")
	// index returns the number of the first line matching re at or after
	// line from, or -1.
	index := func(re string, from int) int {
		r := regexp.MustCompile(re)
		for i := from; i < len(lines); i++ {
			if r.MatchString(lines[i]) {
				return i
			}
		}
		return -1
	}

	for _, tc := range []struct {
		name string
		// first, then: then must be the line right after first (next) or
		// somewhere after it.
		first, then string
		next        bool
	}{
		{name: "the header names the state after the call", first: `^TIME +# +KIND +STATE AFTER +RESULT$`},
		{name: "the trip follows the call that tripped", first: `^\+\d+\.\d\ds  \d\d  call   open +failed `, then: `^time=\+\d+\.\d\ds level=WARN .* event=trip `, next: true},
		{name: "a probe that fails is marked and followed by its transitions", first: `^\+\d+\.\d\ds  \d\d  probe  open +failed `, then: `event=probe from=open to=half_open`, next: true},
		{name: "the probe that closes is marked", first: `^\+\d+\.\d\ds  \d\d  probe  closed +ok `, then: `event=recover `, next: true},
		{name: "force_open is logged before the call it rejects", first: `event=force_open `, then: `^\+\d+\.\d\ds  --  call   open +rejected `, next: true},
		{name: "force_close is logged before the next call", first: `event=force_close `, then: `^\+\d+\.\d\ds  --  call   closed +ok `, next: true},
		{name: "the replay check passes", first: `^replay of the journal equals b.Snapshot\(\): true$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := index(tc.first, 0)
			if i < 0 {
				t.Fatalf("no line matches %q in:\n%s", tc.first, text)
			}
			if tc.then == "" {
				return
			}
			j := index(tc.then, i+1)
			if j < 0 || (tc.next && j != i+1) {
				t.Fatalf("line %d %q is not followed by a line matching %q (found at %d) in:\n%s", i+1, lines[i], tc.then, j+1, text)
			}
		})
	}
	t.Run("every log line has the table's time format", func(t *testing.T) {
		for _, l := range lines {
			if strings.Contains(l, "level=") && !regexp.MustCompile(`^time=\+\d+\.\d\ds level=`).MatchString(l) {
				t.Errorf("log line %q does not start with the table's time", l)
			}
		}
	})
}
