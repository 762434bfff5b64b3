//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/internal/proctest"
	"github.com/shoalnet/shoal/examples/push/client"
	"github.com/shoalnet/shoal/examples/push/proto"
)

// proc is a running push server binary.
type proc struct {
	*proctest.Proc
	addr  string // the push listener
	admin string // the admin listener, with -admin
}

// startBinary builds the server and runs it on 127.0.0.1:0 with args; it
// is killed when the test ends, if still running.
func startBinary(t *testing.T, args ...string) *proc {
	t.Helper()
	wait := []string{"push server listening"}
	if strings.Contains(strings.Join(args, " "), "-admin") {
		wait = append(wait, "admin endpoints listening")
	}
	p := proctest.Start(t, proctest.Build(t, "."), wait, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	return &proc{Proc: p, addr: p.Addrs["push server listening"], admin: p.Addrs["admin endpoints listening"]}
}

// TestPushBinary runs the server with the admin endpoints, publishes
// through it and stops it with SIGTERM: readiness goes down during the
// pre-drain delay, and the process exits 0.
func TestPushBinary(t *testing.T) {
	p := startBinary(t, "-loops", "2", "-admin", "127.0.0.1:0", "-pre-drain", "300ms")
	ready := func() int {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ready(); code != http.StatusOK {
		t.Fatalf("/readyz %d before the signal", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Dial(ctx, p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := client.Dial(ctx, p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := sub.Subscribe(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if n, err := pub.Publish(ctx, "news", []byte("hello")); n != 1 || err != nil {
		t.Fatalf("Publish: %d, %v", n, err)
	}
	if m := <-sub.Messages(); string(m.Payload) != "hello" {
		t.Fatalf("message %+v", m)
	}

	p.Cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond) // within the pre-drain delay
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d after the signal, want 503", code)
	}
	if code := p.ExitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d; logs:\n%s", code, p.Logs.String())
	}
	<-sub.Done()
	if err := sub.Err(); !errors.Is(err, client.ErrGoingAway) {
		t.Fatalf("subscriber: %v, want ErrGoingAway", err)
	}
}

// delivery is one message as the acceptance test's publishers number them.
type delivery struct {
	pub byte
	seq uint32
}

func payload(pub byte, seq uint32) []byte { return binary.BigEndian.AppendUint32([]byte{pub}, seq) }

func parsePayload(b []byte) delivery {
	if len(b) != 5 {
		return delivery{pub: 0xff}
	}
	return delivery{b[0], binary.BigEndian.Uint32(b[1:])}
}

// subscriber records what one subscriber received. got and err are
// written by its reading goroutine and read after done is closed.
type subscriber struct {
	raw    bool
	got    []delivery
	goAway bool  // a GOAWAY arrived, after every delivery in got
	err    error // nil: a clean EOF right after the GOAWAY, and nothing else after it
	done   chan struct{}
}

// subscribeClient subscribes with the Go client; its handler records the
// messages. The client itself fails the connection on anything after a
// GOAWAY and reports a clean close after one as ErrGoingAway.
func subscribeClient(ctx context.Context, addr string, local net.Addr, topic string) (*subscriber, error) {
	s := &subscriber{done: make(chan struct{})}
	c, err := client.Dial(ctx, addr, client.WithLocalAddr(local),
		client.WithHandler(func(m client.Message) { s.got = append(s.got, parsePayload(m.Payload)) }))
	if err != nil {
		return nil, err
	}
	if _, err := c.Subscribe(ctx, topic); err != nil {
		c.Close()
		return nil, err
	}
	go func() {
		<-c.Done()
		_, s.goAway = c.GoAway()
		if err := c.Err(); !errors.Is(err, client.ErrGoingAway) {
			s.err = err
		}
		close(s.done)
	}()
	return s, nil
}

// subscribeRaw subscribes over a bare TCP connection and checks the wire
// itself: MSG frames, one GOAWAY, then EOF (not a reset) and no byte after
// the GOAWAY.
func subscribeRaw(addr string, local net.Addr, topic string) (*subscriber, error) {
	d := net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	sub, _ := proto.AppendBody(nil, &proto.Body{Type: proto.TypeSub, Req: 1, Topic: []byte(topic)})
	if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(sub))), sub...)); err != nil {
		nc.Close()
		return nil, err
	}
	s := &subscriber{raw: true, done: make(chan struct{})}
	acked := make(chan error, 1)
	go func() {
		defer close(s.done)
		defer nc.Close() // after the server's FIN: the FIN it waits for
		s.err = s.readRaw(nc, acked)
	}()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := <-acked; err != nil {
		nc.Close()
		<-s.done
		return nil, err
	}
	nc.SetReadDeadline(time.Time{})
	return s, nil
}

