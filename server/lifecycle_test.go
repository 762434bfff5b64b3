package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// tickPauser records each loop's connections from OnOpen and, from that
// loop's WithLoopTick function, pauses and resumes them in turn: the tick
// and the callbacks run on the same loop goroutine on every engine, so the
// race detector sees no unsynchronized access.
type tickPauser struct {
	echoHandler
	byLoop  [][]Conn // byLoop[i] is touched only by loop i
	paused  []bool
	toggles []int
}

func (h *tickPauser) OnOpen(c Conn) { h.byLoop[c.LoopIndex()] = append(h.byLoop[c.LoopIndex()], c) }

func (h *tickPauser) tick(loop int) {
	h.toggles[loop]++
	for _, c := range h.byLoop[loop] {
		if h.paused[loop] {
			c.ResumeRead()
		} else {
			c.PauseRead()
		}
	}
	h.paused[loop] = !h.paused[loop]
}

func TestLoopTickPausesAndResumesRead(t *testing.T) {
	const loops, clients, size = 2, 4, 256 << 10
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &tickPauser{byLoop: make([][]Conn, loops), paused: make([]bool, loops), toggles: make([]int, loops)}
		_, addr := start(t, h, eng, WithLoops(loops), WithTuning(Tuning{TimerTick: 5 * time.Millisecond}),
			WithLoopTick(5*time.Millisecond, h.tick))
		want := pattern(size)
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			nc := dial(t, addr)
			wg.Go(func() {
				go func() {
					for off := 0; off < size; off += 4096 {
						nc.Write(want[off : off+4096])
						time.Sleep(100 * time.Microsecond)
					}
				}()
				got := make([]byte, size)
				readFull(t, nc, got)
				if !bytes.Equal(got, want) {
					errs <- errors.New("echo differs")
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}

// TestLifecycleAtAnyMoment closes or shuts the server down at once after
// Serve starts, and at moments later on, with a client connecting
// meanwhile: Serve always returns ErrServerClosed, Close and Shutdown
// return, no goroutine is left behind (TestMain checks).
func TestLifecycleAtAnyMoment(t *testing.T) {
	delays := []time.Duration{0, time.Microsecond, 50 * time.Microsecond, 500 * time.Microsecond, 3 * time.Millisecond}
	for _, how := range []string{"close", "shutdown", "both"} {
		for _, d := range delays {
			forEachEngine(t, func(t *testing.T, eng Option) {
				s, err := New(echoHandler{}, eng, WithLoops(2), WithDrainQuiet(time.Millisecond), WithTuning(Tuning{TimerTick: time.Millisecond}))
				if err != nil {
					t.Fatal(err)
				}
				ln, err := Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				served := make(chan error, 1)
				go func() { served <- s.Serve(ln) }()
				dialed := make(chan struct{})
				go func() {
					defer close(dialed)
					if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
						nc.Write([]byte("hello"))
						nc.SetReadDeadline(time.Now().Add(2 * time.Second))
						nc.Read(make([]byte, 5))
						nc.Close()
					}
				}()
				if d > 0 {
					time.Sleep(d)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				switch how {
				case "close":
					if err := s.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
				case "shutdown":
					if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("Shutdown: %v", err)
					}
				case "both":
					done := make(chan struct{})
					go func() { s.Shutdown(ctx); close(done) }()
					s.Close() // ends the drain
					<-done
				}
				if err := <-served; err != ErrServerClosed {
					t.Fatalf("Serve returned %v, want ErrServerClosed", err)
				}
				<-dialed
			})
		}
	}
}
