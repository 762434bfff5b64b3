package server

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEchoSmoke(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		_, addr := start(t, echoHandler{}, eng)
		c := dial(t, addr)
		for _, msg := range []string{"a", "hello", string(bytes.Repeat([]byte("x"), 200000))} {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			readFull(t, c, got)
			if string(got) != msg {
				t.Fatalf("echo mismatch for %d bytes", len(msg))
			}
		}
	})
}

// payloadSize spreads sizes log-uniformly from 1 byte to 4 MiB, so both
// tiny and huge payloads are common.
func payloadSize(r *mrand.Rand) int {
	return int(math.Exp(r.Float64() * math.Log(4<<20)))
}

// echoRoundTrip writes p while reading its echo concurrently and checks
// every byte.
func echoRoundTrip(c net.Conn, p []byte) error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(p)
		errc <- err
	}()
	got := make([]byte, len(p))
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read %d bytes: %w", len(p), err)
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, p) {
		return fmt.Errorf("echo of %d bytes differs", len(p))
	}
	return nil
}

// strictEcho echoes and remembers a close for any reason other than the
// peer's EOF or the server's Close.
type strictEcho struct {
	echoHandler
	unexpected atomic.Pointer[error]
}

func (h *strictEcho) OnClose(_ Conn, err error) {
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, ErrServerClosed) {
		h.unexpected.CompareAndSwap(nil, &err)
	}
}

func TestEchoManyConnections(t *testing.T) {
	const conns = 1000
	perConn := 2
	if testing.Short() {
		perConn = 1
	}
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &strictEcho{}
		s, addr := start(t, h, eng)
		src := make([]byte, 4<<20)
		rand.Read(src)
		var wg sync.WaitGroup
		errc := make(chan error, conns)
		var total int64
		var mu sync.Mutex
		for i := range conns {
			wg.Go(func() {
				r := mrand.New(mrand.NewPCG(uint64(i), 7))
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					errc <- err
					return
				}
				defer c.Close()
				for k := range perConn {
					n := payloadSize(r)
					if i == 0 && k == 0 {
						n = 4 << 20 // the largest size is always in the mix
					} else if i == 1 && k == 0 {
						n = 1
					}
					off := r.IntN(len(src) - n + 1)
					if err := echoRoundTrip(c, src[off:off+n]); err != nil {
						errc <- fmt.Errorf("conn %d: %w", i, err)
						return
					}
					mu.Lock()
					total += int64(n)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		st := s.Stats()
		for deadline := time.Now().Add(5 * time.Second); st.BytesOut != st.BytesIn && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // the last counter updates may trail the peer's reads
			st = s.Stats()
		}
		if st.Accepted != conns || st.BytesIn != uint64(total) || st.BytesOut != uint64(total) {
			t.Fatalf("stats: accepted %d in %d out %d, want %d and %d bytes", st.Accepted, st.BytesIn, st.BytesOut, conns, total)
		}
		if err := h.unexpected.Load(); err != nil {
			t.Fatalf("a connection closed with %v", *err)
		}
		t.Logf("echoed %d MiB over %d connections", total>>20, conns)
	})
}

// TestEchoModes runs the echo over the other accept and trigger modes.
func TestEchoModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("event-loop engine only")
	}
	modes := []struct {
		name string
		opts []Option
	}{
		{"edge-triggered", []Option{WithTuning(Tuning{EdgeTriggered: true}), WithLoops(2)}},
		{"acceptor-round-robin", []Option{WithReusePort(false), WithLoops(3)}},
		{"acceptor-least-conns", []Option{WithReusePort(false), WithLoops(3), WithBalance(LeastConnections)}},
		{"small-read-buffer", []Option{WithReadBuffer(512), WithTuning(Tuning{ReadPerRound: 1024}), WithTuning(Tuning{EdgeTriggered: true})}},
		{"no-spin", []Option{WithTuning(Tuning{SpinRounds: -1})}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, addr := start(t, echoHandler{}, append(m.opts, WithEngine(EngineLoops))...)
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					c := dial(t, addr)
					p := make([]byte, 1+i*9000)
					rand.Read(p)
					if err := echoRoundTrip(c, p); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			st := s.Stats()
			used := 0
			for _, l := range st.Loops {
				if l.Accepted > 0 {
					used++
				}
			}
			if len(st.Loops) > 1 && used < 2 {
				t.Errorf("connections went to %d of %d loops: %+v", used, len(st.Loops), st.Loops)
			}
		})
	}
}

func TestEchoNetworks(t *testing.T) {
	nets := []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"unix", ""},
	}
	forEachEngine(t, func(t *testing.T, eng Option) {
		for _, n := range nets {
			t.Run(n.network, func(t *testing.T) {
				addr := n.addr
				if n.network == "unix" {
					if runtime.GOOS == "windows" {
						t.Skip("no Unix sockets")
					}
					addr = fmt.Sprintf("%s/s.sock", t.TempDir())
				}
				if n.network == "tcp6" {
					if ln, err := net.Listen("tcp6", addr); err != nil {
						t.Skipf("no IPv6 loopback: %v", err)
					} else {
						ln.Close()
					}
				}
				_, a := startOn(t, n.network, addr, echoHandler{}, eng, WithLoops(2))
				c, err := net.Dial(n.network, a)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := echoRoundTrip(c, []byte("over "+n.network)); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}
