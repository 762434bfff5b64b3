package main

import (
	"bytes"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/internal/proctest"
	"github.com/shoalnet/shoal/ws"
)

// TestEchoAndDrain runs the binary: 20 clients echo text, binary and
// fragmented messages, then SIGTERM: each gets the close 1001 (going
// away), answers it, and the process exits 0.
func TestEchoAndDrain(t *testing.T) {
	p := proctest.Start(t, proctest.Build(t, "."), []string{"wsecho listening", "admin endpoints listening"},
		"-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-max-message", "1048576")
	url := "ws://" + p.Addrs["wsecho listening"] + "/any/path"
	var clients []*ws.Client
	for range 20 {
		c, err := ws.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.NetConn().SetDeadline(time.Now().Add(30 * time.Second))
		defer c.NetConn().Close()
		clients = append(clients, c)
	}
	big := bytes.Repeat([]byte{0xAB}, 1<<20)
	for i, c := range clients {
		c.WriteMessage(ws.OpText, []byte("héllo"))
		c.WriteFrame(ws.OpBinary, false, []byte{1, 2})
		c.WriteFrame(ws.OpContinuation, true, []byte{3})
		c.WriteMessage(ws.OpBinary, big)
		for _, want := range []struct {
			op ws.Opcode
			p  []byte
		}{{ws.OpText, []byte("héllo")}, {ws.OpBinary, []byte{1, 2, 3}}, {ws.OpBinary, big}} {
			op, got, err := c.ReadMessage()
			if err != nil || op != want.op || !bytes.Equal(got, want.p) {
				t.Fatalf("client %d: %v %d bytes %v, want %v %d bytes", i, op, len(got), err, want.op, len(want.p))
			}
		}
	}
	// One byte over -max-message: 1009.
	over := clients[len(clients)-1]
	clients = clients[:len(clients)-1]
	over.WriteMessage(ws.OpBinary, append(big, 0))
	if _, _, err := over.ReadMessage(); err != io.EOF || over.Code != ws.CloseTooBig {
		t.Fatalf("message over -max-message: %v, close %d, want 1009", err, over.Code)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if _, _, err := c.ReadMessage(); err != io.EOF || c.Code != ws.CloseGoingAway {
			t.Fatalf("client %d after SIGTERM: %v, close %d, want 1001", i, err, c.Code)
		}
		c.NetConn().Close()
	}
	if code := p.ExitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d; logs:\n%s", code, p.Logs.String())
	}
}
