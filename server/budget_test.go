package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryBudgetBoundsAFlood: 40 peers write as fast as they can and
// never read, 5 peers echo round trips. With an 8 MiB budget the bytes the
// engine buffers stay within the budget (plus one read buffer per loop),
// the echoing peers are served throughout, and the silent peers are
// paused, then closed as slow consumers once their output has stood still.
func TestMemoryBudgetBoundsAFlood(t *testing.T) {
	const budget, silent, echoers, loops = 8 << 20, 40, 5, 2
	forEachEngine(t, func(t *testing.T, eng Option) {
		s, addr := start(t, echoHandler{}, eng, WithLoops(loops), WithMemoryBudget(budget))
		var stop atomic.Bool
		defer stop.Store(true)
		flood := bytes.Repeat([]byte("f"), 64<<10)
		for range silent {
			nc := dial(t, addr)
			nc.(*net.TCPConn).SetReadBuffer(4096)
			go func() {
				for !stop.Load() {
					if _, err := nc.Write(flood); err != nil {
						return
					}
				}
			}()
		}
		var peak atomic.Int64
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for !stop.Load() {
				st := s.Stats()
				if v := st.OutboundBytes + st.InboundBytes; v > peak.Load() {
					peak.Store(v)
				}
				time.Sleep(time.Millisecond)
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, echoers)
		var trips, slowTrips, maxTrip atomic.Int64
		for range echoers {
			nc := dial(t, addr)
			wg.Go(func() {
				msg := bytes.Repeat([]byte("e"), 1024)
				got := make([]byte, len(msg))
				for end := time.Now().Add(4 * time.Second); time.Now().Before(end); {
					nc.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := nc.Write(msg); err != nil {
						errs <- err
						return
					}
					t0 := time.Now()
					if _, err := io.ReadFull(nc, got); err != nil {
						errs <- err
						return
					}
					if d := time.Since(t0); d > 5*time.Millisecond {
						slowTrips.Add(1)
						if int64(d) > maxTrip.Load() {
							maxTrip.Store(int64(d))
						}
					}
					trips.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("an echoing peer failed: %v", err)
		}
		stop.Store(true)
		<-sampled
		st := s.Stats()
		slack := int64(loops * (64 << 10))
		if p := peak.Load(); p > budget+slack {
			t.Fatalf("buffered %d bytes at the peak, budget %d", p, budget)
		}
		if st.BudgetPauses == 0 || st.ClosedBy[ReasonSlowConsumer] == 0 {
			t.Fatalf("budget pauses %d, slow-consumer closes %d: the flood was not held back",
				st.BudgetPauses, st.ClosedBy[ReasonSlowConsumer])
		}
		t.Logf("peak %.1f MiB buffered of %d MiB; %d round trips (%d over 5ms, the slowest %v); %d budget pauses; %d silent peers closed as slow consumers",
			float64(peak.Load())/(1<<20), budget>>20, trips.Load(), slowTrips.Load(), time.Duration(maxTrip.Load()),
			st.BudgetPauses, st.ClosedBy[ReasonSlowConsumer])
	})
}

func TestMemoryBudgetRejectsNegative(t *testing.T) {
	if _, err := New(echoHandler{}, WithMemoryBudget(-1)); err == nil {
		t.Fatal("New accepted a negative memory budget")
	}
	s, err := New(echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	s.SetMemoryBudget(1 << 20) // before Serve: kept for the loops
	_, addr := startServer(t, s)
	nc := dial(t, addr)
	nc.Write([]byte("x"))
	if err := readOne(nc); err != nil {
		t.Fatal(err)
	}
}

func startServer(t *testing.T, s *Server) (*Server, string) {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return s, ln.Addr().String()
}

func readOne(nc net.Conn) error {
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadFull(nc, make([]byte, 1))
	return err
}

// hoarder keeps every byte unconsumed, and closes from OnData once it holds
// "close".
type hoarder struct{ NopHandler }

func (hoarder) OnData(c Conn) {
	if b, _ := c.Peek(0); bytes.Contains(b, []byte("close")) {
		c.Close()
	}
}

// TestInboundAccountingReturnsToZero: input held between callbacks is
// counted while held and uncounted when its connection closes, whether
// the close comes from the peer or from OnData right after the buffer
// grew.
func TestInboundAccountingReturnsToZero(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		s, addr := start(t, hoarder{}, eng, WithMemoryBudget(64<<20))
		conns := make([]net.Conn, 20)
		for i := range conns {
			conns[i] = dial(t, addr)
			conns[i].Write(bytes.Repeat([]byte("h"), 10000))
		}
		waitFor(t, func() bool { return s.Stats().InboundBytes >= 20*10000 })
		for i, nc := range conns {
			if i%2 == 0 {
				nc.Write(bytes.Repeat([]byte("g"), 50000)) // grows the buffer
				nc.Write([]byte("close"))
				go func() { io.Copy(io.Discard, nc); nc.Close() }() // the server's FIN, then ours
			} else {
				nc.Close()
			}
		}
		waitFor(t, func() bool { st := s.Stats(); return st.Conns == 0 && st.InboundBytes == 0 })
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
	}
}

// fanOut sends every frame of its first connection (the publisher) to all
// the others, from the publisher's OnFrame, on the one loop.
type fanOut struct {
	closeRecorder
	conns []Conn // loop only
}

func (h *fanOut) OnOpen(c Conn) {
	h.conns = append(h.conns, c)
	h.closeRecorder.OnOpen(c)
}

func (h *fanOut) OnFrame(c Conn, f []byte) {
	for _, s := range h.conns[1:] {
		s.WriteFrame(f)
	}
}

// TestBudgetPausesAFanOutProducer: a publisher pipelines 1,000 frames of
// 1 KiB, each fanned out to 8 subscribers that do not read yet: 8 MiB of
// output against a 2 MiB budget. The publisher is paused with its frames
// left undecoded, so the output stays within the budget; once the
// subscribers read, the held frames are decoded without any more input
// from the publisher, and every subscriber gets all 1,000 in order.
func TestBudgetPausesAFanOutProducer(t *testing.T) {
	const (
		budget = 2 << 20
		subs   = 8
		frames = 1000
	)
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &fanOut{closeRecorder: *newCloseRecorder()}
		s, addr := start(t, h, eng, WithLoops(1), WithCodec(testLines{max: 2048}),
			WithMemoryBudget(budget), WithSocketBuffers(16<<10, 16<<10))
		pub := dial(t, addr)
		<-h.opened
		var subConns []net.Conn
		for range subs {
			nc := dial(t, addr)
			nc.(*net.TCPConn).SetReadBuffer(16 << 10)
			subConns = append(subConns, nc)
			<-h.opened
		}
		line := bytes.Repeat([]byte("m"), 1023)
		var all []byte
		for i := range frames {
			all = append(all, fmt.Sprintf("%04d", i)...)
			all = append(all, line[4:]...)
			all = append(all, '\n')
		}
		go pub.Write(all)

		waitFor(t, func() bool { return s.Stats().BudgetPauses > 0 })
		time.Sleep(100 * time.Millisecond)
		if out := s.Stats().OutboundBytes; out > budget {
			t.Fatalf("%d bytes queued, over the %d budget", out, budget)
		}
		var wg sync.WaitGroup
		errs := make(chan error, subs)
		for _, nc := range subConns {
			wg.Go(func() {
				nc.SetReadDeadline(time.Now().Add(20 * time.Second))
				r := bufio.NewReaderSize(nc, 4096)
				for i := range frames {
					l, err := r.ReadString('\n')
					if err != nil {
						errs <- fmt.Errorf("frame %d: %w", i, err)
						return
					}
					if want := fmt.Sprintf("%04d", i); l[:4] != want {
						errs <- fmt.Errorf("frame %s, want %s", l[:4], want)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.SlowConsumers != 0 {
			t.Fatalf("%d slow consumers", st.SlowConsumers)
		}
	})
}
