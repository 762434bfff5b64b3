package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestThrottlePausesReadsAndAccepts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		s, addr := start(t, echoHandler{}, eng)
		c := dial(t, addr)
		if err := echoRoundTrip(c, []byte("before")); err != nil {
			t.Fatal(err)
		}
		s.Throttle(true)
		time.Sleep(50 * time.Millisecond) // the loops apply it
		c.Write([]byte("during"))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(make([]byte, 6)); err == nil {
			t.Fatalf("echoed %d bytes while throttled", n)
		}
		late := dial(t, addr) // completes in the kernel's backlog
		time.Sleep(100 * time.Millisecond)
		if st := s.Stats(); st.Accepted != 1 {
			t.Fatalf("accepted %d while throttled, want 1", st.Accepted)
		}
		s.Throttle(false)
		got := make([]byte, 6)
		readFull(t, c, got)
		if string(got) != "during" {
			t.Fatalf("after resume: %q", got)
		}
		if err := echoRoundTrip(late, []byte("late")); err != nil {
			t.Fatal(err)
		}
	})
}

// chunkBlaster answers a decimal size with that many bytes in 64 KiB writes.
type chunkBlaster struct{ closeRecorder }

func (h *chunkBlaster) OnData(c Conn) {
	b, _ := c.Next(0)
	var n int
	fmt.Sscanf(string(b), "%d", &n)
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < n; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

func TestShedSlowConsumersLargestFirst(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &chunkBlaster{*newCloseRecorder()}
		s, addr := start(t, h, eng, WithSocketBuffers(16<<10, 16<<10), WithWatermarks(8<<20, 1<<20))
		sizes := []int{1 << 20, 3 << 20, 2 << 20}
		conns := make([]Conn, len(sizes))
		for i, n := range sizes {
			nc := dial(t, addr)
			nc.(*net.TCPConn).SetReadBuffer(4096)
			conns[i] = <-h.opened
			fmt.Fprintf(nc, "%d", n) // then never read
		}
		healthy := dial(t, addr)
		<-h.opened
		time.Sleep(200 * time.Millisecond)
		closed, freed := s.ShedSlowConsumers(context.Background(), 2<<20)
		if closed != 1 || freed < 2<<20 {
			t.Fatalf("shed %d connections freeing %d bytes; want the 3 MiB one", closed, freed)
		}
		if errs := h.waitClosed(t, conns[1]); len(errs) != 1 || !errors.Is(errs[0], ErrSlowConsumer) {
			t.Fatalf("largest consumer closed with %v", errs)
		}
		fmt.Fprintf(healthy, "%d", 100) // still served
		if st := s.Stats(); st.Conns != 3 {
			t.Fatalf("%d connections open, want 3", st.Conns)
		}
	})
}

func TestOutboundBudget(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &chunkBlaster{*newCloseRecorder()}
		s, addr := start(t, h, eng, WithSocketBuffers(16<<10, 16<<10), WithOutboundBudget(3<<20))
		first := dial(t, addr)
		first.(*net.TCPConn).SetReadBuffer(4096)
		c1 := <-h.opened
		fmt.Fprintf(first, "%d", 2<<20) // within budget and watermark
		time.Sleep(100 * time.Millisecond)
		second := dial(t, addr)
		second.(*net.TCPConn).SetReadBuffer(4096)
		c2 := <-h.opened
		fmt.Fprintf(second, "%d", 2<<20) // would pass the 3 MiB budget
		if errs := h.waitClosed(t, c2); len(errs) != 1 || !errors.Is(errs[0], ErrSlowConsumer) {
			t.Fatalf("second consumer closed with %v, want ErrSlowConsumer", errs)
		}
		h.mu.Lock()
		firstClosed := len(h.closes[c1])
		h.mu.Unlock()
		if firstClosed != 0 || s.Stats().OutboundBytes > 3<<20 {
			t.Fatalf("first closed %d times; outbound %d", firstClosed, s.Stats().OutboundBytes)
		}
	})
}

func TestShedStalledConsumers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &chunkBlaster{*newCloseRecorder()}
		s, addr := start(t, h, eng, WithSocketBuffers(16<<10, 16<<10), WithWatermarks(64<<20, 256<<10))
		silent := dial(t, addr)
		silent.(*net.TCPConn).SetReadBuffer(4096)
		stalled := <-h.opened
		fmt.Fprintf(silent, "%d", 2<<20) // then never read
		// A receive buffer much smaller than the loopback MSS would make
		// the kernel hold back window updates (silly-window avoidance) and
		// stall this reader for the persist timer.
		slow := dial(t, addr)
		slow.(*net.TCPConn).SetReadBuffer(128 << 10)
		moving := <-h.opened
		fmt.Fprintf(slow, "%d", 32<<20)
		stop := make(chan struct{})
		read := make(chan int64)
		go func() { // takes 32 KiB every 5 ms: far behind, but moving
			var n int64
			buf := make([]byte, 32<<10)
			defer func() { read <- n }()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				k, err := slow.Read(buf)
				n += int64(k)
				if err != nil {
					return
				}
			}
		}()
		time.Sleep(100 * time.Millisecond)
		if closed, _ := s.ShedStalledConsumers(context.Background(), time.Hour); closed != 0 {
			t.Fatalf("shed %d connections stalled for less than an hour", closed)
		}
		time.Sleep(1500 * time.Millisecond)
		closed, freed := s.ShedStalledConsumers(context.Background(), time.Second)
		close(stop)
		got := <-read
		if closed != 1 || freed < 1<<20 {
			t.Fatalf("shed %d connections freeing %d bytes (the moving one read %d); want the silent one", closed, freed, got)
		}
		if errs := h.waitClosed(t, stalled); len(errs) != 1 || !errors.Is(errs[0], ErrSlowConsumer) {
			t.Fatalf("stalled consumer closed with %v", errs)
		}
		h.mu.Lock()
		movingClosed := len(h.closes[moving])
		h.mu.Unlock()
		if movingClosed != 0 || got == 0 {
			t.Fatalf("the moving consumer (read %d bytes) was closed %d times", got, movingClosed)
		}
	})
}