func (s *subscriber) readRaw(nc net.Conn, acked chan<- error) error {
	r := bufio.NewReaderSize(nc, 64<<10)
	hdr := make([]byte, 4)
	var body []byte
	for first := true; ; first = false {
		if _, err := io.ReadFull(r, hdr); err != nil {
			switch {
			case first:
				acked <- err
				return err
			case err == io.EOF && s.goAway:
				return nil // the clean end
			}
			return fmt.Errorf("read after %d messages (GOAWAY %v): %w", len(s.got), s.goAway, err)
		}
		if s.goAway {
			return fmt.Errorf("bytes after the GOAWAY")
		}
		body = append(body[:0], make([]byte, binary.BigEndian.Uint32(hdr))...)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		b, err := proto.Decode(body)
		switch {
		case err != nil:
			return err
		case first && (b.Type != proto.TypeAck || b.Req != 1):
			err := fmt.Errorf("reply to SUB: %v %+v", b.Type, b)
			acked <- err
			return err
		case first:
			acked <- nil
		case b.Type == proto.TypeMsg:
			s.got = append(s.got, parsePayload(b.Payload))
		case b.Type == proto.TypeGoAway:
			s.goAway = true
		default:
			return fmt.Errorf("unexpected %v", b.Type)
		}
	}
}

// publisher records what one publisher got acknowledged.
type publisher struct {
	mu      sync.Mutex // guards the fields: the client's reading goroutine completes the publishes
	acks    []ack      // in the order the ACKs arrived
	stopErr error      // the first error, which ended publishing
}

type ack struct {
	seq   uint32
	at    time.Time // when the ACK arrived
	count int       // subscribers the message was queued for
}

// run publishes messages 0, 1, 2... with up to window of them in flight,
// until the server refuses one, then waits for the replies of the others.
func (p *publisher) run(c *client.Client, id byte, window int) {
	sem := make(chan struct{}, window)
	for seq := uint32(0); ; seq++ {
		sem <- struct{}{}
		p.mu.Lock()
		stopped := p.stopErr != nil
		p.mu.Unlock()
		if stopped {
			break
		}
		err := c.PublishAsync("t", payload(id, seq), func(n int, err error) {
			p.mu.Lock()
			if err == nil {
				p.acks = append(p.acks, ack{seq, time.Now(), n})
			} else if p.stopErr == nil {
				p.stopErr = err
			}
			p.mu.Unlock()
			<-sem
		})
		if err != nil {
			p.mu.Lock()
			p.stopErr = cmpOr(p.stopErr, err)
			p.mu.Unlock()
			break
		}
	}
	for range window - 1 { // the one taken before the break is ours
		sem <- struct{}{}
	}
}

func cmpOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// stopReason names how publishing ended.
func stopReason(err error) string {
	if errors.Is(err, client.ErrGoingAway) {
		return "unanswered at the GOAWAY"
	}
	return "ERR going-away"
}

// goingAway reports whether err is how a publish fails in a graceful
// shutdown: refused (ERR going-away) or not answered before the GOAWAY.
func goingAway(err error) bool {
	var e *client.Error
	return errors.Is(err, client.ErrGoingAway) || errors.As(err, &e) && e.Code == proto.CodeGoingAway
}

