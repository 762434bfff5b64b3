//go:build linux && !race

package ws

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// The clients of TestPreparedAllocs10k run in a child process (this test
// binary, running TestBroadcastClients): 10,000 connections with both
// ends in one process would take the 20,000 descriptors a process may
// have here.
const broadcastChildEnv = "SHOAL_WS_BROADCAST_URL"

// TestPreparedAllocs10k: a PreparedMessage broadcast to 10,000 WebSocket
// connections on one loop costs the same few allocations as one to 256
// (TestPreparedAllocs): one encoding (and one compression), no copy and
// no allocation per connection. The allocations counted are the server
// process's alone; each broadcast ends when the child has read the frame
// on every connection.
func TestPreparedAllocs10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections")
	}
	const n = 10000
	msg := []byte(strings.Repeat("a message for every subscriber ", 40))
	for _, deflate := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "deflate"}[deflate], func(t *testing.T) {
			r := &roster{}
			cfg := Config{Compression: true, PingInterval: -1} // the clients read frames, not pings
			_, url := startHandler(t, engine{"loops", server.WithEngine(server.EngineLoops)}, r, cfg, server.WithLoops(1))
			child := exec.Command(os.Args[0], "-test.run=^TestBroadcastClients$", "-test.timeout=5m")
			child.Env = append(os.Environ(), broadcastChildEnv+"="+url, "SHOAL_WS_BROADCAST_N="+strconv.Itoa(n),
				"SHOAL_WS_BROADCAST_DEFLATE="+strconv.FormatBool(deflate))
			child.Stderr = os.Stderr
			out, err := child.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { child.Process.Kill(); child.Wait() })
			signal := make([]byte, 1)
			next := func(what string) {
				t.Helper()
				if _, err := io.ReadFull(out, signal); err != nil || signal[0] != '.' {
					t.Fatalf("%s: the clients said %q, %v", what, signal, err)
				}
			}
			next("opening")
			conns := r.wait(t, n)
			if got := conns[0].Compressed(); got != deflate {
				t.Fatalf("deflate negotiated: %v", got)
			}
			done := make(chan struct{})
			run := func() {
				writeToAll(conns, msg, done).Release()
				next("a broadcast")
			}
			for range 10 {
				run() // warm the pools
			}
			if a := testing.AllocsPerRun(30, run); a > 8 {
				t.Fatalf("%.1f allocations per broadcast to %d connections, want at most 8 (none per connection)", a, n)
			} else {
				t.Logf("%.1f allocations per broadcast to %d connections", a, n)
			}
		})
	}
}

// TestBroadcastClients is the child of TestPreparedAllocs10k: it opens the
// connections, writes '.', then reads one frame on every connection and
// writes '.' again, until the server goes.
func TestBroadcastClients(t *testing.T) {
	url := os.Getenv(broadcastChildEnv)
	if url == "" {
		t.Skip("the client process of TestPreparedAllocs10k")
	}
	n, _ := strconv.Atoi(os.Getenv("SHOAL_WS_BROADCAST_N"))
	var header map[string][]string
	if os.Getenv("SHOAL_WS_BROADCAST_DEFLATE") == "true" {
		header = offerDeflate()
	}
	clients := make([]*Client, n)
	for i := range clients {
		c, err := Dial(url, header)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		clients[i] = c
	}
	out := bufio.NewWriter(os.Stdout)
	say := func() { out.WriteByte('.'); out.Flush() }
	say()
	for {
		for i, c := range clients {
			c.NetConn().SetReadDeadline(time.Now().Add(time.Minute)) // against a hung parent only
			if err := skipFrame(c.br); err != nil {
				if i == 0 && err == io.EOF {
					return // the server has gone
				}
				t.Fatalf("client %d: %v", i, err)
			}
		}
		say()
	}
}

// skipFrame reads one unmasked frame from r and drops it.
func skipFrame(r *bufio.Reader) error {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	size := int64(h[1] & 0x7f)
	switch size {
	case 126, 127:
		ext := make([]byte, map[int64]int{126: 2, 127: 8}[size])
		if _, err := io.ReadFull(r, ext); err != nil {
			return err
		}
		size = 0
		for _, b := range ext {
			size = size<<8 | int64(b)
		}
	}
	if _, err := r.Discard(int(size)); err != nil {
		return fmt.Errorf("frame of %d bytes: %w", size, err)
	}
	return nil
}
