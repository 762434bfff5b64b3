package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blastHandler answers a decimal size with that many bytes of a known
// pattern, in one Write.
type blastHandler struct{ echoHandler }

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

func (blastHandler) OnData(c Conn) {
	b, _ := c.Peek(0)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		n, _ := strconv.Atoi(string(b[:i]))
		c.Discard(i + 1)
		c.Write(pattern(n))
	}
}

// TestSlowReader has the server write 4 MiB at once through a tiny send
// buffer to a peer that reads slowly: the writes hit EAGAIN and partial
// writes again and again, and every byte must still arrive in order.
func TestSlowReader(t *testing.T) {
	const size = 4 << 20
	forEachEngine(t, func(t *testing.T, eng Option) {
		s, addr := start(t, blastHandler{}, eng, WithSocketBuffers(4096, 4096))
		c := dial(t, addr)
		c.(*net.TCPConn).SetReadBuffer(16 << 10)
		fmt.Fprintf(c, "%d\n", size)
		got := make([]byte, 0, size)
		buf := make([]byte, 5000)
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		for reads := 0; len(got) < size; reads++ {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("after %d bytes: %v", len(got), err)
			}
			got = append(got, buf[:n]...)
			if reads%8 == 0 {
				time.Sleep(time.Millisecond) // a slow consumer
			}
		}
		if !bytes.Equal(got, pattern(size)) {
			t.Fatal("slow reader got different bytes")
		}
		if strings.HasSuffix(t.Name(), "/loops") {
			if st := s.Stats(); st.WriteStalls == 0 {
				t.Fatalf("the send buffer never filled: %+v", st)
			}
		}
	})
}

// asyncHandler hands every new connection to the test.
type asyncHandler struct {
	echoHandler
	opened chan Conn
	wakes  atomic.Int64
}

func (h *asyncHandler) OnOpen(c Conn) { h.opened <- c }
func (h *asyncHandler) OnWake(c Conn) {
	h.wakes.Add(1)
	c.Write([]byte("woke\n"))
}

func TestAsyncWriteOrderPerGoroutine(t *testing.T) {
	const writers, each = 100, 200
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &asyncHandler{opened: make(chan Conn, 1)}
		_, addr := start(t, h, eng, WithTaskQueueSize(1024))
		nc := dial(t, addr)
		c := <-h.opened
		var wg sync.WaitGroup
		var done, full atomic.Int64
		for g := range writers {
			wg.Go(func() {
				for i := range each {
					msg := []byte(fmt.Sprintf("%d %d\n", g, i))
					var cb func(Conn, error)
					if i%10 == 0 {
						cb = func(_ Conn, err error) {
							if err == nil {
								done.Add(1)
							}
						}
					}
					for {
						err := c.AsyncWrite(msg, cb)
						if err == nil {
							break
						}
						if !errors.Is(err, ErrQueueFull) {
							t.Error(err)
							return
						}
						full.Add(1)
						time.Sleep(100 * time.Microsecond)
					}
				}
			})
		}
		next := make([]int, writers)
		r := bufio.NewReader(nc)
		nc.SetReadDeadline(time.Now().Add(60 * time.Second))
		for range writers * each {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			f := strings.Fields(line)
			g, _ := strconv.Atoi(f[0])
			i, _ := strconv.Atoi(f[1])
			if i != next[g] {
				t.Fatalf("writer %d: got message %d, want %d", g, i, next[g])
			}
			next[g]++
		}
		wg.Wait()
		deadline := time.Now().Add(5 * time.Second)
		for done.Load() != writers*each/10 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if done.Load() != writers*each/10 {
			t.Fatalf("%d completion callbacks ran, want %d", done.Load(), writers*each/10)
		}
		t.Logf("queue-full retries: %d", full.Load())
	})
}

// blockingHandler stalls its loop inside OnData until release is closed.
type blockingHandler struct {
	echoHandler
	opened  chan Conn
	entered chan struct{}
	release chan struct{}
}

func (h *blockingHandler) OnOpen(c Conn) { h.opened <- c }
func (h *blockingHandler) OnData(c Conn) {
	h.entered <- struct{}{}
	<-h.release
	h.echoHandler.OnData(c)
}

func TestAsyncWriteFullQueue(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &blockingHandler{opened: make(chan Conn, 1), entered: make(chan struct{}, 1), release: make(chan struct{})}
		_, addr := start(t, h, eng, WithTaskQueueSize(8), WithLoops(1))
		nc := dial(t, addr)
		c := <-h.opened
		nc.Write([]byte("x"))
		<-h.entered // the loop is now stuck in OnData and runs no tasks
		var err error
		for range 100 {
			if err = c.AsyncWrite([]byte("y"), nil); err != nil {
				break
			}
		}
		close(h.release)
		if !errors.Is(err, ErrQueueFull) {
			t.Fatalf("AsyncWrite into a full queue returned %v, want ErrQueueFull", err)
		}
	})
}

