package ws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/server"
)

// echoHandler echoes every message and reports each close.
type echoHandler struct{ closes chan int }

func (h *echoHandler) OnOpen(*Conn)                             {}
func (h *echoHandler) OnMessage(c *Conn, op Opcode, msg []byte) { c.WriteMessage(op, msg) }
func (h *echoHandler) OnClose(_ *Conn, code int, _ error) {
	select {
	case h.closes <- code:
	default:
	}
}

type engine struct {
	name string
	opt  server.Option
}

func testEngines() []engine {
	list := []engine{{"portable", server.WithEngine(server.EnginePortable)}}
	if runtime.GOOS != "windows" {
		list = append(list, engine{"loops", server.WithEngine(server.EngineLoops)})
	}
	return list
}

// startEcho runs an echo server with cfg and returns it and its ws:// URL.
func startEcho(t *testing.T, e engine, cfg Config, opts ...server.Option) (*server.Server, *echoHandler, string) {
	t.Helper()
	h := &echoHandler{closes: make(chan int, 16)}
	s, url := startHandler(t, e, h, cfg, opts...)
	return s, h, url
}

// startHandler runs a server of h with cfg and returns it and its ws:// URL.
func startHandler(t testing.TB, e engine, h Handler, cfg Config, opts ...server.Option) (*server.Server, string) {
	t.Helper()
	return startHTTP(t, e, h, cfg, http1.Config{}, opts...)
}

// startHTTP is startHandler with the HTTP server's configuration.
func startHTTP(t testing.TB, e engine, h Handler, cfg Config, hcfg http1.Config, opts ...server.Option) (*server.Server, string) {
	t.Helper()
	s, err := server.New(http1.NewServer(NewUpgrader(h, cfg), hcfg), append(opts, e.opt)...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ln); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Wait() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Wait returned %v", err)
		}
	})
	return s, "ws://" + ln.Addr().String() + "/echo"
}

func dialT(t *testing.T, url string) *Client { t.Helper(); return dialHeader(t, url, nil) }

// dialHeader dials url with extra request header fields.
func dialHeader(t testing.TB, url string, header http.Header) *Client {
	t.Helper()
	c, err := Dial(url, header)
	if err != nil {
		t.Fatal(err)
	}
	c.NetConn().SetDeadline(time.Now().Add(30 * time.Second)) // guards against a hung test only
	t.Cleanup(func() { c.NetConn().Close() })
	return c
}

func expectMessage(t *testing.T, c *Client, op Opcode, want []byte) {
	t.Helper()
	gotOp, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if gotOp != op || !bytes.Equal(got, want) {
		t.Fatalf("got %v %d bytes (%.20q), want %v %d bytes", gotOp, len(got), got, op, len(want))
	}
}

// expectClose reads until the server's close frame and checks its code,
// then that TCP closes.
func expectClose(t *testing.T, c *Client, code int) {
	t.Helper()
	expectCloseFrame(t, c, code)
	if _, err := c.NetConn().Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the close: %v, want EOF", err)
	}
}

// expectCloseFrame reads until the server's close frame and checks its
// code; TCP then ends, with FIN or, where the server failed the
// connection without waiting for the client's answer, possibly a reset.
func expectCloseFrame(t *testing.T, c *Client, code int) {
	t.Helper()
	for {
		_, _, err := c.ReadMessage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("waiting for close %d: %v", code, err)
		}
	}
	if c.Code != code {
		t.Fatalf("close code %d, want %d", c.Code, code)
	}
}

func TestEcho(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			_, h, url := startEcho(t, e, Config{})
			c := dialT(t, url)
			c.WriteMessage(OpText, []byte("Hello, wörld"))
			expectMessage(t, c, OpText, []byte("Hello, wörld"))
			c.WriteMessage(OpBinary, nil)
			expectMessage(t, c, OpBinary, nil)
			c.WriteMessage(OpText, nil)
			expectMessage(t, c, OpText, nil)
			// Fragments, a code point split across them, a ping between.
			c.WriteFrame(OpText, false, []byte("fr\xc3"))
			c.WriteFrame(OpPing, true, []byte("ping"))
			c.WriteFrame(OpContinuation, false, nil)
			c.WriteFrame(OpContinuation, true, []byte("\xa9ag"))
			expectMessage(t, c, OpText, []byte("fr\xc3\xa9ag"))
			c.WriteMessage(OpBinary, big)
			expectMessage(t, c, OpBinary, big)
			c.Close(CloseNormal)
			if code := <-h.closes; code != CloseNormal {
				t.Fatalf("server saw close %d", code)
			}
		})
	}
}

func TestCloseHandshake(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			_, h, url := startEcho(t, e, Config{})
			c := dialT(t, url)
			c.WriteMessage(OpClose, []byte{0x0f, 0xa0, 'o', 'k'}) // 4000
			expectClose(t, c, 4000)
			if code := <-h.closes; code != 4000 {
				t.Fatalf("server saw %d", code)
			}
		})
	}
}

