package http1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// engines are the engines every server test runs on.
func engines() []struct {
	name string
	opt  server.Option
} {
	list := []struct {
		name string
		opt  server.Option
	}{{"portable", server.WithEngine(server.EnginePortable)}}
	if runtime.GOOS != "windows" {
		list = append(list, struct {
			name string
			opt  server.Option
		}{"loops", server.WithEngine(server.EngineLoops)})
	}
	return list
}

func forEachEngine(t *testing.T, f func(t *testing.T, eng server.Option)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { f(t, e.opt) })
	}
}

// startHTTP serves h on 127.0.0.1:0 until the test ends.
func startHTTP(t testing.TB, h Handler, cfg Config, opts ...server.Option) (*server.Server, string) {
	t.Helper()
	s, err := server.New(NewServer(h, cfg), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ln); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Wait() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Wait returned %v", err)
		}
	})
	return s, ln.Addr().String()
}

// testHandler serves the routes the tests use.
func testHandler() Handler {
	return HandlerFunc(func(w *ResponseWriter, r *Request) {
		switch string(r.Path()) {
		case "/":
			w.Header("Content-Type", "text/plain")
			w.WriteString("Hello, World!")
		case "/echo":
			w.Write(r.Body)
		case "/path":
			w.Write(r.Target)
		case "/flush":
			w.WriteString("first ")
			w.Flush()
			w.WriteString("second")
		case "/events":
			w.Header("Content-Type", "text/event-stream")
			st := w.Stream()
			go func() {
				for i := range 3 {
					st.WriteString("data: " + strconv.Itoa(i) + "\n\n")
				}
				st.Close()
			}()
		case "/close":
			w.Header("Connection", "close")
			w.WriteString("bye")
		default:
			w.WriteHeader(404)
		}
	})
}

