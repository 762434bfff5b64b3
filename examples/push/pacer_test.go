package main

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/server"
)

// TestPublisherHeldBackThenStalledShed: with a small publish budget, a
// publisher flooding a topic with a silent subscriber is held back (its
// publishes stop being read); after the stall time the silent subscriber
// is closed as a slow consumer, and the publisher is read again. The
// reading subscriber gets every message in order.
//
// Both engines: the portable one queues output in the same loops, its
// writer goroutine holding at most one write in place of the kernel's
// send buffer, so the budget bounds the same queues.
func TestPublisherHeldBackThenStalledShed(t *testing.T) { forEachEngine(t, testPacer) }

func testPacer(t *testing.T, eng server.Option) {
	cfg := defaultConfig()
	cfg.pubBudget, cfg.stall, cfg.sndBuf = 256<<10, 500*time.Millisecond, 16<<10
	addr, s, h := startPush(t, cfg, eng)

	// The silent subscriber: SUB, then never read, with a small receive
	// window set before connecting.
	d := net.Dialer{Timeout: 5 * time.Second}
	silent, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.(*net.TCPConn).SetReadBuffer(4 << 10)
	body, err := proto.AppendBody(nil, &proto.Body{Type: proto.TypeSub, Req: 1, Topic: []byte("t")})
	if err != nil {
		t.Fatal(err)
	}
	silent.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...))

	reader := dial(t, addr)
	if _, err := reader.Subscribe(ctxT(t), "t"); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, addr)
	// The reader is subscribed already, so it gets every warm-up, also
	// those published before the silent SUB was read: consume them all.
	warmUps := 0
	waitFor(t, "both subscribed", func() bool {
		n, err := pub.Publish(ctxT(t), "t", []byte("warm-up"))
		if err != nil {
			t.Fatal(err)
		}
		warmUps++
		return n == 2
	})
	for range warmUps {
		if m := next(t, reader); string(m.Payload) != "warm-up" {
			t.Fatalf("want a warm-up, got %d bytes", len(m.Payload))
		}
	}

	const total = 2000 // 2 MiB to the silent one: far above the budget
	payload := make([]byte, 1<<10)
	var acked atomic.Int64
	done := make(chan struct{})
	sem := make(chan struct{}, 8)
	go func() {
		defer close(done)
		for range total {
			sem <- struct{}{}
			if err := pub.PublishAsync("t", payload, func(_ int, err error) {
				if err == nil {
					acked.Add(1)
				}
				<-sem
			}); err != nil {
				return
			}
		}
	}()
	for i := range total {
		m := next(t, reader)
		if len(m.Payload) != len(payload) {
			t.Fatalf("message %d: %d bytes", i, len(m.Payload))
		}
	}
	<-done
	waitFor(t, "every publish acknowledged", func() bool { return acked.Load() == total })
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, silent); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the silent subscriber was not closed: %v", err)
	}
	if h.pace.holds() == 0 || h.pace.stalledClosed() != 1 {
		t.Fatalf("publisher held %d times; %d stalled subscribers closed, want 1; %+v", h.pace.holds(), h.pace.stalledClosed(), s.Stats())
	}
}
