// Package bench measures circuitry against the Go circuit breakers its users
// compare it with, in one run: sony/gobreaker/v2, failsafe-go (its standalone
// permit API and its executor) and eapache/go-resiliency. It is a separate
// module so that the library's own go.mod never requires a competitor.
//
// Run ./compare from this directory for the table with ratios; the raw
// benchmarks are
//
//	go test -run '^$' -bench . -benchmem -count 6
package bench
