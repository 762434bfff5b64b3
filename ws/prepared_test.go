package ws

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// roster records the open connections.
type roster struct {
	mu    sync.Mutex
	conns []*Conn
}

func (r *roster) OnOpen(c *Conn) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
}
func (r *roster) OnMessage(*Conn, Opcode, []byte) {}
func (r *roster) OnClose(*Conn, int, error)       {}

func (r *roster) wait(t testing.TB, n int) []*Conn {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		r.mu.Lock()
		conns := r.conns
		r.mu.Unlock()
		if len(conns) >= n {
			return conns[:n:n]
		}
	}
	t.Fatalf("%d connections did not open", n)
	return nil
}

// broadcast writes m on every connection, from their loops, and waits.
func broadcast(t testing.TB, conns []*Conn, m *PreparedMessage) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		if err := c.Execute(func(c *Conn) { c.WritePrepared(m); wg.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// TestPreparedBroadcast: one PreparedMessage to connections with and
// without permessage-deflate on every loop: each gets the message, the
// compressed ones compressed; once all have sent it, its frames are freed.
func TestPreparedBroadcast(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			r := &roster{}
			_, url := startHandler(t, e, r, Config{Compression: true}, server.WithLoops(2))
			var clients []*Client
			for i := range 20 {
				var h = offerDeflate()
				if i%2 == 0 {
					h = nil
				}
				clients = append(clients, dialHeader(t, url, h))
			}
			conns := r.wait(t, len(clients))
			msg := strings.Repeat("news for everyone ", 500)
			m := NewPreparedMessage(OpText, []byte(msg))
			broadcast(t, conns, m)
			plain, z := m.plain, m.z
			m.Release()
			if z == nil {
				t.Fatal("no compressed frame")
			}
			for i, c := range clients {
				op, got, err := c.ReadMessage()
				if err != nil || op != OpText || string(got) != msg || c.rd.Deflated() != c.Deflate {
					t.Fatalf("client %d (deflate %v): %v %d bytes compressed %v, %v", i, c.Deflate, op, len(got), c.rd.Deflated(), err)
				}
			}
			for deadline := time.Now().Add(10 * time.Second); plain.Holders()+z.Holders() > 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("frames still held: %d, %d", plain.Holders(), z.Holders())
				}
			}
		})
	}
}

// TestPreparedAfterClose: WritePrepared after the close frame does nothing.
func TestPreparedAfterClose(t *testing.T) {
	r := &roster{}
	_, url := startHandler(t, testEngines()[0], r, Config{})
	c := dialT(t, url)
	conn := r.wait(t, 1)[0]
	m := NewPreparedMessage(OpBinary, []byte{1, 2, 3})
	defer m.Release()
	ok := make(chan bool, 1)
	conn.Execute(func(conn *Conn) { conn.Close(CloseNormal, "bye"); ok <- conn.WritePrepared(m) })
	if <-ok {
		t.Fatal("WritePrepared after Close reported true")
	}
	if _, _, err := c.ReadMessage(); err != io.EOF || c.Code != CloseNormal {
		t.Fatalf("%v, close %d", err, c.Code)
	}
}

func TestSend(t *testing.T) {
	r := &roster{}
	_, url := startHandler(t, testEngines()[len(testEngines())-1], r, Config{})
	c := dialT(t, url)
	conn := r.wait(t, 1)[0]
	var wg sync.WaitGroup
	for g := range 4 { // four goroutines, each in order
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if err := conn.Send(OpBinary, []byte{byte(g), byte(i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	next := make([]byte, 4)
	for range 400 {
		_, got, err := c.ReadMessage()
		if err != nil || len(got) != 2 || got[1] != next[got[0]] {
			t.Fatalf("%v %v, want %d from goroutine %d", got, err, next[got[0]], got[0])
		}
		next[got[0]]++
	}
	wg.Wait()
	if !bytes.Equal(next, []byte{100, 100, 100, 100}) {
		t.Fatal(next)
	}
}