// dial connects to addr with a deadline that only guards against a hung
// test.
func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readAll reads responses from r with net/http's client parser until
// the connection ends, for requests of the given methods.
func readAll(t testing.TB, r *bufio.Reader, methods ...string) []*http.Response {
	t.Helper()
	var out []*http.Response
	for _, m := range methods {
		resp, err := http.ReadResponse(r, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d: %v", len(out), err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(out), err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

func bodyOf(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// expectEOF checks that the server closed the connection.
func expectEOF(t testing.TB, r *bufio.Reader) {
	t.Helper()
	if b, err := r.ReadByte(); err == nil {
		t.Fatalf("connection still open: read %q", b)
	}
}

// TestRejectsOnTheWire sends every malformed request to the server: each
// gets its status, "Connection: close", and a closed connection.
func TestRejectsOnTheWire(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		_, addr := startHTTP(t, testHandler(), Config{}, eng)
		cases := rejectCases
		for _, body := range []string{"x\r\n", "5\nhello\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "fffffffffffffffffff\r\n"} {
			cases = append(cases, rejectCase{in: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body, want: 400})
		}
		cases[len(cases)-1].want = 413
		for _, tc := range cases {
			c := dial(t, addr)
			go c.Write([]byte(tc.in)) // the server may answer and close before reading it all
			r := bufio.NewReader(c)
			resp := readAll(t, r, "GET")[0]
			if resp.StatusCode != tc.want || !resp.Close {
				t.Errorf("%.60q: %d close=%v, want %d and close", tc.in, resp.StatusCode, resp.Close, tc.want)
			}
			expectEOF(t, r)
			c.Close()
		}
	})
}

// TestRequestsOnTheWire: keep-alive, pipelining in order, bare LF heads,
// HEAD, HTTP/1.0 with and without keep-alive, Connection: close, bodies
// of both framings.
func TestRequestsOnTheWire(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		_, addr := startHTTP(t, testHandler(), Config{}, eng)

		t.Run("pipelined", func(t *testing.T) {
			c := dial(t, addr)
			var req strings.Builder
			var methods []string
			for i := range 50 {
				fmt.Fprintf(&req, "GET /path?%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
				methods = append(methods, "GET")
			}
			req.WriteString("HEAD / HTTP/1.1\nHost: a\n\n") // bare LF
			req.WriteString("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
			req.WriteString("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: x\r\n\r\n")
			req.WriteString("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
			req.WriteString("GET /close HTTP/1.1\r\nHost: a\r\n\r\n")
			methods = append(methods, "HEAD", "POST", "POST", "GET", "GET")
			c.Write([]byte(req.String()))
			r := bufio.NewReader(c)
			resps := readAll(t, r, methods...)
			for i := range 50 {
				if got, want := bodyOf(resps[i]), fmt.Sprintf("/path?%d", i); got != want {
					t.Fatalf("response %d: %q, want %q", i, got, want)
				}
			}
			head := resps[50]
			if head.StatusCode != 200 || head.ContentLength != 13 || bodyOf(head) != "" {
				t.Errorf("HEAD: %d, length %d", head.StatusCode, head.ContentLength)
			}
			if got := bodyOf(resps[51]); got != "hello" {
				t.Errorf("Content-Length body: %q", got)
			}
			if got := bodyOf(resps[52]); got != "abcde" {
				t.Errorf("chunked body: %q", got)
			}
			if resps[53].StatusCode != 404 {
				t.Errorf("unknown path: %d", resps[53].StatusCode)
			}
			if !resps[54].Close || bodyOf(resps[54]) != "bye" {
				t.Errorf("Connection: close: close=%v", resps[54].Close)
			}
			expectEOF(t, r)
			if d := resps[0].Header.Get("Date"); d == "" {
				t.Error("no Date")
			} else if _, err := http.ParseTime(d); err != nil {
				t.Errorf("Date %q: %v", d, err)
			}
		})

		t.Run("http10", func(t *testing.T) {
			c := dial(t, addr)
			c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			r := bufio.NewReader(c)
			resp := readAll(t, r, "GET")[0]
			if bodyOf(resp) != "Hello, World!" || !resp.Close {
				t.Errorf("1.0: close=%v", resp.Close)
			}
			expectEOF(t, r)

			c = dial(t, addr)
			c.Write([]byte("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /path HTTP/1.0\r\n\r\n"))
			r = bufio.NewReader(c)
			resps := readAll(t, r, "GET", "GET")
			if resps[0].Header.Get("Connection") != "keep-alive" || resps[0].Close {
				t.Errorf("1.0 keep-alive: %q", resps[0].Header.Get("Connection"))
			}
			if bodyOf(resps[1]) != "/path" || !resps[1].Close {
				t.Errorf("second 1.0 request: close=%v", resps[1].Close)
			}
			expectEOF(t, r)
		})

		t.Run("half-closed", func(t *testing.T) {
			c := dial(t, addr)
			c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"))
			c.CloseWrite()
			r := bufio.NewReader(c)
			resps := readAll(t, r, "GET", "POST")
			if bodyOf(resps[0]) != "Hello, World!" || bodyOf(resps[1]) != "ok" {
				t.Error("half-closed client lost a response")
			}
			expectEOF(t, r)
		})

		t.Run("flush", func(t *testing.T) {
			c := dial(t, addr)
			c.Write([]byte("GET /flush HTTP/1.1\r\nHost: a\r\n\r\nGET /flush HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
			r := bufio.NewReader(c)
			resps := readAll(t, r, "GET", "GET")
			if got := resps[0].TransferEncoding; len(got) != 1 || got[0] != "chunked" || bodyOf(resps[0]) != "first second" {
				t.Errorf("1.1 flush: %v", got)
			}
			if bodyOf(resps[1]) != "first second" || !resps[1].Close { // close-delimited
				t.Errorf("1.0 flush: close=%v", resps[1].Close)
			}
			expectEOF(t, r)
		})

		t.Run("events", func(t *testing.T) {
			c := dial(t, addr)
			c.Write([]byte("GET /events HTTP/1.1\r\nHost: a\r\n\r\nGET /path?after HTTP/1.1\r\nHost: a\r\n\r\n"))
			r := bufio.NewReader(c)
			resps := readAll(t, r, "GET", "GET")
			if ct := resps[0].Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := bodyOf(resps[0]); got != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
				t.Errorf("events: %q", got)
			}
			if got := bodyOf(resps[1]); got != "/path?after" {
				t.Errorf("request behind the stream: %q", got)
			}
		})
	})
}

// TestSplitEveryByte: a request with a chunked body, and one with a
// Content-Length body, written one byte per write, are answered like the
// whole.
func TestSplitEveryByte(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		_, addr := startHTTP(t, testHandler(), Config{}, eng)
		c := dial(t, addr)
		c.SetNoDelay(true)
		req := "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n" +
			"POST /echo HTTP/1.1\nHost: a\nContent-Length: 6\n\nsplit!"
		go func() {
			for i := range len(req) {
				if _, err := c.Write([]byte{req[i]}); err != nil {
					return
				}
			}
		}()
		resps := readAll(t, bufio.NewReader(c), "POST", "POST")
		if got := bodyOf(resps[0]) + bodyOf(resps[1]); got != "wikipediasplit!" {
			t.Errorf("bodies %q", got)
		}
	})
}

// TestExpectContinue: a client that waits for 100 Continue gets it, then
// its answer; one whose body is already there gets no 100.
func TestExpectContinue(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		_, addr := startHTTP(t, testHandler(), Config{}, eng)
		c := dial(t, addr)
		c.Write([]byte("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"))
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		if blank, _ := r.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("after 100: %q", blank)
		}
		c.Write([]byte("body"))
		if got := bodyOf(readAll(t, r, "POST")[0]); got != "body" {
			t.Errorf("body %q", got)
		}
		c.Write([]byte("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nsent"))
		resp := readAll(t, r, "POST")[0]
		if resp.StatusCode != 200 || bodyOf(resp) != "sent" {
			t.Errorf("body sent at once: %d", resp.StatusCode)
		}
	})
}

