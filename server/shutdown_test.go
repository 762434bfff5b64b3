package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// drainer answers whole lines (a partial line is a request in flight)
// and says "bye" on goodbye.
type drainer struct {
	closeRecorder
}

func (h *drainer) OnData(c Conn) {
	b, _ := c.Peek(0)
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return // wait for the rest of the request
	}
	c.Next(0)
	c.Write([]byte("done\n"))
}

func (h *drainer) OnGoodbye(c Conn) { c.Write([]byte("bye\n")) }

func TestShutdownDrains(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &drainer{*newCloseRecorder()}
		s, addr := start(t, h, eng, WithTuning(Tuning{TimerTick: 10 * time.Millisecond}))
		idle := dial(t, addr)
		ci := <-h.opened
		busy := dial(t, addr)
		cb := <-h.opened
		busy.Write([]byte("half a req")) // in flight: the rest comes after the drain began
		time.Sleep(20 * time.Millisecond)

		done := make(chan error, 1)
		begun := time.Now()
		go func() { done <- s.Shutdown(context.Background()) }()

		// The idle connection gets the goodbye, then a clean EOF.
		idle.SetReadDeadline(time.Now().Add(10 * time.Second))
		if got, err := io.ReadAll(idle); err != nil || string(got) != "bye\n" {
			t.Fatalf("idle connection read %q, %v", got, err)
		}
		// The busy one gets its goodbye, finishes its request, gets the
		// answer, then EOF.
		time.Sleep(50 * time.Millisecond)
		busy.Write([]byte("uest\n"))
		busy.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(busy)
		if err != nil || string(got) != "bye\ndone\n" {
			t.Fatalf("busy connection read %q, %v", got, err)
		}
		// Our FINs let the server finish its closes.
		idle.Close()
		busy.Close()
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		t.Logf("drained in %v", time.Since(begun).Round(time.Millisecond))
		for _, c := range []Conn{ci, cb} {
			if errs := h.waitClosed(t, c); len(errs) != 1 || !errors.Is(errs[0], ErrServerClosed) {
				t.Fatalf("OnClose %v, want ErrServerClosed", errs)
			}
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatal("a new connection was accepted after Shutdown")
		}
	})
}

// TestShutdownDeadlineForcesTheRest has a peer that never reads a large
// answer: the drain runs into the deadline, that connection is closed at
// once, and Shutdown says so; the idle one drained cleanly before.
func TestShutdownDeadlineForcesTheRest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &blastHandler{}
		s, addr := start(t, h, eng, WithSocketBuffers(16<<10, 16<<10), WithTuning(Tuning{TimerTick: 10 * time.Millisecond}))
		stuck := dial(t, addr)
		stuck.Write([]byte("8388608\n")) // 8 MiB it will never read
		clean := dial(t, addr)
		time.Sleep(50 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		go func() {
			clean.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, clean)
			clean.Close()
		}()
		err := s.Shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
		}
		if st := s.Stats(); st.Conns != 0 {
			t.Fatalf("%d connections left", st.Conns)
		}
	})
}

func TestShutdownFromManyGoroutinesRunsOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &drainer{*newCloseRecorder()}
		s, addr := start(t, h, eng)
		c := dial(t, addr)
		<-h.opened
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() { errs <- s.Shutdown(context.Background()) })
		}
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || line != "bye\n" {
			t.Fatalf("goodbye %q, %v", line, err)
		}
		if _, err := r.ReadString('\n'); err != io.EOF {
			t.Fatalf("after the goodbye: %v, want EOF (exactly one goodbye)", err)
		}
		c.Close()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
