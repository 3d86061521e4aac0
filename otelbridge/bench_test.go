package otelbridge_test

import (
	"testing"
)

// pathNamed returns the hot path called name.
func pathNamed(b *testing.B, name string) hotPath {
	b.Helper()
	for _, h := range hotPaths {
		if h.name == name {
			return h
		}
	}
	b.Fatalf("no hot path %q", name)
	return hotPath{}
}

// benchPath measures calls through the path's breaker, with or without the
// bridge subscribed and observed.
func benchPath(b *testing.B, h hotPath, bridge bool) {
	br, ctx := h.setup(b, bridge)
	h.check(b, br.Do(ctx, h.fn))
	b.ReportAllocs()
	for b.Loop() {
		_ = br.Do(ctx, h.fn)
	}
}

// BenchmarkBridge compares, in one run, the call path of a plain breaker
// with that of a breaker with the bridge subscribed and observed on the real
// SDK: a success in closed and a rejection in open, without a span.
func BenchmarkBridge(b *testing.B) {
	for _, c := range []struct{ name, path string }{
		{"closed-success", "closed success"},
		{"open-reject", "rejected call, no span"},
	} {
		h := pathNamed(b, c.path)
		b.Run(c.name, func(b *testing.B) {
			b.Run("plain", func(b *testing.B) { benchPath(b, h, false) })
			b.Run("bridge", func(b *testing.B) { benchPath(b, h, true) })
		})
	}
}

// BenchmarkRejectedUnsampled measures a rejected call whose span is not
// sampled, with the bridge: one IsRecording check, no allocation.
func BenchmarkRejectedUnsampled(b *testing.B) {
	benchPath(b, pathNamed(b, "rejected call, unsampled span"), true)
}

// BenchmarkClosedWithBridge measures a success in closed with the bridge
// subscribed and observed.
func BenchmarkClosedWithBridge(b *testing.B) {
	benchPath(b, pathNamed(b, "closed success"), true)
}
