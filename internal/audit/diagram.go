package audit

import (
	"fmt"
	"io"
	"strings"

	"github.com/circuitry-go/circuitry/machine"
)

func (c *Command) diagram(args []string, stdout, stderr io.Writer) error {
	fs := c.newFlags("diagram", stderr)
	name := fs.String("breaker", "", "start from this breaker's current state in FILE")
	pos, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	opts := []machine.Option{machine.WithErrorHandler(func(err error) { fmt.Fprintln(stderr, "note:", err) })}
	switch {
	case len(pos) == 0 && *name != "":
		return fmt.Errorf("%w: -breaker needs a journal FILE", errUsage)
	case len(pos) == 0:
		*name = "circuitry"
	default:
		f, err := c.open(pos[0], stderr)
		if err != nil {
			return err
		}
		if *name == "" {
			names := f.Breakers()
			if len(names) != 1 {
				return fmt.Errorf("%w: the journal holds %d breakers (%s): name one with -breaker", errUsage, len(names), strings.Join(names, ", "))
			}
			*name = names[0]
		} else if err := unknownBreakers(f, *name); err != nil {
			return err
		}
		// A breaker over the journal resumes from it; it makes no call, so
		// it never appends (and the journal is read-only anyway).
		opts = append(opts, machine.WithJournal(f))
	}
	b, err := machine.New(*name, opts...)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, b.Diagram())
	return nil
}
