//go:build race

package grpcbreaker_test

// raceEnabled: sync.Pool drops items at random under the race detector,
// so allocation counts do not hold.
const raceEnabled = true
