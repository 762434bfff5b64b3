package ws

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// pingCounter is a client that answers pings and counts them.
func pingCounter(t *testing.T, url string) (*Client, *int64, *sync.Mutex) {
	c := dialT(t, url)
	var n int64
	var mu sync.Mutex
	go func() {
		for {
			f, k, err := c.rd.Next(c.buf)
			if err != nil {
				return
			}
			if k == 0 {
				chunk := make([]byte, 4096)
				m, err := c.br.Read(chunk)
				if err != nil {
					return
				}
				c.buf = append(c.buf, chunk[:m]...)
				continue
			}
			if f.Op == OpPing {
				mu.Lock()
				n++
				mu.Unlock()
				c.WriteFrame(OpPong, true, f.Payload)
			}
			c.buf = c.buf[k:]
		}
	}()
	return c, &n, &mu
}

// TestHeartbeatsUnderChurn: the loop's heartbeats keep pinging every
// connection while others come and go (which moves connections between
// the heartbeat slots): clients that answer are pinged again and again
// and never closed; a silent one is closed for its missing pong.
func TestHeartbeatsUnderChurn(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			h := &openCount{closed: make(chan error, 1000)}
			// A fine wheel, so that an interval has all hbSlots turns.
			_, url := startHandler(t, e, h, Config{PingInterval: 100 * time.Millisecond}, server.WithTuning(server.Tuning{TimerTick: 5 * time.Millisecond}))
			type counted struct {
				n  *int64
				mu *sync.Mutex
			}
			var live []counted
			for range 20 {
				_, n, mu := pingCounter(t, url)
				live = append(live, counted{n, mu})
			}
			// Churn: connections open and close while the heartbeats run.
			for range 60 {
				c := dialT(t, url)
				time.Sleep(2 * time.Millisecond)
				c.NetConn().Close()
			}
			dialT(t, url) // silent: reads nothing, answers no ping
			// Every answering client gets several pings; none is closed.
			deadline := time.Now().Add(20 * time.Second)
			for _, c := range live {
				for {
					c.mu.Lock()
					n := *c.n
					c.mu.Unlock()
					if n >= 5 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("a live client got %d pings", n)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			// The 60 churned ones and the silent one close; no live one.
			timeouts := 0
			for range 61 {
				select {
				case err := <-h.closed:
					if errors.Is(err, ErrPongTimeout) {
						timeouts++
					}
				case <-time.After(20 * time.Second):
					t.Fatal("connections did not close")
				}
			}
			if timeouts != 1 {
				t.Fatalf("%d pong timeouts, want the silent client's", timeouts)
			}
			if n := h.open(); n != 20 {
				t.Fatalf("%d connections open, want the 20 that answer", n)
			}
		})
	}
}

// openCount counts open connections and reports why each closed.
type openCount struct {
	mu     sync.Mutex
	n      int
	closed chan error
}

func (h *openCount) OnOpen(*Conn)                    { h.mu.Lock(); h.n++; h.mu.Unlock() }
func (h *openCount) OnMessage(*Conn, Opcode, []byte) {}
func (h *openCount) OnClose(_ *Conn, _ int, err error) {
	h.mu.Lock()
	h.n--
	h.mu.Unlock()
	h.closed <- err
}
func (h *openCount) open() int { h.mu.Lock(); defer h.mu.Unlock(); return h.n }