func TestWakeCollapses(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &asyncHandler{opened: make(chan Conn, 1)}
		_, addr := start(t, h, eng)
		nc := dial(t, addr)
		c := <-h.opened
		for range 50 {
			c.Wake()
		}
		line, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil || line != "woke\n" {
			t.Fatalf("got %q, %v", line, err)
		}
		if n := h.wakes.Load(); n < 1 || n > 50 {
			t.Fatalf("%d OnWake calls", n)
		}
	})
}

func TestPeerCloseReportedOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		r := newCloseRecorder()
		_, addr := start(t, r, eng)
		nc := dial(t, addr)
		c := <-r.opened
		if err := echoRoundTrip(nc, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		errs := r.waitClosed(t, c)
		if len(errs) != 1 || !errors.Is(errs[0], io.EOF) {
			t.Fatalf("OnClose calls: %v, want one io.EOF", errs)
		}
	})
}

func TestLocalCloseFlushesAndReportsOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		r := newCloseRecorder()
		_, addr := start(t, r, eng)
		nc := dial(t, addr)
		c := <-r.opened
		nc.Write([]byte("bye"))
		got, err := io.ReadAll(nc) // "ciao", then EOF from the server's close
		if err != nil || string(got) != "ciao" {
			t.Fatalf("read %q, %v", got, err)
		}
		errs := r.waitClosed(t, c)
		if len(errs) != 1 || errs[0] != nil {
			t.Fatalf("OnClose calls: %v, want one nil", errs)
		}
	})
}

func TestCloseFromManyGoroutines(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		r := newCloseRecorder()
		_, addr := start(t, r, eng)
		nc := dial(t, addr)
		c := <-r.opened
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { c.Close() })
		}
		wg.Wait()
		if errs := r.waitClosed(t, c); len(errs) != 1 {
			t.Fatalf("OnClose ran %d times", len(errs))
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("peer read after close: %v, want EOF", err)
		}
		if _, err := c.Write([]byte("late")); err == nil {
			// Write is loop-only; from here it must at least not succeed on a closed conn.
			t.Fatal("write after close succeeded")
		}
		if err := c.AsyncWrite([]byte("late"), nil); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("AsyncWrite after close: %v", err)
		}
	})
}

func TestServerCloseClosesConnections(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		r := newCloseRecorder()
		s, addr := start(t, r, eng)
		nc := dial(t, addr)
		c := <-r.opened
		s.Close()
		errs := r.waitClosed(t, c)
		if len(errs) != 1 || !errors.Is(errs[0], ErrServerClosed) {
			t.Fatalf("OnClose calls: %v, want one ErrServerClosed", errs)
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection still open after server Close")
		}
		if err := s.Serve(mustListen(t)); !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve after Close: %v", err)
		}
	})
}

func mustListen(t *testing.T) net.Listener {
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestGoroutinesDoNotGrowWithConnections holds 1,000 connections open on
// the event-loop engine and checks that no goroutine was started for them.
func TestGoroutinesDoNotGrowWithConnections(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the portable engine uses goroutines per connection by design")
	}
	s, addr := start(t, echoHandler{}, WithEngine(EngineLoops))
	c := dial(t, addr)
	echoRoundTrip(c, []byte("warm"))
	before := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, 1000)
	for range 1000 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, nc := range conns {
		if err := echoRoundTrip(nc, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Conns != 1001 {
		t.Fatalf("%d connections open, want 1001", st.Conns)
	}
	after := runtime.NumGoroutine()
	if after > before+2 { // room for a runtime helper goroutine
		t.Fatalf("goroutines grew from %d to %d with 1,000 connections", before, after)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Option
	}{
		{"loops", WithLoops(0)},
		{"read buffer", WithReadBuffer(10)},
		{"read per round", WithTuning(Tuning{ReadPerRound: 100})},
		{"task queue", WithTaskQueueSize(0)},
		{"max input", WithMaxBufferedInput(0)},
		{"timer tick", WithTuning(Tuning{TimerTick: time.Microsecond})},
		{"socket buffers", WithSocketBuffers(-1, 0)},
		{"balance", WithBalance(Balance(9))},
		{"engine", WithEngine(Engine(9))},
		{"logger", WithLogger(nil)},
	} {
		if _, err := New(echoHandler{}, tc.opt); err == nil {
			t.Errorf("%s: New accepted a bad option", tc.name)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New accepted a nil handler")
	}
	if _, err := New(echoHandler{}, WithEngine(EnginePortable), WithTuning(Tuning{EdgeTriggered: true})); err == nil {
		t.Error("New accepted edge-triggered mode on the portable engine")
	}
}
