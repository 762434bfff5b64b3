//go:build !race

package server

import (
	"io"
	"testing"
)

// TestEchoPathAllocs checks that a steady echo round trip allocates
// nothing: not on the read path, not on the write path, not in the loop.
// The client side (std net Write and ReadFull) allocates nothing either, so
// the process-wide count is the engine's.
func TestEchoPathAllocs(t *testing.T) {
	_, addr := start(t, echoHandler{}, WithEngine(EngineLoops), WithLoops(1))
	c := dial(t, addr)
	msg := make([]byte, 64)
	got := make([]byte, 64)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		roundTrip() // warm the pools
	}
	if n := testing.AllocsPerRun(2000, roundTrip); n > 0.01 {
		t.Fatalf("%.3f allocations per echo round trip, want 0", n)
	}
}
