package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseRequest(t *testing.T) {
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name string
		in   string
		want httpRequest
		err  error
	}{
		{"get", get, httpRequest{size: len(get)}, nil},
		{"get, then the next one", get + "GET /", httpRequest{size: len(get)}, nil},
		{"no headers", "GET /a HTTP/1.1\r\n\r\n", httpRequest{size: 19}, nil},
		{"incomplete", get[:len(get)-1], httpRequest{}, nil},
		{"empty", "", httpRequest{}, nil},
		{"head", "HEAD / HTTP/1.1\r\n\r\n", httpRequest{size: 19, head: true}, nil},
		{"connection close", "GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", httpRequest{size: 37, close: true}, nil},
		{"http/1.0 closes", "GET / HTTP/1.0\r\n\r\n", httpRequest{size: 18, close: true}, nil},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n", httpRequest{size: 42}, nil},
		{"empty body", "POST / HTTP/1.1\r\nContent-Length:  0 \r\n\r\n", httpRequest{size: 40}, nil},
		{"body", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", httpRequest{}, errBodyRefused},
		{"chunked", "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n", httpRequest{}, errBodyRefused},
		{"no version", "GET /\r\n\r\n", httpRequest{}, errBadRequest},
		{"http/2", "GET / HTTP/2.0\r\n\r\n", httpRequest{}, errBadRequest},
		{"no target", "GET  HTTP/1.1\r\n\r\n", httpRequest{}, errBadRequest},
		{"bad method", "G(T / HTTP/1.1\r\n\r\n", httpRequest{}, errBadRequest},
		{"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", httpRequest{}, errBadRequest},
		{"line folding", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", httpRequest{}, errBadRequest},
		{"head too large", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", httpMaxHeader), httpRequest{}, errHeaderTooLarge},
		{"head just too large", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", httpMaxHeader-22) + "\r\n\r\n", httpRequest{}, errHeaderTooLarge},
		{"head just small enough", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", httpMaxHeader-23) + "\r\n\r\n", httpRequest{size: httpMaxHeader}, nil},
	}
	for _, tt := range tests {
		got, err := parseRequest([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

// dateLine matches the Date header, which changes every second.
var dateLine = regexp.MustCompile(`Date: [^\r]*\r\n`)

// respondSplit feeds in to respond in two pieces split at i, as a server
// gets them from two reads, and returns the answers (without their Date)
// and whether it closed.
func respondSplit(in []byte, i int) (string, bool) {
	out, used, closeConn := respond(nil, in[:i])
	if !closeConn {
		var more []byte
		more, _, closeConn = respond(nil, append(append([]byte(nil), in[used:i]...), in[i:]...))
		out = append(out, more...)
	}
	return dateLine.ReplaceAllString(string(out), ""), closeConn
}

// FuzzRespond checks that a request stream split in two pieces at any
// offset is answered exactly like the whole stream, and never panics.
func FuzzRespond(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nA:\r\n\r\nGET\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, wholeClose := respondSplit(in, len(in))
		for i := range len(in) {
			got, closeConn := respondSplit(in, i)
			if got != whole || closeConn != wholeClose {
				t.Fatalf("split at %d: %q, close %v; whole: %q, close %v", i, got, closeConn, whole, wholeClose)
			}
		}
	})
}

func TestRespond(t *testing.T) {
	in := "GET / HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"
	out, used, closeConn := respond(nil, []byte(in))
	got := dateLine.ReplaceAllString(string(out), "")
	const ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
	want := ok + "\r\nHello, World!" + ok + "\r\n" + ok + "Connection: close\r\n\r\nHello, World!"
	if got != want || used != len(in)-18 || !closeConn {
		t.Errorf("got %q, used %d, close %v; want %q, used %d, close true", got, used, closeConn, want, len(in)-18)
	}
	body := "GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"
	out, used, closeConn = respond(nil, []byte(body))
	if !strings.HasPrefix(string(out), "HTTP/1.1 400 ") || used != len(body) || !closeConn {
		t.Errorf("body: got %q, used %d, close %v", out, used, closeConn)
	}
}

// startInProcess runs a server of newServer in this process on a free
// loopback port until the test ends, and returns its address.
func startInProcess(t *testing.T, newServer func() echoServer) string {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(addr, 2) }()
	t.Cleanup(func() {
		srv.Stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Stop")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned before accepting: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server on %s: %v", addr, err)
		}
	}
}

// TestEchoServers drives every echo server with the load generator and
// the idle scenario's checked echo.
func TestEchoServers(t *testing.T) {
	for _, name := range sortedNames(servers) {
		t.Run(name, func(t *testing.T) {
			addr := startInProcess(t, servers[name])
			cfg := loadConfig{addr: addr, conns: 3, size: 100, depth: 4, duration: 200 * time.Millisecond}
			res, err := runLoad(cfg, func(bool) {})
			if err != nil {
				t.Fatal(err)
			}
			if res.msgs == 0 || res.errors != 0 || res.mismatch != 0 {
				t.Errorf("%d echoes, %d errors, %d mismatches (first error %v)", res.msgs, res.errors, res.mismatch, res.firstErr)
			}
			conns, failed, err := forEachConn(addr, 5, idleEcho)
			closeAll(conns)
			if failed != 0 {
				t.Errorf("idle echo: %d failed: %v", failed, err)
			}
		})
	}
}

// readHello reads one answer from r and checks it: status line, the
// headers of the scenario, and the body unless head.
func readHello(t *testing.T, r io.Reader, buf *[]byte, head bool) {
	t.Helper()
	for {
		end := bytes.Index(*buf, crlfcrlf)
		if end >= 0 {
			bodyLen := len(helloBody)
			if head {
				bodyLen = 0
			}
			if len(*buf) >= end+4+bodyLen {
				h := string((*buf)[:end+4])
				body := string((*buf)[end+4 : end+4+bodyLen])
				*buf = (*buf)[end+4+bodyLen:]
				if !strings.HasPrefix(h, "HTTP/1.1 200 OK\r\n") || !strings.Contains(h, "\r\nContent-Type: text/plain\r\n") ||
					!strings.Contains(h, "\r\nContent-Length: 13\r\n") || strings.Contains(h, "Connection: close") || body != helloBody[:bodyLen] {
					t.Fatalf("answer %q%q", h, body)
				}
				return
			}
		}
		b := make([]byte, 4096)
		n, err := r.Read(b)
		*buf = append(*buf, b[:n]...)
		if err != nil {
			t.Fatalf("read: %v (have %q)", err, *buf)
		}
	}
}

// httpRefusals is what each HTTP server answers to a request head that is
// too large before it closes the connection: the raw servers and net/http
// send 431, and so does fasthttp. gnet and netpoll close without waiting for the peer's FIN, and
// nbhttp sends nothing, so the answer may be gone with the reset; for
// them only the close is checked.
var httpRefusals = map[string]string{
	"nethttp":       "HTTP/1.1 431 ",
	"shoal":         "HTTP/1.1 431 ",
	"shoal-nethttp": "HTTP/1.1 431 ",
	"shoal-toy":     "HTTP/1.1 431 ",
	"stdnet":        "HTTP/1.1 431 ",
	"gnet":          "",
	"nbio":          "",
	"netpoll":       "",
	"fasthttp":      "HTTP/1.1 431 ",
}

func TestHTTPServers(t *testing.T) {
	for _, name := range sortedNames(httpServers) {
		t.Run(name, func(t *testing.T) {
			addr := startInProcess(t, httpServers[name])

			t.Run("one request", func(t *testing.T) {
				c := dialTest(t, addr)
				io.WriteString(c, "GET /anything?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
				var buf []byte
				readHello(t, c, &buf, false)
				if len(buf) != 0 {
					t.Errorf("extra bytes %q", buf)
				}
			})

			t.Run("16 pipelined", func(t *testing.T) {
				pipelined(t, addr, func(int) string { return "GET" })
			})

			// GET and HEAD alternate: answers out of order would not parse.
			t.Run("16 pipelined, GET and HEAD", func(t *testing.T) {
				if why := headIgnored[name]; why != "" {
					t.Skip(why)
				}
				pipelined(t, addr, func(i int) string { return []string{"GET", "HEAD"}[i%2] })
			})

			t.Run("head too large", func(t *testing.T) {
				c := dialTest(t, addr)
				big := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"
				go func() {
					if _, err := io.WriteString(c, big); err == nil {
						c.CloseWrite()
					}
				}()
				got, err := io.ReadAll(c)
				if errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(string(got), " 200 ") ||
					!strings.HasPrefix(string(got), httpRefusals[name]) {
					t.Errorf("got %q, %v; want %q and a close", got, err, httpRefusals[name])
				}
			})
		})
	}
}

// headIgnored names the servers that answer HEAD with a body, which
// breaks the connection's framing.
var headIgnored = map[string]string{
	"nbio": "nbhttp v1.6.7 writes the body of HEAD answers",
}

// pipelined writes 16 requests in one write, with the methods method
// returns, and checks the 16 answers.
func pipelined(t *testing.T, addr string, method func(i int) string) {
	t.Helper()
	c := dialTest(t, addr)
	var reqs strings.Builder
	for i := range 16 {
		reqs.WriteString(method(i) + " /" + string(rune('a'+i)) + " HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	io.WriteString(c, reqs.String())
	var buf []byte
	for i := range 16 {
		readHello(t, c, &buf, method(i) == "HEAD")
	}
	if len(buf) != 0 {
		t.Errorf("extra bytes %q", buf)
	}
}

func dialTest(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestHTTPLoad(t *testing.T) {
	addr := startInProcess(t, httpServers["shoal"])
	for _, depth := range []int{1, 16} {
		res, err := runHTTPLoad(httpLoadConfig{addr: addr, conns: 3, depth: depth, duration: 200 * time.Millisecond}, func(bool) {})
		if err != nil {
			t.Fatal(err)
		}
		if res.msgs == 0 || res.hist.TotalCount() != res.msgs || res.errors != 0 || res.mismatch != 0 {
			t.Errorf("depth %d: %d requests, %d latencies, %d errors, %d mismatches (first error %v)",
				depth, res.msgs, res.hist.TotalCount(), res.errors, res.mismatch, res.firstErr)
		}
	}
}

func TestParseHello(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHello, World!"
	tests := []struct {
		in      string
		size    int
		wantErr bool
	}{
		{ok, len(ok), false},
		{ok + "HTTP/1.1", len(ok), false},
		{ok[:len(ok)-1], 0, false},
		{"HTTP/1.1 200 OK\r\n", 0, false},
		{"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nHello, World!", 0, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello, World", 0, true},
		{"HTTP/1.1 200 OK\r\n\r\n", 0, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!", 0, true},
	}
	for _, tt := range tests {
		size, err := parseHello([]byte(tt.in))
		if size != tt.size || (err != nil) != tt.wantErr {
			t.Errorf("%q: %d, %v; want %d, error %v", tt.in, size, err, tt.size, tt.wantErr)
		}
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 1s test @ http://127.0.0.1:18080/
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.36ms    5.88ms  57.16ms   87.84%
    Req/Sec    30.86k    10.76k   55.19k    80.00%
  Latency Distribution
     50%  812.00us
     75%    4.39ms
     90%   12.34ms
     99%    1.02s
  31445 requests in 1.05s, 3.90MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 3
Requests/sec:  30040.20
Transfer/sec:      3.72MB
`
	got, err := parseWrk(out)
	want := wrkResult{requests: 31445, reqSec: 30040.20, p50: 812 * time.Microsecond, p90: 12340 * time.Microsecond, p99: 1020 * time.Millisecond, errors: 6}
	if err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseWrk("wrk: connection refused\n"); err == nil {
		t.Error("no error for a report without numbers")
	}
}

func TestHTTPSection(t *testing.T) {
	c := httpCase{conns: 100, depth: 1}
	run := func(perCPU float64) []httpRun { return []httpRun{{ok: true, perCPU: perCPU}} }
	h := &httpResults{
		engines: []string{"nethttp", "shoal", "stdnet", "gnet"},
		cases:   []httpCase{c},
		runs:    map[httpCase]map[string][]httpRun{c: {"nethttp": run(100), "shoal": run(300), "stdnet": run(150), "gnet": run(200)}},
	}
	var b strings.Builder
	httpSection(&b, options{httpConns: []int{100}}, h)
	for _, want := range []string{
		"| vs nethttp | vs best peer (gnet) |",
		"| shoal | 0 | 0.0 | 0.0 | 0.0 | 0.00 | 300 | 3.00× | 1.50× | 0.0 | 0 |",
		"wrk is not on PATH: skipped",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