// TestSIGTERMDeliversEveryAcknowledgedPublish is the acceptance test of
// the graceful shutdown. 200 subscribers on one topic (spread over
// 127.0.0.1 to 127.0.0.8; every fourth one reads the raw wire, the others
// use the Go client) and 2 publishers publishing without pause, 16
// messages in flight each; SIGTERM mid-stream. Then:
//
//   - every ACK any publisher received (those before the signal, and those
//     after it) reported all 200 subscribers, and every subscriber received
//     exactly the acknowledged messages, in order per publisher, before its
//     GOAWAY: an ACK means queued, and the GOAWAY comes after all of it;
//   - publishing ended with the server's refusal (ERR going-away) or a
//     request unanswered at the GOAWAY, never with another error;
//   - every subscriber and publisher got a GOAWAY, then a clean EOF, and
//     nothing after the GOAWAY;
//   - new connections were refused promptly after the signal;
//   - the process exited 0, well within its deadline.
func TestSIGTERMDeliversEveryAcknowledgedPublish(t *testing.T) {
	const subscribers, publishers, window = 200, 2, 16
	const drainTimeout = 20 * time.Second
	p := startBinary(t, "-loops", "2", "-drain-timeout", drainTimeout.String(), "-goaway-retry", "250ms")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()

	subs := make([]*subscriber, subscribers)
	for i := range subs {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}
		var err error
		if i%4 == 3 {
			subs[i], err = subscribeRaw(p.addr, local, "t")
		} else {
			subs[i], err = subscribeClient(ctx, p.addr, local, "t")
		}
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
	}
	pubs := make([]*publisher, publishers)
	pubClients := make([]*client.Client, publishers)
	var wg sync.WaitGroup
	for i := range pubs {
		c, err := client.Dial(ctx, p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pubs[i], pubClients[i] = &publisher{}, c
		wg.Go(func() { pubs[i].run(c, byte(i), window) })
	}

	time.Sleep(time.Second) // mid-stream
	signaled := time.Now()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var refusedAfter time.Duration
	for time.Since(signaled) < 5*time.Second {
		c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
		if err != nil {
			// A SYN that meets the listener as it closes is answered with a
			// reset instead: refused too, the handshake never completed.
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("a new connection after the signal: %v, want refused", err)
			}
			refusedAfter = time.Since(signaled)
			break
		}
		c.Close()
		time.Sleep(2 * time.Millisecond)
	}
	if refusedAfter == 0 {
		t.Fatal("new connections still accepted 5s after SIGTERM")
	}
	code := p.ExitCode(t, drainTimeout+5*time.Second)
	exited := time.Since(signaled)
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit code %d after %v; logs:\n%s", code, exited, p.Logs.String())
	}
	if exited >= drainTimeout {
		t.Fatalf("exited after %v, past the %v deadline", exited, drainTimeout)
	}

	want := make([][]delivery, publishers) // per publisher, what was acknowledged
	ackedBefore, acked := 0, 0
	stops := map[string]int{}
	for i, pub := range pubs {
		<-pubClients[i].Done()
		if !goingAway(pub.stopErr) {
			t.Fatalf("publisher %d stopped after %d ACKs with %v, want ERR going-away or ErrGoingAway", i, len(pub.acks), pub.stopErr)
		}
		stops[stopReason(pub.stopErr)]++
		if err := pubClients[i].Err(); !errors.Is(err, client.ErrGoingAway) {
			t.Fatalf("publisher %d: Err() = %v, want ErrGoingAway (GOAWAY, then a clean EOF)", i, err)
		}
		for k, a := range pub.acks {
			// An ACK counts the topic's subscribers when it is written: in
			// the drain, those already said goodbye to are not counted,
			// though they got the message (checked below).
			if a.seq != uint32(k) || a.count > subscribers || a.at.Before(signaled) && a.count != subscribers {
				t.Fatalf("publisher %d: ACK %d is for message %d, with %d subscribers; want message %d, all %d",
					i, k, a.seq, a.count, k, subscribers)
			}
			want[i] = append(want[i], delivery{byte(i), a.seq})
			if a.at.Before(signaled) {
				ackedBefore++
			}
		}
		acked += len(pub.acks)
	}
	if ackedBefore == 0 || acked == ackedBefore {
		t.Logf("note: %d ACKs before the signal, %d after", ackedBefore, acked-ackedBefore)
	}

	deliveries, raw := 0, 0
	for i, s := range subs {
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber %d still connected 5s after the exit", i)
		}
		if s.err != nil || !s.goAway {
			t.Fatalf("subscriber %d (raw %v): GOAWAY %v, end %v; want a GOAWAY, then a clean EOF", i, s.raw, s.goAway, s.err)
		}
		perPub := make([][]delivery, publishers)
		for _, d := range s.got {
			if int(d.pub) >= publishers {
				t.Fatalf("subscriber %d: a message from no publisher: %+v", i, d)
			}
			perPub[d.pub] = append(perPub[d.pub], d)
		}
		for k := range publishers {
			if !equalDeliveries(perPub[k], want[k]) {
				t.Fatalf("subscriber %d (raw %v): %d messages of publisher %d before the GOAWAY (first missing or wrong at %d), want the %d acknowledged, in order",
					i, s.raw, len(perPub[k]), k, firstDiff(perPub[k], want[k]), len(want[k]))
			}
		}
		deliveries += len(s.got)
		if s.raw {
			raw++
		}
	}
	t.Logf("%d subscribers (%d raw), %d publishers (%d in flight each): %d publishes acknowledged (%d before SIGTERM, %d after), "+
		"%d deliveries checked; publishing ended with %v; new connections refused %v after SIGTERM; exited 0 %v after SIGTERM",
		subscribers, raw, publishers, window, acked, ackedBefore, acked-ackedBefore, deliveries, stops,
		refusedAfter.Round(time.Millisecond), exited.Round(time.Millisecond))
}

func equalDeliveries(a, b []delivery) bool {
	return len(a) == len(b) && firstDiff(a, b) == len(a)
}

// firstDiff returns the first index where a and b differ, or the length
// of the shorter one.
func firstDiff(a, b []delivery) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
