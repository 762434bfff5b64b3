package server

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connList records the connections a server opens.
type connList struct {
	NopHandler
	mu    sync.Mutex
	conns []Conn
}

func (h *connList) OnOpen(c Conn) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
}

// wait returns the first n connections once they are open.
func (h *connList) wait(t testing.TB, n int) []Conn {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		h.mu.Lock()
		got := len(h.conns)
		h.mu.Unlock()
		if got >= n {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.conns[:n:n]
		}
	}
	t.Fatalf("%d connections did not open", n)
	return nil
}

// onLoop runs f on c's loop and waits for it.
func onLoop(t testing.TB, c Conn, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := c.Loop().Execute(func() { f(); close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
}

// waitFreed waits for a Shared's free function to have run once.
func waitFreed(t testing.TB, freed *atomic.Int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); freed.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := freed.Load(); n != 1 {
		t.Fatalf("free ran %d times, want 1", n)
	}
}

// TestWriteShared queues one Shared between two copied writes on many
// connections: each client gets the bytes in order, nothing written after
// the Shared lands in its buffer, and the last connection to send it
// frees it.
func TestWriteShared(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &connList{}
		srv, addr := start(t, h, eng, WithSocketBuffers(256<<10, 0)) // the kernel takes at most about 1 MiB of each
		const n = 50
		clients := make([]net.Conn, n)
		for i := range clients {
			clients[i] = dial(t, addr)
		}
		msg := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
		var freed atomic.Int32
		s := NewShared(bytes.Clone(msg), func([]byte) { freed.Add(1) })
		for _, c := range h.wait(t, n) {
			onLoop(t, c, func() {
				c.Write([]byte("<"))
				if k, err := c.WriteShared(s); k != len(msg) || err != nil {
					t.Errorf("WriteShared: %d, %v", k, err)
				}
				c.Write([]byte(">"))
			})
		}
		s.Release() // the owner's reference: the connections still hold theirs
		want := append(append([]byte("<"), msg...), '>')
		got := make([]byte, len(want))
		for i, nc := range clients {
			readFull(t, nc, got)
			if !bytes.Equal(got, want) {
				t.Fatalf("client %d: wrong bytes", i)
			}
		}
		waitFreed(t, &freed)
		if !bytes.Equal(s.Bytes(), nil) {
			t.Fatal("Bytes after the last Release")
		}
		waitOutbound(t, srv, 0) // what the budget counted for the Shared is given back as it is sent
	})
}

// waitOutbound waits for the server's OutboundBytes to reach want.
func waitOutbound(t testing.TB, s *Server, want int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.OutboundBytes() != want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := s.OutboundBytes(); got != want {
		t.Fatalf("OutboundBytes %d, want %d", got, want)
	}
}

// TestWriteSharedClose: connections that close with a Shared still queued
// (their peers stopped reading, then reset) release it. While it is
// queued, the memory budget counts its bytes once and an entry per
// connection holding it.
func TestWriteSharedClose(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &connList{}
		srv, addr := start(t, h, eng, WithSocketBuffers(256<<10, 0)) // the kernel takes at most about 1 MiB of each
		const n = 5
		var clients []net.Conn
		for range n {
			clients = append(clients, dial(t, addr))
		}
		var freed atomic.Int32
		s := NewShared(make([]byte, 8<<20), func([]byte) { freed.Add(1) })
		conns := h.wait(t, n)
		for _, c := range conns {
			onLoop(t, c, func() { c.WriteShared(s) })
		}
		s.Release()
		for _, c := range conns {
			onLoop(t, c, func() {
				if c.OutboundBuffered() == 0 {
					t.Error("8 MiB sent to a peer that does not read")
				}
			})
		}
		// What is in memory: the bytes once, an entry per holder.
		if got, want := srv.OutboundBytes(), int64(8<<20+n*32); got != want {
			t.Errorf("OutboundBytes %d, want %d: the Shared once, 32 per holder", got, want)
		}
		for _, nc := range clients {
			nc.Close() // unread input: a reset, and the server's writes fail
		}
		waitFreed(t, &freed)
		waitOutbound(t, srv, 0)
	})
}
