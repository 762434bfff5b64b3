package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/push/client"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/server"
)

// TestShutdownSaysGoodbye: Shutdown gives every connection the messages
// queued for it and a GOAWAY with the configured hint, then closes it
// cleanly; publishing stops; Shutdown returns nil well before its deadline.
func TestShutdownSaysGoodbye(t *testing.T) { forEachEngine(t, testShutdownSaysGoodbye) }

func testShutdownSaysGoodbye(t *testing.T, eng server.Option) {
	cfg := defaultConfig()
	cfg.goAwayRetry, cfg.goAwayAddr = 1500*time.Millisecond, "127.0.0.1:9200"
	addr, s, h := startPush(t, cfg, eng, server.WithDrainQuiet(20*time.Millisecond))
	ctx := ctxT(t)
	subs := []*client.Client{dial(t, addr, client.WithMessageBuffer(1000)), dial(t, addr, client.WithMessageBuffer(1000))}
	for _, c := range subs {
		if _, err := c.Subscribe(ctx, "news"); err != nil {
			t.Fatal(err)
		}
	}
	pub := dial(t, addr)
	const published = 500
	for i := range published {
		if n, err := pub.Publish(ctx, "news", binary.BigEndian.AppendUint32(nil, uint32(i))); n != 2 || err != nil {
			t.Fatalf("publish %d: %d, %v", i, n, err)
		}
	}

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
	}
	want := client.GoAway{RetryAfter: 1500 * time.Millisecond, Addr: "127.0.0.1:9200"}
	for i, c := range append(subs, pub) {
		<-c.Done()
		if g, ok := c.GoAway(); !ok || g != want {
			t.Fatalf("client %d: GoAway() = %+v, %v; want %+v", i, g, ok, want)
		}
		if err := c.Err(); !errors.Is(err, client.ErrGoingAway) {
			t.Fatalf("client %d: Err() = %v, want ErrGoingAway (a clean close)", i, err)
		}
	}
	for i, c := range subs {
		got := 0
		for m := range c.Messages() {
			if k := binary.BigEndian.Uint32(m.Payload); k != uint32(got) {
				t.Fatalf("subscriber %d: message %d, want %d", i, k, got)
			}
			got++
		}
		if got != published {
			t.Fatalf("subscriber %d: %d messages before the GOAWAY, want %d", i, got, published)
		}
	}
	if _, err := h.node.Publish(ctx, "news", nil, pubsub.ClientInfo{}); !errors.Is(err, pubsub.ErrDraining) {
		t.Fatalf("Publish after Shutdown: %v, want ErrDraining", err)
	}
	if n := h.goAways.Load(); n != 3 {
		t.Fatalf("%d GOAWAYs written, want 3", n)
	}
}

// TestGoodbyeDropsAnIncompleteRequest: a request that is half read when
// the goodbye comes is dropped, not answered, and does not hold up the
// drain: the connection gets the GOAWAY and a clean close at once.
func TestGoodbyeDropsAnIncompleteRequest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		addr, s, _ := startPush(t, defaultConfig(), eng, server.WithDrainQuiet(20*time.Millisecond))
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ping, _ := proto.AppendBody(nil, &proto.Body{Type: proto.TypePing, Req: 1, Token: 7})
		whole := append(binary.BigEndian.AppendUint32(nil, uint32(len(ping))), ping...)
		nc.Write(append(whole, whole[:6]...)) // one PING, and the start of another
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		pong := make([]byte, 4+13)
		if _, err := io.ReadFull(nc, pong); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the partial PING has reached the server

		type result struct {
			rest []byte
			err  error
		}
		read := make(chan result, 1)
		go func() {
			rest, err := io.ReadAll(nc) // the GOAWAY, then a clean EOF
			nc.Close()                  // the FIN the server waits for
			read <- result{rest, err}
		}()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := s.Shutdown(sctx); err != nil {
			t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
		}
		r := <-read
		rest, err := r.rest, r.err
		if err != nil {
			t.Fatalf("after the PONG: %x, %v", rest, err)
		}
		body := proto.AppendGoAway(nil, uint32(time.Second/time.Millisecond), "")
		if want := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...); string(rest) != string(want) {
			t.Fatalf("after the PONG: %x, want the GOAWAY %x alone", rest, want)
		}
	})
}