// TestSlowloris: a client that sends its head a byte at a time gets 408
// once the header timeout passes, and other clients are served meanwhile.
func TestSlowloris(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		_, addr := startHTTP(t, testHandler(), Config{HeaderTimeout: 500 * time.Millisecond}, eng)
		slow := dial(t, addr)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			head := "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + strings.Repeat("s", 1000)
			for i := range len(head) {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := slow.Write([]byte{head[i]}); err != nil {
					return
				}
			}
		}()
		// Another client is answered while the slow one dribbles.
		fast := dial(t, addr)
		r := bufio.NewReader(fast)
		for range 20 {
			fast.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
			if bodyOf(readAll(t, r, "GET")[0]) != "Hello, World!" {
				t.Fatal("fast client not served")
			}
		}
		sr := bufio.NewReader(slow)
		resp := readAll(t, sr, "GET")[0]
		close(stop)
		<-done
		if resp.StatusCode != 408 || !resp.Close {
			t.Errorf("slow client: %d close=%v", resp.StatusCode, resp.Close)
		}
		expectEOF(t, sr)
	})
}

// TestNotReadingClient: a client that pipelines large requests and does
// not read is not served past the low watermark, and nothing is lost once
// it reads.
func TestNotReadingClient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		s, addr := startHTTP(t, testHandler(), Config{}, eng, server.WithWatermarks(256<<10, 64<<10))
		c := dial(t, addr)
		body := strings.Repeat("x", 64<<10)
		const n = 512 // 32 MiB of answers: more than the kernel's buffers hold
		go func() {
			for range n {
				if _, err := c.Write([]byte("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n" + body)); err != nil {
					return
				}
			}
		}()
		// Wait until answers queue up in the server, then read.
		for s.OutboundBytes() < 64<<10 {
			time.Sleep(10 * time.Millisecond)
		}
		r := bufio.NewReader(c)
		methods := make([]string, n)
		for i := range methods {
			methods[i] = "POST"
		}
		for i, resp := range readAll(t, r, methods...) {
			if resp.StatusCode != 200 || bodyOf(resp) != body {
				t.Fatalf("response %d: %d", i, resp.StatusCode)
			}
		}
		// It stopped at the low watermark: the queue never passed the high one.
		if st := s.Stats(); st.SlowConsumers > 0 {
			t.Errorf("the queue passed the high watermark %d times", st.SlowConsumers)
		}
	})
}
