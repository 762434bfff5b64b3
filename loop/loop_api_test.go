package loop

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestGroup starts a group of n loops for h on both engines' configs
// and stops it when the test ends.
func newTestGroup(t *testing.T, h Handler, engine Engine, n int) (*Group, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Loops, cfg.Engine, cfg.TimerTick = n, engine, time.Millisecond
	return startTestGroup(t, h, cfg)
}

// startTestGroup starts a group of h with cfg on a loopback listener and
// stops it when the test ends.
func startTestGroup(t testing.TB, h Handler, cfg Config) (*Group, string) {
	t.Helper()
	g, err := NewGroup(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := g.Adopt(ln); err != nil {
		t.Fatal(err)
	}
	return g, addr
}

func engines() []Engine {
	if hasPoller {
		return []Engine{EngineLoops, EnginePortable}
	}
	return []Engine{EnginePortable}
}

func TestExecuteRunsOnTheLoopInOrder(t *testing.T) {
	for _, e := range engines() {
		g, _ := newTestGroup(t, NopHandler{}, e, 2)
		for i := range g.Len() {
			l := g.Loop(i)
			if l.InLoop() {
				t.Fatal("InLoop is true on the test goroutine")
			}
			var got []int // touched only on the loop
			var mu sync.Mutex
			for k := range 100 {
				if err := l.Execute(func() {
					if !l.InLoop() {
						t.Error("task not on its loop")
					}
					got = append(got, k)
				}); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Submit(context.Background(), func() {
				mu.Lock()
				defer mu.Unlock()
				for k, v := range got {
					if k != v {
						t.Errorf("task %d ran as %d", v, k)
					}
				}
				if len(got) != 100 {
					t.Errorf("%d tasks ran before Submit's", len(got))
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestExecuteIsBoundedAndRecovers(t *testing.T) {
	for _, e := range engines() {
		cfg := DefaultConfig()
		cfg.Loops, cfg.Engine, cfg.TaskQueueSize = 1, e, 4
		g, err := NewGroup(NopHandler{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		l := g.Loop(0)
		block := make(chan struct{})
		l.Execute(func() { <-block }) // holds the loop while the queue fills
		time.Sleep(10 * time.Millisecond)
		full := false
		for range 10 {
			if err := l.Execute(func() {}); errors.Is(err, ErrQueueFull) {
				full = true
				break
			}
		}
		close(block)
		if !full {
			t.Fatal("Execute never reported ErrQueueFull with a queue of 4")
		}
		err = l.Execute(func() { panic("task boom") })
		for errors.Is(err, ErrQueueFull) { // the loop is still working off the full queue
			time.Sleep(time.Millisecond)
			err = l.Execute(func() { panic("task boom") })
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Submit(context.Background(), func() {}); err != nil {
			t.Fatalf("the loop did not survive a panicking task: %v", err)
		}
		if g.Stats().Panics != 1 {
			t.Fatalf("panics %d, want 1", g.Stats().Panics)
		}
		g.Stop()
		if err := l.Execute(func() {}); !errors.Is(err, ErrStopped) {
			t.Fatalf("Execute after Stop: %v, want ErrStopped", err)
		}
	}
}

func TestLoopAfterFuncFiresOnTheLoopAndStops(t *testing.T) {
	for _, e := range engines() {
		g, _ := newTestGroup(t, NopHandler{}, e, 1)
		l := g.Loop(0)
		fired := make(chan bool, 1)
		var stopped atomic.Bool
		l.Submit(context.Background(), func() {
			l.AfterFunc(5*time.Millisecond, func() { fired <- l.InLoop() })
			tm := l.AfterFunc(5*time.Millisecond, func() { stopped.Store(true) })
			if !tm.Stop() {
				t.Error("Stop of a pending timer reported false")
			}
		})
		select {
		case onLoop := <-fired:
			if !onLoop {
				t.Fatal("AfterFunc ran off its loop")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("AfterFunc did not fire")
		}
		time.Sleep(20 * time.Millisecond)
		if stopped.Load() {
			t.Fatal("a stopped timer fired")
		}
	}
}

// loopRecorder checks that every callback of a connection runs on the
// loop that Conn.Loop names.
type loopRecorder struct {
	NopHandler
	wrong atomic.Int32
	seen  atomic.Int32
}

func (h *loopRecorder) OnData(c Conn) {
	if !c.Loop().InLoop() || c.Loop().Index() != c.LoopIndex() {
		h.wrong.Add(1)
	}
	h.seen.Add(1)
	b, _ := c.Next(0)
	c.Write(b)
}

func TestConnLoopIsTheCallbackGoroutine(t *testing.T) {
	for _, e := range engines() {
		h := &loopRecorder{}
		_, addr := newTestGroup(t, h, e, 2)
		for range 8 {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			nc.Write([]byte("x"))
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := nc.Read(make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			nc.Close()
		}
		if h.seen.Load() < 8 || h.wrong.Load() != 0 {
			t.Fatalf("%d callbacks, %d off their loop", h.seen.Load(), h.wrong.Load())
		}
	}
}

// TestSignalCollapsesAndNeverFills: Notify from many goroutines runs the
// function on the loop, at least once after the last Notify, with
// notifications collapsing; a task queue full of tasks does not stop it.
func TestSignalCollapsesAndNeverFills(t *testing.T) {
	for _, e := range engines() {
		cfg := DefaultConfig()
		cfg.Loops, cfg.Engine, cfg.TaskQueueSize = 1, e, 1
		g, err := NewGroup(NopHandler{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		l := g.Loop(0)
		var mu sync.Mutex
		sent, seen := 0, 0 // sent: under mu; seen: what the loop saw of sent
		runs := atomic.Int64{}
		done := make(chan struct{}, 1)
		s := l.NewSignal(func() {
			if !l.InLoop() {
				t.Error("signal not on its loop")
			}
			runs.Add(1)
			mu.Lock()
			seen = sent
			last := seen == 4000
			mu.Unlock()
			if last {
				select {
				case done <- struct{}{}:
				default:
				}
			}
		})
		block := make(chan struct{})
		if err := l.Execute(func() { <-block }); err != nil { // fills the one-slot queue once it runs
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 1000 {
					mu.Lock()
					sent++
					mu.Unlock()
					if !s.Notify() {
						t.Error("Notify false on a running loop")
					}
				}
			})
		}
		wg.Wait()
		close(block)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: the loop saw %d of 4000 notifications", e, seen)
		}
		if n := runs.Load(); n > 4000 {
			t.Fatalf("%v: %d runs for 4000 notifications", e, n)
		}
		g.Stop()
		if s.Notify() {
			t.Fatalf("%v: Notify true on a stopped loop", e)
		}
	}
}
