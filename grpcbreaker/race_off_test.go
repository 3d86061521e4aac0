//go:build !race

package grpcbreaker_test

const raceEnabled = false
