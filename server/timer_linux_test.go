package server

import (
	"context"
	"runtime"
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
	s, addr := start(t, echoHandler{}, WithEngine(EngineLoops), WithIdleTimeout(time.Hour))
	holdClients(t, addr, n) // in a child process: the server keeps its descriptors for itself
	before := runtime.NumGoroutine()
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().Conns < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	armed := 0
	g := s.group()
	for i := range g.Len() {
		l := g.Loop(i)
		if err := l.Submit(context.Background(), func() { armed += l.Timers() }); err != nil {
			t.Fatal(err)
		}
	}
	if armed < n {
		t.Fatalf("%d wheel timers armed for %d connections", armed, n)
	}
	if g := runtime.NumGoroutine(); g > before+2 {
		t.Fatalf("goroutines grew from %d to %d", before, g)
	}
}
