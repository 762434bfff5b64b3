package http1

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/loop"
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
