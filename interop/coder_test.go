package interop

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/coder/websocket"
)

// TestCoder: coder/websocket's client exchanges every message of
// messages() with wsecho, with and without permessage-deflate, then
// SIGTERM: it must read the close 1001 (going away), and wsecho exit 0.
func TestCoder(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		t.Run(deflateName(deflate), func(t *testing.T) {
			s := startServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), testWithin)
			defer cancel()
			var wire *wireConn
			hc := &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := dialWire(ctx, network, addr)
					if err == nil {
						wire = c
					}
					return c, err
				},
			}}
			mode := websocket.CompressionDisabled
			if deflate {
				mode = websocket.CompressionNoContextTakeover
			}
			c, resp, err := websocket.Dial(ctx, s.URL("/coder"), &websocket.DialOptions{HTTPClient: hc, CompressionMode: mode})
			if err != nil {
				t.Fatalf("dial: %v; logs:\n%s", err, s.logs)
			}
			defer c.CloseNow()
			c.SetReadLimit(bigSize)
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			t.Logf("Sec-WebSocket-Extensions: %q", ext)
			if deflate {
				wantDeflate(t, ext)
			} else {
				wantNoExtension(t, ext)
			}

			for _, m := range messages() {
				typ := websocket.MessageText
				if m.binary {
					typ = websocket.MessageBinary
				}
				before := wire.Sent().Frames
				w, err := c.Writer(ctx, typ)
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
				got, data, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("%s: reading the echo: %v; logs:\n%s", m.name, err, s.logs)
				}
				checkEcho(t, m, got == websocket.MessageBinary, data)
			}

			wantCompressed(t, deflate, wire)

			s.Drain(t)
			if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("after SIGTERM: %v, want close 1001", err)
			}
			c.CloseNow()
			s.WaitExit0(t)
		})
	}
}
