package audit

import (
	"context"
	"fmt"
	"io"

	"github.com/circuitry-go/circuitry/events"
)

func (c *Command) verify(args []string, stdout, stderr io.Writer) error {
	fs := c.newFlags("verify", stderr)
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	path := pos[0]
	f, err := c.open(path, stderr)
	if err != nil {
		return err
	}
	// Opening the journal checked every record it decodes; fold each
	// breaker the way a breaker resuming from the journal does, from its
	// snapshot.
	for _, name := range f.Breakers() {
		if _, err := events.Load(context.Background(), f, name); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	es, err := entries(f)
	if err != nil {
		return err
	}
	st := f.Counts()
	fmt.Fprintf(stdout, "%s: ok: %s, %s, %s", path,
		count(st.Breakers, "breaker"), count(st.Records, "transition record"), count(st.Snapshots, "snapshot record"))
	if len(es) > 0 {
		last := es[len(es)-1]
		fmt.Fprintf(stdout, "; latest transition %s %s #%d %s", tableTime(last.Time), last.Breaker, last.Seq, last.Event)
	}
	fmt.Fprintln(stdout)
	return nil
}

// count formats n things.
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
