package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalnet/shoal/examples/push/client"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// forEachEngine runs f as a subtest per engine: the event loops where the
// platform has them, and the portable goroutine-per-connection engine.
func forEachEngine(t *testing.T, f func(t *testing.T, eng server.Option)) {
	if runtime.GOOS != "windows" {
		t.Run("loops", func(t *testing.T) { f(t, server.WithEngine(server.EngineLoops)) })
	}
	t.Run("portable", func(t *testing.T) { f(t, server.WithEngine(server.EnginePortable)) })
}

// startPush runs a push server on 127.0.0.1:0 until the test ends.
func startPush(t *testing.T, cfg config, extra ...server.Option) (string, *server.Server, *handler) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	s, h, err := newServer(cfg, log, extra...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		h.node.Close()
	})
	return ln.Addr().String(), s, h
}

func dial(t *testing.T, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// next returns the next message of c, failing after 5s.
func next(t *testing.T, c *client.Client) client.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("connection ended: %v", c.Err())
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return client.Message{}
}

// wantCode fails unless err is a server ERR with the code.
func wantCode(t *testing.T, what string, err error, code proto.Code) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: %v, want ERR %v", what, err, code)
	}
}

// TestRequests walks through every request and reply: SUB, UNSUB, PUB and
// PING; ACK counts; each ERR code a client can provoke.
func TestRequests(t *testing.T) { forEachEngine(t, testRequests) }

