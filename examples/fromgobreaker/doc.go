// Package fromgobreaker holds the two patterns most ports from
// github.com/sony/gobreaker meet, written with circuitry: a registry of one
// breaker per host, as a proxy keeps, and an HTTP middleware that protects a
// handler, as an API gateway has. docs/migrating-from-gobreaker.md walks
// through the port; the examples of this package run them:
//
//	go test -v -run Example ./examples/fromgobreaker
package fromgobreaker
