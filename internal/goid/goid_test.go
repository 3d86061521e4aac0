package goid_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/circuitry-go/circuitry/internal/goid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIDIsStableAndDistinct(t *testing.T) {
	me := goid.ID()
	if me == 0 {
		t.Fatal("ID() = 0")
	}
	if again := goid.ID(); again != me {
		t.Fatalf("ID() = %d, then %d on the same goroutine", me, again)
	}
	const n = 8
	ids := make(chan uint64, n)
	for range n {
		go func() { ids <- goid.ID() }()
	}
	seen := map[uint64]bool{me: true}
	for range n {
		id := <-ids
		if id == 0 || seen[id] {
			t.Fatalf("ID() = %d on another goroutine; seen %v", id, seen)
		}
		seen[id] = true
	}
}

func BenchmarkID(b *testing.B) {
	for b.Loop() {
		_ = goid.ID()
	}
}
