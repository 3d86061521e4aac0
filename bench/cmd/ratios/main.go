// Command ratios reads `go test -bench` output for BenchmarkCompare (several
// -count runs) on standard input and prints one table: each scenario, each
// library, the median ns/op and allocs/op, and the ratios of each library to
// gobreaker and to eapache measured in the same run.
//
//	go test -run '^$' -bench Compare -benchmem -count 6 | go run ./cmd/ratios
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// BenchmarkCompare/<scenario>/<library>-<procs>  N  x ns/op  y B/op  z allocs/op
var line = regexp.MustCompile(`^BenchmarkCompare/([^/\s]+)/([^\s]+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?`)

type key struct{ scenario, library string }

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
}

func run(r io.Reader, w io.Writer) error {
	ns := map[key][]float64{}
	allocs := map[key][]float64{}
	var scenarios, libraries []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		k := key{m[1], m[2]}
		if !slices.Contains(scenarios, k.scenario) {
			scenarios = append(scenarios, k.scenario)
		}
		if !slices.Contains(libraries, k.library) {
			libraries = append(libraries, k.library)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return fmt.Errorf("ns/op %q: %w", m[3], err)
		}
		ns[k] = append(ns[k], v)
		if m[5] != "" {
			a, err := strconv.ParseFloat(m[5], 64)
			if err != nil {
				return fmt.Errorf("allocs/op %q: %w", m[5], err)
			}
			allocs[k] = append(allocs[k], a)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(ns) == 0 {
		return fmt.Errorf("no BenchmarkCompare lines on standard input")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tlibrary\tns/op (median)\truns\tallocs/op\tx gobreaker\tx eapache\t")
	for _, s := range scenarios {
		for _, l := range libraries {
			k := key{s, l}
			if len(ns[k]) == 0 {
				continue
			}
			med := median(ns[k])
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%s\t%s\t%s\t\n", s, l, med, len(ns[k]),
				formatMedian(allocs[k]), ratio(med, ns[key{s, "gobreaker"}]), ratio(med, ns[key{s, "eapache"}]))
		}
	}
	return tw.Flush()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func ratio(med float64, peer []float64) string {
	if len(peer) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", med/median(peer))
}

func formatMedian(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", median(v)), "0"), ".")
}
