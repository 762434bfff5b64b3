//go:build !race

package ws

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/server"
)

// broadcastRig is n clients of a server on one loop, and a broadcast of a
// PreparedMessage to all of them that waits until every client has read
// it (the clients read raw frames: their reads allocate nothing).
func broadcastRig(tb testing.TB, n int, header http.Header, msg []byte) func() {
	r := &roster{}
	_, url := startHandler(tb, engine{"loops", server.WithEngine(server.EngineLoops)}, r, Config{Compression: true}, server.WithLoops(1))
	var clients []*Client
	for range n {
		clients = append(clients, dialHeader(tb, url, header))
	}
	conns := r.wait(tb, n)
	buf := make([]byte, 64<<10)
	done := make(chan struct{})
	var frameLen int
	return func() {
		m := writeToAll(conns, msg, done)
		if frameLen == 0 {
			frameLen = m.plain.Len()
			if m.z != nil && clients[0].Deflate {
				frameLen = m.z.Len()
			}
		}
		m.Release()
		for _, c := range clients {
			if _, err := io.ReadFull(c.br, buf[:frameLen]); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// writeToAll frames msg once and queues it on every connection of conns,
// which share a loop, from that loop; it returns once all are queued.
// done is the caller's, made once, so that a broadcast allocates nothing
// of the rig's own.
func writeToAll(conns []*Conn, msg []byte, done chan struct{}) *PreparedMessage {
	m := NewPreparedMessage(OpText, msg)
	conns[0].Execute(func(*Conn) {
		for _, c := range conns {
			c.WritePrepared(m)
		}
		done <- struct{}{}
	})
	<-done
	return m
}

// TestPreparedAllocs: a broadcast of a PreparedMessage costs the same few
// allocations (the message, its frames, the loop task) whatever the
// number of connections: none per connection, compressed or not.
func TestPreparedAllocs(t *testing.T) {
	msg := []byte(strings.Repeat("a message for every subscriber ", 40))
	for _, tc := range []struct {
		name   string
		header http.Header
	}{{"plain", nil}, {"deflate", offerDeflate()}} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 256
			run := broadcastRig(t, n, tc.header, msg)
			for range 20 {
				run() // warm the pools
			}
			if a := testing.AllocsPerRun(100, run); a > 8 {
				t.Fatalf("%.1f allocations per broadcast to %d connections, want at most 8 (none per connection)", a, n)
			}
		})
	}
}

// BenchmarkPreparedBroadcast: one PreparedMessage to 1,000 connections
// per op; ns/conn is the cost per connection of the whole round (queue,
// writev, the client's read).
func BenchmarkPreparedBroadcast(b *testing.B) {
	for _, size := range []int{64, 4 << 10} {
		for _, tc := range []struct {
			name   string
			header http.Header
		}{{"plain", nil}, {"deflate", offerDeflate()}} {
			b.Run(tc.name+"/"+map[int]string{64: "64B", 4 << 10: "4KiB"}[size], func(b *testing.B) {
				const n = 1000
				msg := []byte(strings.Repeat("x", size))
				run := broadcastRig(b, n, tc.header, msg)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					run()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/conn")
			})
		}
	}
}
