package interop

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestGorilla: gorilla/websocket's client exchanges every message of
// messages() with wsecho, with and without permessage-deflate, then
// SIGTERM: it must read the close 1001 (going away), and wsecho exit 0.
func TestGorilla(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		t.Run(deflateName(deflate), func(t *testing.T) {
			s := startServer(t)
			var wire *wireConn
			d := websocket.Dialer{
				HandshakeTimeout: startWithin,
				// A small buffer: NextWriter sends a frame each time it
				// fills, so fragmented messages leave as several.
				WriteBufferSize:   1024,
				EnableCompression: deflate,
				NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := dialWire(ctx, network, addr)
					if err == nil {
						wire = c
					}
					return c, err
				},
			}
			c, resp, err := d.Dial(s.URL("/gorilla"), nil)
			if err != nil {
				t.Fatalf("dial: %v; logs:\n%s", err, s.logs)
			}
			defer c.Close()
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			t.Logf("Sec-WebSocket-Extensions: %q", ext)
			if deflate {
				wantDeflate(t, ext)
			} else {
				wantNoExtension(t, ext)
			}
			c.SetReadDeadline(time.Now().Add(testWithin))
			c.SetWriteDeadline(time.Now().Add(testWithin))

			for _, m := range messages() {
				typ := websocket.TextMessage
				if m.binary {
					typ = websocket.BinaryMessage
				}
				before := wire.Sent().Frames
				w, err := c.NextWriter(typ)
				if err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				for _, p := range m.parts {
					if _, err := w.Write(p); err != nil {
						t.Fatalf("%s: %v", m.name, err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				if n := wire.Sent().Frames - before; len(m.parts) > 1 {
					t.Logf("%s left as %d frames", m.name, n)
					if n < 2 {
						t.Errorf("%s left as one frame, want several", m.name)
					}
				}
				got, data, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("%s: reading the echo: %v; logs:\n%s", m.name, err, s.logs)
				}
				checkEcho(t, m, got == websocket.BinaryMessage, data)
			}

			wantCompressed(t, deflate, wire)

			s.Drain(t)
			if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("after SIGTERM: %v, want close 1001", err)
			}
			c.Close()
			s.WaitExit0(t)
		})
	}
}

func deflateName(on bool) string {
	if on {
		return "permessage-deflate"
	}
	return "plain"
}
