package server

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// engines are the engines every behaviour test runs against.
func engines() []struct {
	name string
	opt  Option
} {
	list := []struct {
		name string
		opt  Option
	}{{"portable", WithEngine(EnginePortable)}}
	if runtime.GOOS != "windows" {
		list = append([]struct {
			name string
			opt  Option
		}{{"loops", WithEngine(EngineLoops)}}, list...)
	}
	return list
}

// forEachEngine runs f as a subtest per engine.
func forEachEngine(t *testing.T, f func(t *testing.T, eng Option)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { f(t, e.opt) })
	}
}

// start runs a server for h on 127.0.0.1:0 and returns its address. The
// server is closed when the test ends.
func start(t testing.TB, h Handler, opts ...Option) (*Server, string) {
	t.Helper()
	return startOn(t, "tcp", "127.0.0.1:0", h, opts...)
}

func startOn(t testing.TB, network, addr string, h Handler, opts ...Option) (*Server, string) {
	t.Helper()
	s, err := New(h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	// Start, not go Serve: the loops accept (every SO_REUSEPORT member
	// exists) before the test dials.
	if err := s.Start(ln); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Wait() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, a
}

// echoHandler writes back whatever it reads.
type echoHandler struct{}

func (echoHandler) OnOpen(Conn) {}
func (echoHandler) OnData(c Conn) {
	b, _ := c.Next(0)
	c.Write(b)
}
func (echoHandler) OnClose(Conn, error) {}

// closeRecorder records every OnClose.
type closeRecorder struct {
	mu     sync.Mutex
	closes map[Conn][]error
	opened chan Conn
}

func newCloseRecorder() *closeRecorder {
	return &closeRecorder{closes: make(map[Conn][]error), opened: make(chan Conn, 1024)}
}

func (r *closeRecorder) OnOpen(c Conn) { r.opened <- c }
func (r *closeRecorder) OnData(c Conn) {
	b, _ := c.Next(0)
	if string(b) == "bye" {
		c.Write([]byte("ciao"))
		c.Close()
		return
	}
	c.Write(b)
}
func (r *closeRecorder) OnClose(c Conn, err error) {
	r.mu.Lock()
	r.closes[c] = append(r.closes[c], err)
	r.mu.Unlock()
}

func (r *closeRecorder) waitClosed(t *testing.T, c Conn) []error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		errs := r.closes[c]
		r.mu.Unlock()
		if len(errs) > 0 {
			time.Sleep(50 * time.Millisecond) // a second OnClose would show up now
			r.mu.Lock()
			errs = r.closes[c]
			r.mu.Unlock()
			return errs
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("OnClose did not run")
	return nil
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readFull reads len(p) bytes with a deadline.
func readFull(t testing.TB, c net.Conn, p []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, p); err != nil {
		t.Fatalf("read: %v", err)
	}
}
