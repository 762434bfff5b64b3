//go:build unix

package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHealthAndWatchdogSeeABlockedLoop blocks a loop in OnData: Health
// fails for it, the watchdog counts a stall and logs the loop's stack, and
// once the handler returns the loop is healthy again.
func TestHealthAndWatchdogSeeABlockedLoop(t *testing.T) {
	var logs strings.Builder
	var logMu sync.Mutex
	log := newTestLogger(func(p []byte) {
		logMu.Lock()
		logs.Write(p)
		logMu.Unlock()
	})
	h := &blockingHandler{opened: make(chan Conn, 1), entered: make(chan struct{}, 1), release: make(chan struct{})}
	s, addr := start(t, h, WithEngine(EngineLoops), WithLoops(2), WithStallThreshold(100*time.Millisecond), WithLogger(log))

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if err := s.Health(ctx); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	cancel()

	nc := dial(t, addr)
	<-h.opened
	nc.Write([]byte("block"))
	<-h.entered
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := s.Health(ctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "not turning") {
		t.Fatalf("Health with a blocked loop: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Stalls == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(h.release)
	if st := s.Stats(); st.Stalls != 1 {
		t.Fatalf("stalls %d, want 1", st.Stalls)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "event loop stalled") || !strings.Contains(out, "blockingHandler") {
		t.Fatalf("stall not logged with the loop's stack:\n%s", out)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Health(ctx); err != nil {
		t.Fatalf("after the handler returned: %v", err)
	}
}
