package server

import (
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// streamer writes a numbered stream of blocks with TryWrite from OnWake
// and OnWritable, outside any read, as a fan-out hub flushing its backlog
// does; it counts the refusals and the largest engine queue it saw.
type streamer struct {
	NopHandler
	blocks, size int
	sent         atomic.Int64 // blocks queued
	refused      atomic.Int64 // TryWrite calls refused with ErrWouldBlock
	writables    atomic.Int64
	other        atomic.Pointer[error] // a TryWrite error other than ErrWouldBlock
	srv          atomic.Pointer[Server]
	peak         atomic.Int64 // the most the engine buffered, seen after each write
}

func (h *streamer) OnOpen(c Conn) { c.Wake() }

func (h *streamer) OnWake(c Conn) {
	buf := make([]byte, h.size)
	for int(h.sent.Load()) < h.blocks {
		binary.BigEndian.PutUint64(buf, uint64(h.sent.Load()))
		if _, err := c.TryWrite(buf); err != nil {
			if errors.Is(err, ErrWouldBlock) {
				h.refused.Add(1)
			} else {
				h.other.Store(&err)
			}
			return
		}
		h.sent.Add(1)
		if s := h.srv.Load(); s != nil {
			if st := s.Stats(); st.OutboundBytes > h.peak.Load() {
				h.peak.Store(st.OutboundBytes)
			}
		}
	}
	c.CloseWrite()
}

func (h *streamer) OnWritable(c Conn) { h.writables.Add(1); h.OnWake(c) }

// TestTryWriteWaitsForTheBudget: a writer flushing 16 MiB (far more than
// the kernel buffers) with TryWrite to
// a peer that reads nothing for a while, under a 1 MiB memory budget, is
// refused before the engine buffers more than the budget, nothing is shed,
// OnWritable calls it back once the budget has room, and the peer gets the
// whole stream, in order.
func TestTryWriteWaitsForTheBudget(t *testing.T) {
	const budget, blocks, size = 1 << 20, 1024, 16 << 10
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &streamer{blocks: blocks, size: size}
		s, addr := start(t, h, eng, WithLoops(1), WithMemoryBudget(budget))
		h.srv.Store(s)
		// The kernel's buffers are left as they are: buffers smaller than
		// loopback's 64 KiB segments stall TCP on zero windows, whatever the
		// server does.
		nc := dial(t, addr)
		waitFor(t, func() bool { return h.refused.Load() > 0 })
		time.Sleep(50 * time.Millisecond) // not reading: what the budget refused stays refused
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		block := make([]byte, size)
		for i := range blocks {
			if _, err := io.ReadFull(nc, block); err != nil {
				t.Fatalf("block %d: %v (%d queued, %d refused, %d OnWritable)", i, err, h.sent.Load(), h.refused.Load(), h.writables.Load())
			}
			if n := binary.BigEndian.Uint64(block); n != uint64(i) {
				t.Fatalf("block %d: got block %d", i, n)
			}
		}
		if _, err := nc.Read(block); err != io.EOF {
			t.Fatalf("after the stream: %v, want EOF", err)
		}
		if p := h.other.Load(); p != nil {
			t.Fatalf("TryWrite: %v", *p)
		}
		st := s.Stats()
		if st.SlowConsumers != 0 || h.writables.Load() == 0 || h.peak.Load() > budget {
			t.Fatalf("%d slow consumers, %d OnWritable, peak %d bytes queued (budget %d); %d refusals",
				st.SlowConsumers, h.writables.Load(), h.peak.Load(), budget, h.refused.Load())
		}
		t.Logf("%d refusals, %d OnWritable, peak %d KiB queued", h.refused.Load(), h.writables.Load(), h.peak.Load()>>10)
	})
}
