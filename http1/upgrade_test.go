package http1

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/loop"
	"github.com/shoalnet/shoal/server"
)

// rawEcho is a protocol after an upgrade that echoes its input and, on
// goodbye, writes "bye" and closes.
type rawEcho struct{ closed chan error }

func (e *rawEcho) OnData(c loop.Conn) {
	in, _ := c.Peek(0)
	c.Write(in)
	c.Discard(len(in))
}
func (e *rawEcho) OnWritable(loop.Conn)           {}
func (e *rawEcho) OnWake(loop.Conn)               {}
func (e *rawEcho) OnEOF(c loop.Conn)              { c.Close() }
func (e *rawEcho) OnOpen(loop.Conn)               {}
func (e *rawEcho) OnGoodbye(c loop.Conn)          { c.Write([]byte("bye")); c.Close() }
func (e *rawEcho) OnClose(_ loop.Conn, err error) { e.closed <- err }

func TestUpgrade(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			up := &rawEcho{closed: make(chan error, 1)}
			h := HandlerFunc(func(w *ResponseWriter, r *Request) {
				if string(r.Path()) == "/up" {
					w.Header("X-Test", "1")
					w.Upgrade("echo", up)
					return
				}
				w.WriteString("plain")
			})
			_, addr := startHTTP(t, h, Config{}, e.opt)
			c := dial(t, addr)
			// A plain request first, then the upgrade with the protocol's
			// first bytes in the same write.
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /up HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\nearly ")
			r := bufio.NewReader(c)
			resp, err := http.ReadResponse(r, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("plain request: %v %v", resp, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp, err = http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo" || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") ||
				resp.Header.Get("X-Test") != "1" || resp.Header.Get("Content-Length") != "" {
				t.Fatalf("upgrade answer: %d %v", resp.StatusCode, resp.Header)
			}
			io.WriteString(c, "late")
			got := make([]byte, len("early late"))
			if _, err := io.ReadFull(r, got); err != nil || string(got) != "early late" {
				t.Fatalf("after the upgrade: %q %v", got, err)
			}
			c.CloseWrite()
			if _, err := io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
			<-up.closed
		})
	}
}

// TestUpgradedStateReused: the HTTP state of an upgraded connection serves
// the loop's next connection, fresh: that one's requests, with a body and
// a limit, are answered as on a new state, and the upgraded connection
// goes on with its protocol.
func TestUpgradedStateReused(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			up := &rawEcho{closed: make(chan error, 1)}
			states := make(chan *connState, 4) // touched on the loop, read after
			h := HandlerFunc(func(w *ResponseWriter, r *Request) {
				states <- w.cs
				if string(r.Path()) == "/up" {
					w.Upgrade("echo", up)
					return
				}
				w.Write(r.Body)
			})
			_, addr := startHTTP(t, h, Config{Limits: Limits{MaxBody: 8}}, e.opt, server.WithLoops(1))
			a := dial(t, addr)
			io.WriteString(a, "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n")
			ra := bufio.NewReader(a)
			if resp, err := http.ReadResponse(ra, nil); err != nil || resp.StatusCode != 101 {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			first := <-states

			b := dial(t, addr)
			rb := bufio.NewReader(b)
			io.WriteString(b, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
			resp, err := http.ReadResponse(rb, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("request after the reuse: %v %v", resp, err)
			}
			if body, _ := io.ReadAll(resp.Body); string(body) != "hello" {
				t.Fatalf("body %q", body)
			}
			if second := <-states; second != first {
				t.Error("the upgraded connection's state was not reused")
			}
			io.WriteString(b, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789")
			if resp, err := http.ReadResponse(rb, nil); err != nil || resp.StatusCode != 413 {
				t.Fatalf("body over the limit on the reused state: %v %v", resp, err)
			}

			io.WriteString(a, "still here")
			got := make([]byte, len("still here"))
			if _, err := io.ReadFull(ra, got); err != nil || string(got) != "still here" {
				t.Fatalf("upgraded connection after the reuse: %q %v", got, err)
			}
			a.Close()
			<-up.closed
		})
	}
}
