package server

import (
	"context"
	"testing"
	"time"
)

// TestDrainTenThousandIdleConnections times the graceful drain of 10,000
// idle connections whose peers close when they see the server's FIN.
func TestDrainTenThousandIdleConnections(t *testing.T) {
	const n = 10000
	s, err := New(echoHandler{}, WithEngine(EngineLoops), WithTuning(Tuning{TimerTick: 10 * time.Millisecond}), WithDrainQuiet(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	wait := holdClients(t, ln.Addr().String(), n) // peers that close on the server's FIN
	for deadline := time.Now().Add(30 * time.Second); s.Stats().Conns < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	took := time.Since(start)
	<-served
	if err := wait(); err != nil {
		t.Fatalf("clients: %v", err)
	}
	st := s.Stats()
	if st.ClosedBy[ReasonShutdown] != n {
		t.Fatalf("%d closed by the shutdown, want %d", st.ClosedBy[ReasonShutdown], n)
	}
	t.Logf("drained %d idle connections in %v", n, took.Round(time.Millisecond))
}
