//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// guard bounds every wait in these tests; it only stops a hung test, it
// asserts nothing about speed.
const guard = 20 * time.Second

func dialHTTP(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, guard)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * guard))
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// loadRequest is the i-th request of load client id, with the check of
// its answer.
func loadRequest(id, i int) (method string, wire []byte, check func(*http.Response, []byte) error) {
	switch i % 4 {
	case 0, 1:
		method = "GET"
		if i%4 == 1 {
			method = "HEAD"
		}
		wire = []byte(method + " / HTTP/1.1\r\nHost: example\r\n\r\n")
		return method, wire, func(resp *http.Response, body []byte) error {
			want := "Hello, World!"
			if method == "HEAD" {
				want = ""
			}
			if resp.StatusCode != 200 || string(body) != want || resp.Header.Get("Content-Type") != "text/plain" {
				return fmt.Errorf("%s /: %d %q %q", method, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			return nil
		}
	case 2:
		body := fmt.Appendf(nil, "client %d request %d ", id, i)
		body = append(body, bytes.Repeat([]byte{byte('a' + i%26)}, rand.IntN(3000))...)
		wire = fmt.Appendf(nil, "POST /echo HTTP/1.1\r\nHost: example\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return "POST", wire, func(resp *http.Response, got []byte) error {
			if resp.StatusCode != 200 || !bytes.Equal(got, body) {
				return fmt.Errorf("POST /echo of %d bytes: %d, %d bytes back, equal %v", len(body), resp.StatusCode, len(got), bytes.Equal(got, body))
			}
			return nil
		}
	default:
		wire = []byte("GET /nope HTTP/1.1\r\nHost: example\r\n\r\n")
		return "GET", wire, func(resp *http.Response, _ []byte) error {
			if resp.StatusCode != 404 {
				return fmt.Errorf("GET /nope: %d", resp.StatusCode)
			}
			return nil
		}
	}
}

// loader sends requests one after the other on a keep-alive connection,
// dialling again when the server closes it, until a dial fails.
type loader struct {
	id         int
	answered   int   // answers, all checked
	closes     int   // answers with "Connection: close"
	noResponse int   // requests the server closed the connection on without an answer (after the signal only)
	refused    error // the dial that ended it
	err        error // an answer that was wrong, or anything unexpected
}

func (l *loader) run(addr string, signaled *atomic.Bool, warm func()) {
	var c net.Conn
	var r *bufio.Reader
	defer func() {
		if c != nil {
			c.Close()
		}
		if l.answered < 5 {
			warm() // it failed early: the test need not wait for it
		}
	}()
	for i := 0; ; i++ {
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", addr, guard); err != nil {
				c = nil
				if !signaled.Load() {
					l.err = fmt.Errorf("dial before the signal: %w", err)
				}
				l.refused = err
				return
			}
			c.SetDeadline(time.Now().Add(2 * guard))
			r = bufio.NewReader(c)
		}
		method, wire, check := loadRequest(l.id, i)
		_, werr := c.Write(wire) // a write on a connection the server closed may succeed or not
		if _, err := r.Peek(1); err != nil {
			// Not a byte of an answer: the server closed the connection
			// before it read the request. That is a drain's right, never
			// before the signal.
			if !signaled.Load() {
				l.err = fmt.Errorf("request %d before the signal: no answer: %v (write: %v)", i, err, werr)
				return
			}
			l.noResponse++
			c.Close()
			c = nil
			continue
		}
		resp, err := http.ReadResponse(r, &http.Request{Method: method})
		if err != nil {
			l.err = fmt.Errorf("request %d: a broken answer: %v", i, err)
			return
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			l.err = fmt.Errorf("request %d: a broken body: %v", i, err)
			return
		}
		if err := check(resp, body); err != nil {
			l.err = fmt.Errorf("request %d: %v", i, err)
			return
		}
		l.answered++
		if l.answered == 5 {
			warm()
		}
		if resp.Close {
			l.closes++
			if !signaled.Load() {
				l.err = fmt.Errorf("request %d: Connection: close before the signal", i)
				return
			}
			c.Close()
			c = nil
		}
	}
}

