package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// The benchmarks below echo 64-byte messages over 100 loopback connections,
// 16 in flight per connection, through Shoal and through a std net
// goroutine-per-connection server in the same process. ns/op is per message.
// Client and server share the machine; bench/ measures them apart.

func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("shoal/size=%d", size), func(b *testing.B) {
			_, addr := start(b, echoHandler{}, WithEngine(EngineLoops))
			benchEcho(b, addr, 100, 16, size)
		})
		b.Run(fmt.Sprintf("stdnet/size=%d", size), func(b *testing.B) {
			benchEcho(b, startStdEcho(b), 100, 16, size)
		})
	}
}

// startStdEcho runs the baseline: a goroutine per connection copying input
// to output with a 16 KiB buffer.
func startStdEcho(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 16<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			})
		}
	})
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// benchEcho keeps depth messages in flight on each of conns connections
// until b.N messages have come back.
func benchEcho(b *testing.B, addr string, conns, depth, size int) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	errc := make(chan error, conns)
	for i, c := range cs {
		n := b.N / conns
		if i < b.N%conns {
			n++
		}
		wg.Go(func() {
			msg := make([]byte, size)
			got := make([]byte, size)
			inflight := min(depth, n)
			for range inflight {
				if _, err := c.Write(msg); err != nil {
					errc <- err
					return
				}
			}
			for k := range n {
				if _, err := io.ReadFull(c, got); err != nil {
					errc <- err
					return
				}
				if k+inflight < n {
					if _, err := c.Write(msg); err != nil {
						errc <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := errors.Join(<-errc); err != nil {
		b.Fatal(err)
	}
}
