package server

import (
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestManyIdleTimersUseTheWheel holds 10,000 connections with an idle
// timeout: each is one entry of its loop's timing wheel, not a runtime
// timer (the event-loop engine creates none per connection), and no
// goroutine is started for them.
func TestManyIdleTimersUseTheWheel(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("event-loop engine only")
	}
	const n = 10000
	raiseFileLimit(t, 2*n+1000)
	s, addr := start(t, echoHandler{}, WithEngine(EngineLoops), WithIdleTimeout(time.Hour))
	before := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}}).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().Conns < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	armed := 0
	s.mu.Lock()
	eng := s.eng.(*loopEngine)
	s.mu.Unlock()
	for _, l := range eng.loops {
		done := make(chan int)
		l.submit(func() { done <- l.w.n })
		armed += <-done
	}
	if armed < n {
		t.Fatalf("%d wheel timers armed for %d connections", armed, n)
	}
	if g := runtime.NumGoroutine(); g > before+2 {
		t.Fatalf("goroutines grew from %d to %d", before, g)
	}
}

func raiseFileLimit(t *testing.T, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= want {
		return
	}
	old := lim
	lim.Cur = want
	if lim.Max < want {
		lim.Max = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot raise the descriptor limit to %d: %v", want, err)
		}
		t.Skipf("cannot raise the descriptor limit to %d: %v", want, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}