// TestSIGTERMDrainsHTTP: 20 clients send requests on keep-alive
// connections, 5 or more connections sit idle after a request each (one
// at least on the loop of the next), and one
// POST /echo has sent its head and half its Content-Length body when
// SIGTERM comes. The idle connections are closed at once (EOF without an
// answer, while the drain still waits for the half-sent request); the
// half-sent request, finished after that, is answered in full with
// "Connection: close" and its connection closed; every answer any client
// got is right; a request on a closed connection gets no answer, and new
// connections are refused; the process exits 0. Natively and through
// the net/http adapter (-nethttp).
func TestSIGTERMDrainsHTTP(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"native", nil}, {"nethttp", []string{"-nethttp"}}} {
		t.Run(mode.name, func(t *testing.T) {
			const (
				loaders = 20
				idlers  = 5
			)
			p := startBinary(t, append([]string{"-loops", "2", "-drain-timeout", "20s"}, mode.args...)...)
			// The request in flight: its head and half its body, read by
			// the server (its byte count says so, and on which loop) before
			// the signal.
			body := make([]byte, 100<<10)
			for i := range body {
				body[i] = byte(rand.Uint32())
			}
			half := len(body) / 2
			fc, fr := dialHTTP(t, p.addr)
			head := fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: example\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(body))
			flightLoop := p.loopReading(t, uint64(len(head)+half), func() {
				if _, err := fc.Write(append([]byte(head), body[:half]...)); err != nil {
					t.Fatal(err)
				}
			})

			// Idle keep-alive connections, each after one request; one at
			// least on the in-flight request's loop. Each loop begins its
			// drain on its own: that one's EOF says the drain has reached
			// the in-flight request before the rest of its body is sent.
			var idle []net.Conn
			sameLoop := 0
			for len(idle) < idlers || sameLoop == 0 {
				if len(idle) == 64 {
					t.Fatalf("64 connections, none on loop %s", flightLoop)
				}
				c, r := dialHTTP(t, p.addr)
				req := "GET / HTTP/1.1\r\nHost: example\r\n\r\n"
				var resp *http.Response
				loop := p.loopReading(t, uint64(len(req)), func() {
					c.Write([]byte(req))
					var err error
					if resp, err = http.ReadResponse(r, &http.Request{Method: "GET"}); err != nil {
						t.Fatal(err)
					}
				})
				if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "Hello, World!" || resp.Close {
					t.Fatalf("idle connection %d: %d %q close=%v", len(idle), resp.StatusCode, b, resp.Close)
				}
				if loop == flightLoop {
					sameLoop++
				}
				idle = append(idle, c)
			}

			// The load.
			var signaled atomic.Bool
			var warm, done sync.WaitGroup
			ls := make([]*loader, loaders)
			warm.Add(loaders)
			for i := range ls {
				ls[i] = &loader{id: i}
				done.Go(func() { ls[i].run(p.addr, &signaled, warm.Done) })
			}
			waitGroup(t, &warm, "the load to start")

			signaled.Store(true)
			if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}

			// Idle connections: EOF, no answer, at once — the drain has
			// not waited for the request in flight, on its loop or another.
			for i, c := range idle {
				c.SetReadDeadline(time.Now().Add(guard))
				if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
					t.Errorf("idle connection %d: read %q, %v; want EOF at once", i, b, err)
				}
				// A request sent after the close gets no answer.
				c.Write([]byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"))
				if b, _ := io.ReadAll(c); len(b) > 0 {
					t.Errorf("idle connection %d: a request after the close was answered: %q", i, b)
				}
				c.Close() // the server reads until this FIN before it lets go
			}

			// The rest of the body: the answer comes in full, says
			// "Connection: close", and the connection closes after it.
			if _, err := fc.Write(body[half:]); err != nil {
				t.Fatalf("the rest of the in-flight body: %v", err)
			}
			resp, err := http.ReadResponse(fr, &http.Request{Method: "POST"})
			if err != nil {
				t.Fatalf("in-flight request: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, body) {
				t.Errorf("in-flight request: %d, %d of %d bytes back, equal %v, %v", resp.StatusCode, len(got), len(body), bytes.Equal(got, body), err)
			}
			// An HTTP/1.1 answer is Close only with "Connection: close" (which
			// ReadResponse takes out of Header).
			if resp.ProtoMinor != 1 || !resp.Close {
				t.Errorf("in-flight answer: %s, close=%v; want HTTP/1.1 with Connection: close", resp.Proto, resp.Close)
			}
			if b, err := io.ReadAll(fr); err != nil || len(b) > 0 {
				t.Errorf("after the in-flight answer: %q, %v; want EOF", b, err)
			}
			fc.Close()

			// New connections are refused.
			if c, err := net.DialTimeout("tcp", p.addr, guard); err == nil {
				c.Close()
				t.Error("a new connection was accepted after the drain began")
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("a new connection: %v, want refused", err)
			}

			if code := p.ExitCode(t, guard); code != 0 {
				t.Errorf("exit code %d, want 0; logs:\n%s", code, p.Logs.String())
			}
			waitGroup(t, &done, "the load clients to stop")
			answered, closes, noResponse := 0, 0, 0
			for _, l := range ls {
				if l.err != nil {
					t.Errorf("load client %d: %v", l.id, l.err)
				}
				if !errors.Is(l.refused, syscall.ECONNREFUSED) && !errors.Is(l.refused, syscall.ECONNRESET) {
					t.Errorf("load client %d ended on %v, want a refused connection", l.id, l.refused)
				}
				answered += l.answered
				closes += l.closes
				noResponse += l.noResponse
			}
			t.Logf("%d idle connections closed at once, %d on the in-flight request's loop %s; %d load clients: %d answers, all right, "+
				"%d of them with Connection: close; %d requests sent after a close, unanswered",
				len(idle), sameLoop, flightLoop, loaders, answered, closes, noResponse)
		})
	}
}

// waitGroup waits for wg; the guard only stops a hung test.
func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(2 * guard):
		t.Fatalf("timed out waiting for %s", what)
	}
}
