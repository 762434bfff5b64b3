package server

import (
	"io"
	"net"
	"testing"
	"time"
)

// refusedOrServed dials addr from src and reports whether the server echoes
// (true) or closes the connection at once (false).
func refusedOrServed(t *testing.T, addr, src string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write([]byte("hi"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return c, false
	}
	return c, true
}

func TestConnectionLimits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		t.Run("global", func(t *testing.T) {
			s, addr := start(t, echoHandler{}, eng, WithMaxConns(3))
			served := 0
			for range 5 {
				if _, ok := refusedOrServed(t, addr, "127.0.0.1"); ok {
					served++
				}
			}
			if st := s.Stats(); served != 3 || st.Refused != 2 || st.Conns != 3 {
				t.Fatalf("served %d, refused %d, open %d; want 3, 2, 3", served, st.Refused, st.Conns)
			}
		})
		t.Run("per-ip", func(t *testing.T) {
			s, addr := start(t, echoHandler{}, eng, WithMaxConnsPerIP(2))
			var results []bool
			var first net.Conn
			for i, src := range []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2"} {
				c, ok := refusedOrServed(t, addr, src)
				if i == 0 {
					first = c
				}
				results = append(results, ok)
			}
			want := []bool{true, true, false, true}
			for i := range want {
				if results[i] != want[i] {
					t.Fatalf("served: %v, want %v", results, want)
				}
			}
			// A slot frees up when a connection from that IP closes.
			first.Close()
			deadline := time.Now().Add(10 * time.Second)
			for s.Stats().Conns != 2 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if _, ok := refusedOrServed(t, addr, "127.0.0.1"); !ok {
				t.Fatal("refused after a slot was freed")
			}
			if st := s.Stats(); st.Refused != 1 {
				t.Fatalf("refused %d, want 1", st.Refused)
			}
		})
	})
}
