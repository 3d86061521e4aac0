package machine_test

import (
	"testing"

	"github.com/circuitry-go/circuitry/machine"
)

// BenchmarkNew measures making a breaker with the defaults, over the
// in-memory journal it makes itself, that has not taken a call: what a
// registry of breakers per key pays for each key it meets.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := machine.New("bench"); err != nil {
			b.Fatal(err)
		}
	}
}
