package server

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// timeoutHandler applies per-connection settings on open and records when
// and why each connection closed.
type timeoutHandler struct {
	closeRecorder
	onOpen   func(c Conn)
	closedAt atomic.Int64
}

func (h *timeoutHandler) OnOpen(c Conn) {
	if h.onOpen != nil {
		h.onOpen(c)
	}
	h.closeRecorder.OnOpen(c)
}

func (h *timeoutHandler) OnClose(c Conn, err error) {
	h.closedAt.Store(time.Now().UnixNano())
	h.closeRecorder.OnClose(c, err)
}

const testTick = 10 * time.Millisecond

func TestIdleTimeout(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		const idle = 150 * time.Millisecond
		h := &timeoutHandler{closeRecorder: *newCloseRecorder()}
		_, addr := start(t, h, eng, WithIdleTimeout(idle), WithTuning(Tuning{TimerTick: testTick}))
		nc := dial(t, addr)
		c := <-h.opened
		// Traffic every 50ms for 400ms keeps it open.
		var last time.Time
		for i := range 8 {
			if i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			if err := echoRoundTrip(nc, []byte("ping")); err != nil {
				t.Fatalf("closed while active: %v", err)
			}
			last = time.Now()
		}
		errs := h.waitClosed(t, c)
		if len(errs) != 1 || !errors.Is(errs[0], ErrIdleTimeout) || !errors.Is(errs[0], os.ErrDeadlineExceeded) {
			t.Fatalf("closed with %v, want ErrIdleTimeout", errs)
		}
		if quiet := time.Duration(h.closedAt.Load() - last.UnixNano()); quiet < idle-testTick {
			t.Fatalf("closed after %v of silence, before the %v idle timeout", quiet, idle)
		}
	})
}

func TestDeadlines(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		t.Run("read", func(t *testing.T) {
			h := &timeoutHandler{closeRecorder: *newCloseRecorder(), onOpen: func(c Conn) {
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			}}
			_, addr := start(t, h, eng, WithTuning(Tuning{TimerTick: testTick}))
			dial(t, addr)
			if errs := h.waitClosed(t, <-h.opened); len(errs) != 1 || !errors.Is(errs[0], ErrReadTimeout) {
				t.Fatalf("closed with %v, want ErrReadTimeout", errs)
			}
		})
		t.Run("read-satisfied", func(t *testing.T) {
			h := &timeoutHandler{closeRecorder: *newCloseRecorder(), onOpen: func(c Conn) {
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			}}
			_, addr := start(t, h, eng, WithTuning(Tuning{TimerTick: testTick}))
			nc := dial(t, addr)
			c := <-h.opened
			echoRoundTrip(nc, []byte("in time"))
			time.Sleep(300 * time.Millisecond)
			h.mu.Lock()
			errs := h.closes[c]
			h.mu.Unlock()
			if len(errs) != 0 {
				t.Fatalf("closed with %v although input arrived in time", errs)
			}
		})
		t.Run("write", func(t *testing.T) {
			h := &timeoutHandler{closeRecorder: *newCloseRecorder(), onOpen: func(c Conn) {
				c.Write(make([]byte, 8<<20)) // the peer never reads
				c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			}}
			_, addr := start(t, h, eng, WithTuning(Tuning{TimerTick: testTick}), WithSocketBuffers(16<<10, 16<<10))
			dial(t, addr)
			if errs := h.waitClosed(t, <-h.opened); len(errs) != 1 || !errors.Is(errs[0], ErrWriteTimeout) {
				t.Fatalf("closed with %v, want ErrWriteTimeout", errs)
			}
		})
	})
}

// TestTimerNeverFiresAfterClose schedules an AfterFunc and a read deadline,
// then closes: neither fires, and OnClose reports the local close.
func TestTimerNeverFiresAfterClose(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		var fired atomic.Int32
		h := &timeoutHandler{closeRecorder: *newCloseRecorder(), onOpen: func(c Conn) {
			c.AfterFunc(50*time.Millisecond, func(Conn) { fired.Add(1) })
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			c.Close()
		}}
		_, addr := start(t, h, eng, WithTuning(Tuning{TimerTick: testTick}))
		nc := dial(t, addr)
		c := <-h.opened
		time.Sleep(200 * time.Millisecond) // past both timers
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("peer read %v, want the server's FIN", err)
		}
		nc.Close() // ends the server's wait for our FIN
		errs := h.waitClosed(t, c)
		if len(errs) != 1 || errs[0] != nil || fired.Load() != 0 {
			t.Fatalf("OnClose %v, AfterFunc fired %d times; want one nil close and no fire", errs, fired.Load())
		}
	})
}

func TestAfterFuncAndLoopTick(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		var ticks atomic.Int32
		fired := make(chan Conn, 1)
		h := &timeoutHandler{closeRecorder: *newCloseRecorder(), onOpen: func(c Conn) {
			c.AfterFunc(30*time.Millisecond, func(c Conn) {
				c.Write([]byte("timer"))
				fired <- c
			})
		}}
		_, addr := start(t, h, eng, WithTuning(Tuning{TimerTick: testTick}), WithLoops(2),
			WithLoopTick(20*time.Millisecond, func(int) { ticks.Add(1) }))
		nc := dial(t, addr)
		got := make([]byte, 5)
		readFull(t, nc, got)
		if string(got) != "timer" {
			t.Fatalf("got %q", got)
		}
		<-fired
		deadline := time.Now().Add(5 * time.Second)
		for ticks.Load() < 4 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if ticks.Load() < 4 {
			t.Fatalf("loop tick ran %d times", ticks.Load())
		}
	})
}

// TestTimerReset: a Conn.AfterFunc timer re-armed with Reset runs again,
// each time once; Reset of a pending timer moves it; Stop cancels it;
// and the function never runs after its connection has closed.
func TestTimerReset(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &connList{}
		_, addr := start(t, h, eng, WithTuning(Tuning{TimerTick: testTick}))
		nc := dial(t, addr)
		c := h.wait(t, 1)[0]
		fired := make(chan int, 16)
		var runs int
		var tm *Timer
		onLoop(t, c, func() {
			tm = c.AfterFunc(20*time.Millisecond, func(Conn) { runs++; fired <- runs })
		})
		for want := 1; want <= 3; want++ {
			if got := <-fired; got != want {
				t.Fatalf("run %d, want %d", got, want)
			}
			onLoop(t, c, func() {
				if tm.Reset(20 * time.Millisecond) {
					t.Error("Reset after the run reported a pending timer")
				}
			})
		}
		<-fired // the last Reset's run
		onLoop(t, c, func() {
			tm.Reset(time.Hour)
			if !tm.Reset(time.Hour) || !tm.Stop() || tm.Stop() {
				t.Error("Reset and Stop of a pending timer")
			}
			tm.Reset(30 * time.Millisecond)
			c.CloseWithError(nil)
		})
		nc.Close()
		select {
		case n := <-fired:
			t.Fatalf("run %d after the connection closed", n)
		case <-time.After(100 * time.Millisecond):
		}
	})
}
