package ws

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/server"
)

// closeLog is a roster that also reports each close's error.
type closeLog struct {
	roster
	errs chan error
}

func (h *closeLog) OnClose(_ *Conn, _ int, err error) { h.errs <- err }

// TestPingFloodNotReading: a client floods pings and reads none of the
// pongs. The server stops reading from it once its pongs pile up past the
// low watermark, so TCP holds the client back: the server's queue stays
// bounded, the client's writes block, another client is served as usual,
// and when the flooder reads again it gets a pong for every ping.
func TestPingFloodNotReading(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			const high = 1 << 20
			s, _, url := startEcho(t, e, Config{}, server.WithWatermarks(high, high/4))
			flood := dialT(t, url)
			ping := AppendMaskedFrame(nil, OpPing, true, testMask, []byte(strings.Repeat("p", 125)))
			batch := []byte(strings.Repeat(string(ping), 256)) // 256 pings a write
			var sent int
			var peak atomic.Int64
			done := make(chan struct{})
			go func() { // samples the server's queue while the flood runs
				for {
					select {
					case <-done:
						return
					case <-time.After(time.Millisecond):
						peak.Store(max(peak.Load(), s.OutboundBytes()))
					}
				}
			}()
			for sent < 1<<20 { // at most 256 MiB of pings; TCP stops it long before
				flood.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := flood.NetConn().Write(batch); err != nil {
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						t.Fatalf("flood: %v", err)
					}
					break // the server stopped reading: backpressure
				}
				sent += 256
			}
			close(done)
			if sent >= 1<<20 {
				t.Fatal("the server read 256 MiB of pings from a client that reads nothing")
			}
			if p := peak.Load(); p > high+1<<10 {
				t.Fatalf("server queue peaked at %d bytes, over the high watermark %d", p, high)
			}
			other := dialT(t, url)
			other.WriteMessage(OpText, []byte("served"))
			expectMessage(t, other, OpText, []byte("served"))
			// The flooder reads now: every ping of the whole batches it
			// wrote is answered (the last, timed-out write may have left
			// part of a frame, which ends the exchange).
			flood.NetConn().SetReadDeadline(time.Now().Add(30 * time.Second))
			for pongs := 0; pongs < sent; pongs++ {
				f, err := readServerFrame(flood)
				if err != nil || f.Op != OpPong {
					t.Fatalf("after %d pongs of at least %d: %v %v", pongs, sent, f.Op, err)
				}
			}
		})
	}
}

// readServerFrame reads the next frame, whatever it is.
func readServerFrame(c *Client) (Frame, error) {
	for {
		f, n, err := c.rd.Next(c.buf)
		if err != nil {
			return f, err
		}
		if n > 0 {
			f.Payload = append([]byte(nil), f.Payload...)
			c.buf = c.buf[n:]
			return f, nil
		}
		var chunk [32 << 10]byte
		k, err := c.br.Read(chunk[:])
		if k == 0 && err != nil {
			return f, err
		}
		c.buf = append(c.buf, chunk[:k]...)
	}
}

// TestNeverReadingSubscriber: a client that reads nothing while the
// server pushes to it is closed by the slow-consumer policy
// (ErrSlowConsumer) once its queue passes the high watermark; the
// queue never holds more than that, and the others go on.
func TestNeverReadingSubscriber(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			const high = 1 << 20
			h := &closeLog{errs: make(chan error, 4)}
			s, url := startHandler(t, e, h, Config{}, server.WithWatermarks(high, high/4), server.WithLoops(1))
			deaf := dialT(t, url)
			reader := dialT(t, url)
			conns := h.wait(t, 2)
			m := NewPreparedMessage(OpBinary, make([]byte, 64<<10))
			defer m.Release()
			var written int
			var peak int64
			for written < 1000 { // 64 MiB at most
				ok := make(chan bool, 1) // the loop must never wait for the test
				conns[0].Execute(func(c *Conn) { ok <- c.WritePrepared(m) })
				select {
				case w := <-ok:
					if !w {
						t.Fatal("closed without OnClose")
					}
				case err := <-h.errs:
					if !errors.Is(err, server.ErrSlowConsumer) {
						t.Fatalf("closed with %v, want ErrSlowConsumer", err)
					}
					if peak > high+64<<10 {
						t.Fatalf("queue peaked at %d bytes, over the high watermark", peak)
					}
					conns[1].Execute(func(c *Conn) { c.WritePrepared(m) })
					if op, got, err := reader.ReadMessage(); err != nil || op != OpBinary || len(got) != 64<<10 {
						t.Fatalf("the reader: %v %d bytes, %v", op, len(got), err)
					}
					deaf.NetConn().Close()
					return
				}
				written++
				peak = max(peak, s.OutboundBytes())
			}
			t.Fatal("64 MiB queued for a client that reads nothing")
		})
	}
}

// TestSlowHandshake: a client that sends its upgrade request a byte at
// a time is answered 408 and closed at the HTTP header timeout, and a
// client that shakes hands meanwhile is served at once.
func TestSlowHandshake(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			_, url := startHTTP(t, e, &echoHandler{closes: make(chan int, 4)}, Config{}, http1.Config{HeaderTimeout: 300 * time.Millisecond})
			addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/echo")
			slow, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			req := "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
			answer := make(chan string, 1)
			go func() {
				slow.SetReadDeadline(time.Now().Add(30 * time.Second))
				b, _ := io.ReadAll(slow)
				answer <- string(b)
			}()
			fast := dialT(t, url)
			fast.WriteMessage(OpText, []byte("hi"))
			expectMessage(t, fast, OpText, []byte("hi"))
			for i := 0; i < len(req); i++ {
				if _, err := slow.Write([]byte{req[i]}); err != nil {
					break // closed: the timeout passed
				}
				select {
				case a := <-answer:
					if !strings.HasPrefix(a, "HTTP/1.1 408") {
						t.Fatalf("slow handshake answered %q", a)
					}
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			if a := <-answer; !strings.HasPrefix(a, "HTTP/1.1 408") {
				t.Fatalf("slow handshake answered %q", a)
			}
		})
	}
}

// TestIdleTimeout: a connection without a message for IdleTimeout is
// closed with 1001 (pings do not count); one that sends keeps open.
func TestIdleTimeout(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			h := &closeLog{errs: make(chan error, 4)}
			_, url := startHandler(t, e, h, Config{PingInterval: 100 * time.Millisecond, IdleTimeout: 400 * time.Millisecond})
			idle := dialT(t, url)
			busy := dialT(t, url)
			stop := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
						busy.WriteMessage(OpText, []byte("."))
					}
				}
			}()
			defer close(stop)
			expectCloseFrame(t, idle, CloseGoingAway) // answers the pings until then
			if err := <-h.errs; !errors.Is(err, ErrIdleTimeout) {
				t.Fatalf("closed with %v, want ErrIdleTimeout", err)
			}
			select {
			case err := <-h.errs:
				t.Fatalf("the busy connection closed too: %v", err)
			default:
			}
		})
	}
}
