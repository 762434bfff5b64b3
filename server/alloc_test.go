//go:build !race

package server

import (
	"io"
	"net"
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

// TestWriteSharedAllocs checks that a Shared queued on many connections
// costs no allocation per connection: one broadcast to 256 connections
// (the Shared, the loop task, the queue appends) allocates a few objects
// in all, however many connections take it.
func TestWriteSharedAllocs(t *testing.T) {
	h := &connList{}
	_, addr := start(t, h, WithEngine(EngineLoops), WithLoops(1))
	const n = 256
	clients := make([]net.Conn, n)
	for i := range clients {
		clients[i] = dial(t, addr)
	}
	conns := h.wait(t, n)
	msg := make([]byte, 512)
	got := make([]byte, len(msg))
	done := make(chan struct{})
	broadcast := func() {
		s := NewShared(msg, nil)
		conns[0].Loop().Execute(func() {
			for _, c := range conns {
				c.WriteShared(s)
			}
			s.Release()
			done <- struct{}{}
		})
		<-done
		for _, nc := range clients {
			if _, err := io.ReadFull(nc, got); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 20 {
		broadcast() // warm the pools
	}
	if a := testing.AllocsPerRun(200, broadcast); a > 4 {
		t.Logf("%.2f", a)
		t.Fatalf("%.2f allocations per broadcast to %d connections, want at most 4 (none per connection)", a, n)
	}
}
