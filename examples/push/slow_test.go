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

	"github.com/shoalnet/shoal/examples/push/client"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/server"
)

// writeBody frames and writes one request on a raw connection.
func writeBody(t *testing.T, nc net.Conn, b *proto.Body) {
	t.Helper()
	body, err := proto.AppendBody(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		t.Fatal(err)
	}
}

// TestSilentSubscriberClosedSlow: a subscriber that never reads is closed
// by the node once more than -max-pending bytes wait for it, with an ERR
// req=0 code slow as its last frame, while a reading subscriber gets every
// message and the publisher every ACK.
func TestSilentSubscriberClosedSlow(t *testing.T) { forEachEngine(t, testSilentSubscriber) }

func testSilentSubscriber(t *testing.T, eng server.Option) {
	cfg := defaultConfig()
	cfg.maxPending, cfg.sndBuf = 64<<10, 16<<10
	addr, _, h := startPush(t, cfg, eng)

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	writeBody(t, silent, &proto.Body{Type: proto.TypeSub, Req: 1, Topic: []byte("t")})
	reader := dial(t, addr)
	if _, err := reader.Subscribe(ctxT(t), "t"); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, addr)
	waitFor(t, "both subscribed", func() bool { return h.node.Subscribers("t") == 2 })

	// Rounds of eight publishes, each read by the reader before the
	// next: the reader's queue stays small, the silent one's grows.
	const total, round = 1000, 8 // 1 MiB to the silent one: sixteen times -max-pending
	payload := make([]byte, 1<<10)
	var acked atomic.Int64
	for i := 0; i < total; i += round {
		for range round {
			if err := pub.PublishAsync("t", payload, func(_ int, err error) {
				if err == nil {
					acked.Add(1)
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		for k := range round {
			if m := next(t, reader); len(m.Payload) != len(payload) || m.Seq != uint64(i+k+1) {
				t.Fatalf("message %d: %d bytes, seq %d", i+k, len(m.Payload), m.Seq)
			}
		}
	}
	waitFor(t, "every publish acknowledged", func() bool { return acked.Load() == total })

	// What the silent one was sent: its ACK, messages, then ERR slow.
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(silent)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the silent subscriber was not closed: %v", err)
	}
	var last proto.Body
	msgs := 0
	for len(got) >= 4 {
		n := int(binary.BigEndian.Uint32(got))
		if len(got) < 4+n {
			break
		}
		b, err := proto.Decode(got[4 : 4+n])
		if err != nil {
			t.Fatalf("frame %d: %v", msgs, err)
		}
		if b.Type == proto.TypeMsg {
			msgs++
		}
		last, got = b, got[4+n:]
	}
	if last.Type != proto.TypeErr || last.Req != 0 || last.Code != proto.CodeSlow {
		t.Fatalf("the silent subscriber's last frame: %+v after %d messages, want ERR slow", last, msgs)
	}
	if msgs >= total {
		t.Fatalf("the silent subscriber got all %d messages", msgs)
	}
	if ps := h.node.Stats(); ps.Slow != 1 {
		t.Fatalf("node stats %+v: want one slow subscriber", ps)
	}
}

// TestPublishFloodHeldInTheSocket: a publisher that writes PUBs without
// waiting for answers is not read while -max-inflight of them are
// unanswered, so its flood waits in its socket, not in the server; every
// PUB is answered, in order, and every message delivered.
func TestPublishFloodHeldInTheSocket(t *testing.T) { forEachEngine(t, testPublishFlood) }

func testPublishFlood(t *testing.T, eng server.Option) {
	cfg := defaultConfig()
	cfg.maxInFlight = 4 // the node's limit too: a PUB read past it would get ERR limit
	addr, _, h := startPush(t, cfg, eng)
	const total = 3000
	reader := dial(t, addr, client.WithMessageBuffer(total))
	if _, err := reader.Subscribe(ctxT(t), "flood"); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var flood []byte // every PUB in one buffer, written at once
	for i := range total {
		body, _ := proto.AppendBody(nil, &proto.Body{Type: proto.TypePub, Req: uint32(i + 1), Topic: []byte("flood"),
			Payload: binary.BigEndian.AppendUint32(nil, uint32(i))})
		flood = append(append(flood, binary.BigEndian.AppendUint32(nil, uint32(len(body)))...), body...)
	}
	go nc.Write(flood)
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	hdr := make([]byte, 4)
	for i := range total {
		if _, err := io.ReadFull(nc, hdr); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr))
		if _, err := io.ReadFull(nc, body); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, err := proto.Decode(body)
		if err != nil || b.Type != proto.TypeAck || b.Req != uint32(i+1) || b.Count != 1 {
			t.Fatalf("answer %d: %+v, %v; want ACK %d with count 1", i, b, err, i+1)
		}
	}
	for i := range total {
		if m := next(t, reader); binary.BigEndian.Uint32(m.Payload) != uint32(i) {
			t.Fatalf("message %d: %x", i, m.Payload)
		}
	}
	if ps := h.node.Stats(); ps.Published != total {
		t.Fatalf("node stats %+v: want %d published", ps, total)
	}
}