func testRequests(t *testing.T, eng server.Option) {
	cfg := defaultConfig()
	cfg.maxPayload, cfg.maxBody, cfg.maxTopics = 1024, 4096, 3
	addr, _, h := startPush(t, cfg, eng)
	ctx := ctxT(t)
	a, b := dial(t, addr), dial(t, addr)

	for _, st := range []struct {
		name string
		op   func() (int, error)
		want int
	}{
		{"a subscribes", func() (int, error) { return a.Subscribe(ctx, "news") }, 1},
		{"b subscribes", func() (int, error) { return b.Subscribe(ctx, "news") }, 2},
		{"b takes a second topic", func() (int, error) { return b.Subscribe(ctx, "sport") }, 1},
		{"a publishes to both", func() (int, error) { return a.Publish(ctx, "news", []byte("hello")) }, 2},
	} {
		if n, err := st.op(); n != st.want || err != nil {
			t.Fatalf("%s: %d, %v; want %d", st.name, n, err, st.want)
		}
	}
	for _, c := range []*client.Client{a, b} {
		if m := next(t, c); string(m.Topic) != "news" || string(m.Payload) != "hello" || m.Seq != 1 || m.Time == 0 {
			t.Fatalf("message %+v", m)
		}
	}
	if rtt, err := a.Ping(ctx); err != nil || rtt <= 0 {
		t.Fatalf("Ping: %v, %v", rtt, err)
	}

	_, err := a.Subscribe(ctx, "two words")
	wantCode(t, "SUB with a space", err, proto.CodeBadTopic)
	_, err = a.Subscribe(ctx, "")
	wantCode(t, "SUB of the empty topic", err, proto.CodeBadTopic)
	_, err = a.Subscribe(ctx, "news")
	wantCode(t, "SUB twice", err, proto.CodeAlreadySubscribed)
	_, err = a.Unsubscribe(ctx, "sport")
	wantCode(t, "UNSUB of another topic", err, proto.CodeNotSubscribed)
	_, err = a.Publish(ctx, "news", make([]byte, 1025))
	wantCode(t, "PUB above the payload limit", err, proto.CodePayloadTooLarge)
	_, err = a.Publish(ctx, "bad\ttopic", nil)
	wantCode(t, "PUB to a bad topic", err, proto.CodeBadTopic)
	for _, topic := range []string{"t1", "t2"} {
		if _, err := a.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	_, err = a.Subscribe(ctx, "t3")
	wantCode(t, "a fourth topic", err, proto.CodeTooManyTopics)

	if n, err := a.Unsubscribe(ctx, "news"); n != 1 || err != nil {
		t.Fatalf("UNSUB: %d, %v; want 1", n, err)
	}
	if n, err := b.Publish(ctx, "news", make([]byte, 1024)); n != 1 || err != nil {
		t.Fatalf("PUB of the largest payload after UNSUB: %d, %v; want 1", n, err)
	}
	if m := next(t, b); m.Seq != 2 || len(m.Payload) != 1024 {
		t.Fatalf("second message %+v", m)
	}
	if n, err := b.Publish(ctx, "nobody-listens", []byte("x")); n != 0 || err != nil {
		t.Fatalf("PUB without subscribers: %d, %v", n, err)
	}
	// a left before that publish was accepted, so nothing can be on its way.
	if len(a.Messages()) != 0 {
		t.Fatal("a got a message after UNSUB")
	}
	// Two publications had subscribers: one MSG frame each, whatever
	// loops their subscribers are on.
	if ps, e := h.node.Stats(), h.encodes.Load(); ps.Subscribers != 4 || ps.Published != 3 || e != 2 || ps.Delivered != 3 {
		t.Fatalf("node stats %+v, %d encodes", ps, e)
	}
	a.Close()
	if _, err := a.Ping(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Ping after Close: %v", err)
	}
	waitFor(t, "a's subscriptions to go", func() bool { return h.node.Stats().Subscribers == 2 })
}

// TestFanOutAcrossLoops publishes from three connections to three topics
// while subscribers on four loops listen to two topics each: each
// subscriber gets every message of its topics exactly once, in order per
// publisher, and each publish is encoded once.
func TestFanOutAcrossLoops(t *testing.T) { forEachEngine(t, testFanOutAcrossLoops) }

func testFanOutAcrossLoops(t *testing.T, eng server.Option) {
	const loops, subscribers, publishers, perPublisher = 4, 8, 3, 300
	topics := []string{"t0", "t1", "t2"}
	cfg := defaultConfig()
	cfg.loops = loops
	// One acceptor handing connections to the loops in turn puts the
	// subscribers on every loop.
	addr, s, h := startPush(t, cfg, eng, server.WithReusePort(false), server.WithBalance(server.RoundRobin))
	ctx := ctxT(t)

	subs := make([]*client.Client, subscribers)
	for i := range subs {
		subs[i] = dial(t, addr, client.WithMessageBuffer(publishers*perPublisher))
		for _, k := range []int{i % 3, (i + 1) % 3} {
			if _, err := subs[i].Subscribe(ctx, topics[k]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, l := range s.Stats().Loops {
		if l.Conns < 2 {
			t.Fatalf("loop %d serves %d connections, want subscribers on every loop", i, l.Conns)
		}
	}

	// Publisher p sends its message i to topic (p+i)%3; the payload says
	// who and which.
	var wg sync.WaitGroup
	var handed sync.Map // publisher -> total ACK count
	for p := range publishers {
		pub := dial(t, addr)
		wg.Go(func() {
			total := 0
			for i := range perPublisher {
				n, err := pub.Publish(ctx, topics[(p+i)%3], binary.BigEndian.AppendUint32([]byte{byte(p)}, uint32(i)))
				if err != nil {
					t.Error(err)
					return
				}
				total += n
			}
			handed.Store(p, total)
		})
	}
	wg.Wait()

	// Subscriber i listens to topics i%3 and (i+1)%3.
	want := 0
	perSub := make([]int, subscribers)
	for i := range subs {
		for p := range publishers {
			for k := range perPublisher {
				if to := (p + k) % 3; to == i%3 || to == (i+1)%3 {
					perSub[i]++
				}
			}
		}
		want += perSub[i]
	}
	got := 0
	handed.Range(func(_, v any) bool { got += v.(int); return true })
	if got != want {
		t.Fatalf("ACKs report %d deliveries, want %d", got, want)
	}
	for i, c := range subs {
		nextSeq := make([]uint32, publishers)
		for range perSub[i] {
			m := next(t, c)
			p, k := int(m.Payload[0]), binary.BigEndian.Uint32(m.Payload[1:])
			for nextSeq[p] < uint32(perPublisher) && (p+int(nextSeq[p]))%3 != i%3 && (p+int(nextSeq[p]))%3 != (i+1)%3 {
				nextSeq[p]++ // a message to a topic this subscriber does not have
			}
			if k != nextSeq[p] || string(m.Topic) != topics[(p+int(k))%3] {
				t.Fatalf("subscriber %d: publisher %d message %d on %s, want message %d", i, p, k, m.Topic, nextSeq[p])
			}
			nextSeq[p]++
		}
		select {
		case m := <-c.Messages():
			t.Fatalf("subscriber %d: an extra message %+v", i, m)
		default:
		}
	}
	// One MSG frame per publication, shared by the subscribers of every loop.
	if ps, e := h.node.Stats(), h.encodes.Load(); e != publishers*perPublisher || ps.Delivered != int64(want) {
		t.Fatalf("node stats %+v, %d encodes: want %d encodes (one per publish), %d delivered",
			ps, e, publishers*perPublisher, want)
	}
}

// TestMalformedClosesOnlyThatConnection sends bad input on raw
// connections: a body the protocol cannot decode, a server frame, and a
// frame above the limit. Each closes its own connection; a client on the
// same server keeps working.
func TestMalformedClosesOnlyThatConnection(t *testing.T) {
	cfg := defaultConfig()
	cfg.maxPayload, cfg.maxBody = 1024, 2048
	addr, s, h := startPush(t, cfg, server.WithLoops(1)) // all on one loop
	ctx := ctxT(t)
	good := dial(t, addr)
	if _, err := good.Subscribe(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	hdr := func(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	for _, tc := range []struct {
		name    string
		send    []byte
		wantErr bool // an ERR (code malformed) comes before the close
	}{
		{"unknown type", append(hdr(2), 0x09, 0), true},
		{"empty body", hdr(0), true},
		{"topic overruns", append(hdr(7), 0x01, 0, 0, 0, 1, 9, 'x'), true},
		{"a server frame", append(hdr(10), proto.AppendAck(nil, 1, proto.TypeSub, 1)...), true},
		{"frame above the limit", hdr(2049), false},
	} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// A valid PING first: its PONG is flushed before the close.
		ping, _ := proto.AppendBody(nil, &proto.Body{Type: proto.TypePing, Req: 1, Token: 7})
		nc.Write(append(append(hdr(len(ping)), ping...), tc.send...))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(nc)
		nc.Close()
		if err != nil {
			t.Fatalf("%s: read: %v (want the replies, then EOF)", tc.name, err)
		}
		pong := proto.AppendPong(nil, 1, 7)
		want := append(hdr(len(pong)), pong...)
		if !bytes.HasPrefix(got, want) {
			t.Fatalf("%s: got %x, want the PONG first", tc.name, got)
		}
		rest := got[len(want):]
		if !tc.wantErr {
			if len(rest) != 0 {
				t.Fatalf("%s: got %x after the PONG, want the close", tc.name, rest)
			}
			continue
		}
		b, err := proto.Decode(rest[4:])
		if err != nil || b.Type != proto.TypeErr || b.Req != 0 || b.Code != proto.CodeMalformed {
			t.Fatalf("%s: after the PONG %x (%+v, %v), want ERR malformed", tc.name, rest, b, err)
		}
	}
	if n, err := good.Publish(ctx, "news", []byte("still here")); n != 1 || err != nil {
		t.Fatalf("the good client after the bad ones: %d, %v", n, err)
	}
	if m := next(t, good); string(m.Payload) != "still here" {
		t.Fatalf("message %+v", m)
	}
	if st := s.Stats(); st.FrameErrors != 1 || h.protocolErrors.Load() != 4 {
		t.Fatalf("frame errors %d, protocol errors %d; want 1 and 4", st.FrameErrors, h.protocolErrors.Load())
	}
}

// TestClientSurvivesServerClose checks that a client learns of the
// server's close and fails requests in flight instead of hanging.
func TestClientSurvivesServerClose(t *testing.T) {
	addr, s, _ := startPush(t, defaultConfig())
	c := dial(t, addr)
	if _, err := c.Subscribe(ctxT(t), "news"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not notice the close")
	}
	if err := c.Err(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("Err() = %v", err)
	}
	if _, err := c.Ping(ctxT(t)); err == nil {
		t.Fatal("Ping on a closed connection succeeded")
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
