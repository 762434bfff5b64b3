package loop

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// extHandler: the first connection sets an idle timeout and clears it at
// once (its connExt goes back to the loop's free list); every later one
// sets a read deadline, which must close that connection, and only it.
type extHandler struct {
	NopHandler
	opened int
	closed chan error
}

func (h *extHandler) OnOpen(c Conn) {
	h.opened++
	if h.opened == 1 {
		c.SetIdleTimeout(time.Hour)
		c.SetIdleTimeout(0)
		return
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
}

func (h *extHandler) OnData(c Conn) {
	in, _ := c.Peek(0)
	c.Write(in)
	c.Discard(len(in))
}

func (h *extHandler) OnClose(_ Conn, err error) { h.closed <- err }

// TestConnExtReused: a connExt given back by one connection serves the
// next one's deadline, and its timer then belongs to that connection: the
// second connection times out, the first goes on echoing.
func TestConnExtReused(t *testing.T) {
	for _, e := range engines() {
		h := &extHandler{closed: make(chan error, 4)}
		g, addr := newTestGroup(t, h, e, 1)
		a, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		echo(t, a) // a is open, its connExt given back
		free := make(chan int, 1)
		g.Loop(0).Execute(func() { free <- len(g.Loop(0).freeExts) })
		if n := <-free; n != 1 {
			t.Fatalf("engine %v: %d free connExts after the idle timeout was cleared, want 1", e, n)
		}
		b, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		select {
		case err := <-h.closed:
			if !errors.Is(err, ErrReadTimeout) {
				t.Fatalf("engine %v: closed with %v, want a timeout", e, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("engine %v: the second connection's read deadline never fired", e)
		}
		b.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := b.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
			t.Fatalf("engine %v: second connection read %v after its timeout", e, err)
		}
		echo(t, a)
	}
}

func echo(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q, %v", got, err)
	}
}
