package main

import (
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// echoListener serves a raw echo on a loopback port; corrupt flips one
// payload byte of every read, to check that the load generator notices.
func echoListener(t *testing.T, corrupt bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if corrupt {
							buf[n-1] ^= 0xff
						}
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestLoadCountsEchoes(t *testing.T) {
	for _, depth := range []int{1, 4} {
		cfg := loadConfig{addr: echoListener(t, false), conns: 3, size: 64, depth: depth, duration: 200 * time.Millisecond}
		windows := 0
		res, err := runLoad(cfg, func(bool) { windows++ })
		if err != nil {
			t.Fatal(err)
		}
		if res.msgs == 0 || res.hist.TotalCount() != res.msgs {
			t.Errorf("depth %d: %d messages, %d latencies", depth, res.msgs, res.hist.TotalCount())
		}
		if res.errors != 0 || res.mismatch != 0 || windows != 2 {
			t.Errorf("depth %d: errors %d, mismatches %d, window hooks %d (first error %v)", depth, res.errors, res.mismatch, windows, res.firstErr)
		}
	}
}

func TestLoadDetectsCorruptEcho(t *testing.T) {
	cfg := loadConfig{addr: echoListener(t, true), conns: 2, size: 64, depth: 2, duration: 200 * time.Millisecond}
	res, err := runLoad(cfg, func(bool) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.mismatch != 2 {
		t.Errorf("mismatches = %d, want 2 (first error %v)", res.mismatch, res.firstErr)
	}
}

func TestIdleEcho(t *testing.T) {
	good := echoListener(t, false)
	conns, failed, err := forEachConn(good, 20, idleEcho)
	closeAll(conns)
	if failed != 0 || len(conns) != 20 {
		t.Errorf("good echo: %d open, %d failed: %v", len(conns), failed, err)
	}
	bad := echoListener(t, true)
	conns, failed, _ = forEachConn(bad, 5, idleEcho)
	closeAll(conns)
	if failed != 5 {
		t.Errorf("corrupt echo: %d failed, want 5", failed)
	}
}

func TestProc(t *testing.T) {
	if _, err := processCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
	rss, err := processRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Errorf("rss %d, %v", rss, err)
	}
}

func TestSpread(t *testing.T) {
	if s := spreadOf([]float64{3, 1, 2}); s.med != 2 || s.lo != 1 || s.hi != 3 {
		t.Errorf("odd: %+v", s)
	}
	if s := spreadOf([]float64{4, 1, 2, 3}); s.med != 2.5 {
		t.Errorf("even: %+v", s)
	}
	if s := spreadOf(nil); s.n != 0 {
		t.Errorf("empty: %+v", s)
	}
}