func TestViolations(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			_, h, url := startEcho(t, e, Config{MaxMessage: 1000})
			for _, v := range []struct {
				name  string
				frame []byte
				code  int
			}{
				{"unmasked", AppendFrame(nil, OpText, true, []byte("hi")), CloseProtocolError},
				{"bad UTF-8", AppendMaskedFrame(nil, OpText, true, testMask, []byte("a\xff")), CloseInvalidPayload},
				{"too big", AppendMaskedFrame(nil, OpBinary, true, testMask, make([]byte, 1001)), CloseTooBig},
				{"reserved opcode", AppendMaskedFrame(nil, 5, true, testMask, nil), CloseProtocolError},
				{"bad close code", AppendMaskedFrame(nil, OpClose, true, testMask, []byte{0x03, 0xed}), CloseProtocolError},
			} {
				c := dialT(t, url)
				c.NetConn().Write(v.frame)
				// The server fails the connection (RFC 6455 7.1.7): the close
				// frame, then TCP, without waiting for the client's close,
				// which the portable engine may then answer with a reset.
				expectCloseFrame(t, c, v.code)
				if _, err := c.NetConn().Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("%s: after the close: %v", v.name, err)
				}
				c.NetConn().Close() // the server may linger for this FIN (the close timeout)
				if code := <-h.closes; code != v.code {
					t.Fatalf("%s: server reported %d, want %d", v.name, code, v.code)
				}
			}
		})
	}
}

func TestHandshakeRefused(t *testing.T) {
	_, _, url := startEcho(t, testEngines()[0], Config{})
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/echo")
	for _, c := range []struct {
		hdr    string
		status int
	}{
		{"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n", 426},
		{"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 400},
		{"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n", 403},
	} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n"+c.hdr+"\r\n")
		resp, err := http.ReadResponse(bufioReader(nc), nil)
		nc.Close()
		if err != nil || resp.StatusCode != c.status {
			t.Fatalf("%q: %v %v, want %d", c.hdr, resp, err, c.status)
		}
	}
}

func TestDrainSendsGoingAway(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			s, _, url := startEcho(t, e, Config{})
			c := dialT(t, url)
			c.WriteMessage(OpText, []byte("before"))
			expectMessage(t, c, OpText, []byte("before"))
			done := make(chan error, 1)
			go func() { done <- s.Shutdown(context.Background()) }()
			expectClose(t, c, CloseGoingAway) // answered by ReadMessage: the server then closes
			c.NetConn().Close()               // as a browser does on the server's FIN
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}

func TestPongTimeout(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			_, h, url := startEcho(t, e, Config{PingInterval: 50 * time.Millisecond})
			c := dialT(t, url)
			// A client that answers pings stays: ReadMessage answers them.
			go func() { time.Sleep(300 * time.Millisecond); c.WriteMessage(OpText, []byte("still here")) }()
			expectMessage(t, c, OpText, []byte("still here"))
			// One that never reads nor writes is closed.
			silent := dialT(t, url)
			if code := <-h.closes; code != CloseGoingAway {
				t.Fatalf("silent client: close %d, want %d", code, CloseGoingAway)
			}
			silent.NetConn().Close()
		})
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// A client that never answers the server's close is dropped after
// Config.CloseTimeout, and the drain ends.
func TestDrainCloseTimeout(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			// The loop's own wait for the FIN after the close is cut short too.
			s, h, url := startEcho(t, e, Config{CloseTimeout: 100 * time.Millisecond}, server.WithCloseTimeout(100*time.Millisecond))
			c := dialT(t, url)
			if err := s.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if code := <-h.closes; code != CloseGoingAway {
				t.Fatalf("server reported %d, want %d", code, CloseGoingAway)
			}
			// What the client gets: the close frame, then the end.
			expectClose(t, c, CloseGoingAway)
		})
	}
}

// goodbyeEcho says a last word in OnGoodbye, or closes the connection
// itself with its own code.
type goodbyeEcho struct {
	echoHandler
	own bool
}

func (h *goodbyeEcho) OnGoodbye(c *Conn) {
	if h.own {
		c.Close(4002, "mine")
		return
	}
	c.WriteMessage(OpText, []byte("last word"))
}

// A GoodbyeHandler's OnGoodbye runs at the drain before the goodbye: what
// it writes comes first; a close of its own replaces the goodbye.
func TestDrainGoodbyeHandler(t *testing.T) {
	for _, e := range testEngines() {
		for _, own := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/own-close=%v", e.name, own), func(t *testing.T) {
				h := &goodbyeEcho{echoHandler: echoHandler{closes: make(chan int, 16)}, own: own}
				s, url := startHandler(t, e, h, Config{})
				c := dialT(t, url)
				c.WriteMessage(OpText, []byte("before"))
				expectMessage(t, c, OpText, []byte("before"))
				done := make(chan error, 1)
				go func() { done <- s.Shutdown(context.Background()) }()
				want := 4002
				if !own {
					expectMessage(t, c, OpText, []byte("last word"))
					want = CloseGoingAway
				}
				expectClose(t, c, want)
				c.NetConn().Close()
				if err := <-done; err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			})
		}
	}
}

// Config.Goodbye is the close frame a drain sends.
func TestDrainGoodbyeCode(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			s, _, url := startEcho(t, e, Config{Goodbye: CloseError{Code: 4001, Reason: "reconnect"}})
			c := dialT(t, url)
			done := make(chan error, 1)
			go func() { done <- s.Shutdown(context.Background()) }()
			if _, _, err := c.ReadMessage(); err != io.EOF || c.Code != 4001 {
				t.Fatalf("got %v, code %d; want the close 4001", err, c.Code)
			}
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}
