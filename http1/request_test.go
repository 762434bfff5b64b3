package http1

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// transcript serves a stream of requests from the given pieces of input as
// a server would (input accumulates; what is consumed is dropped) and
// writes down every head, every whole body, and the first error.
func transcript(pieces [][]byte, lim Limits) string {
	p := NewParser(lim)
	lim = lim.withDefaults()
	var (
		out      strings.Builder
		buf      []byte
		req      Request
		body     []byte
		ch       *Chunked
		left     int64
		inBody   bool
		chunked  bool
		finished = func() { fmt.Fprintf(&out, "body %q\n", body); body, inBody = body[:0], false }
	)
	for _, piece := range pieces {
		buf = append(buf, piece...)
		for {
			if !inBody {
				n, err := p.Head(buf, &req)
				if err != nil {
					var e *Error
					errors.As(err, &e)
					fmt.Fprintf(&out, "error %d\n", e.Status)
					return out.String()
				}
				if n == 0 {
					break
				}
				fmt.Fprintf(&out, "head %s %s HTTP/1.%d host=%q cl=%d chunked=%v keep=%v expect=%v\n",
					req.Method, req.Target, req.Minor, req.Host, req.ContentLength, req.Chunked, req.KeepAlive, req.Expect100)
				for _, h := range req.Headers {
					fmt.Fprintf(&out, "  %s: %s\n", h.Name, h.Value)
				}
				buf = buf[n:]
				inBody, chunked, left = true, req.Chunked, req.ContentLength
				if chunked {
					ch = NewChunked(lim.MaxBody)
				}
			}
			if chunked {
				data, n, err := ch.Next(buf)
				if err != nil {
					var e *Error
					errors.As(err, &e)
					fmt.Fprintf(&out, "error %d\n", e.Status)
					return out.String()
				}
				body = append(body, data...)
				buf = buf[n:]
				if ch.Done() {
					finished()
					continue
				}
				if n == 0 {
					break
				}
				continue
			}
			k := min(left, int64(len(buf)))
			body = append(body, buf[:k]...)
			buf, left = buf[k:], left-k
			if left > 0 {
				break
			}
			finished()
		}
	}
	if inBody {
		fmt.Fprintf(&out, "partial body %q\n", body)
	}
	fmt.Fprintf(&out, "unconsumed %d\n", len(buf))
	return out.String()
}

func whole(s string) [][]byte { return [][]byte{[]byte(s)} }

func bytewise(s string) [][]byte {
	out := make([][]byte, len(s))
	for i := range len(s) { // bytes, not runes
		out[i] = []byte{s[i]}
	}
	return out
}

// status parses s as one request and returns the status of its error (0:
// none) and the request.
func status(t *testing.T, s string, lim Limits) (int, *Request) {
	t.Helper()
	var req Request
	n, err := NewParser(lim).Head([]byte(s), &req)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%q: %v is not an *Error", s, err)
		}
		return e.Status, &req
	}
	if n == 0 {
		t.Fatalf("%q: incomplete", s)
	}
	return 0, &req
}

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		in                string
		method, target    string
		minor             int
		keep, chunked, ex bool
		cl                int64
	}{
		{in: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/", minor: 1, keep: true},
		{in: "GET /x?y=1 HTTP/1.1\nHost: a\n\n", method: "GET", target: "/x?y=1", minor: 1, keep: true}, // bare LF
		{in: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/", minor: 1, keep: true},
		{in: "GET / HTTP/1.0\r\n\r\n", method: "GET", target: "/", minor: 0},
		{in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", method: "GET", target: "/", minor: 0, keep: true},
		{in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", method: "GET", target: "/", minor: 1},
		{in: "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", method: "POST", target: "/e", minor: 1, keep: true, cl: 5},
		{in: "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", method: "POST", target: "/e", minor: 1, keep: true, chunked: true},
		{in: "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", method: "PUT", target: "/", minor: 1, keep: true, ex: true, cl: 1},
		{in: "OPTIONS * HTTP/1.1\r\nHost: \r\n\r\n", method: "OPTIONS", target: "*", minor: 1, keep: true},
		{in: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", method: "GET", target: "/", minor: 1, keep: true},
		{in: "GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "http://a/b", minor: 1, keep: true},
		{in: "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", method: "CONNECT", target: "a:443", minor: 1, keep: true},
		{in: "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]:8080\r\n\r\n", method: "GET", target: "/", minor: 1, keep: true},
	} {
		code, r := status(t, tc.in, Limits{})
		if code != 0 {
			t.Errorf("%q: status %d", tc.in, code)
			continue
		}
		if string(r.Method) != tc.method || string(r.Target) != tc.target || r.Minor != tc.minor || r.KeepAlive != tc.keep ||
			r.Chunked != tc.chunked || r.Expect100 != tc.ex || r.ContentLength != tc.cl {
			t.Errorf("%q: %+v", tc.in, r)
		}
	}
	_, r := status(t, "GET / HTTP/1.1\r\nHost: example.com\r\nX-A:  1 \t\r\nx-b:\r\n\r\n", Limits{})
	if string(r.Host) != "example.com" || string(r.Header("x-a")) != "1" || r.Header("X-B") == nil || len(r.Header("X-B")) != 0 || r.Header("nope") != nil {
		t.Fatalf("headers: %+v", r.Headers)
	}
}

// rejectCases are malformed requests with the status and the error each gets.
var rejectCases = func() []rejectCase {
	long := strings.Repeat("a", 9000)
	return []rejectCase{
		{"GET\r\n\r\n", 400, ErrRequestLine},
		{"GET /\r\n\r\n", 400, ErrRequestLine},
		{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
		{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
		{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, ErrRequestLine},
		{"GET / FTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
		{"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
		{"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
		{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, ErrVersion},
		{"GET / HTTP/1.1\r\n\r\n", 400, ErrMissingHost},
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, ErrDuplicateHost},
		{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, ErrBadHost},
		{"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, ErrBadHost},
		{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, ErrBadHost},
		{"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, ErrBadHeader},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n", 400, ErrBadHeader},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", 400, ErrBadHeader},
		{"GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n", 400, ErrBadHeader},
		{"GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", 400, ErrBadHeader},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, ErrBadHeader},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, ErrSmuggling},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, ErrSmuggling},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400, ErrContentLength},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400, ErrContentLength},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, ErrContentLength},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400, ErrContentLength},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400, ErrContentLength},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400, ErrContentLength},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, ErrContentLength},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, ErrTransferEncoding},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, ErrTransferEncoding},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, ErrTransferEncoding},
		{"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417, ErrExpectation},
		{"GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, ErrURITooLong},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat(long, 4) + "\r\n\r\n", 431, ErrHeadersTooLarge},
		{"GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: 1\r\n", 100) + "\r\n", 431, ErrHeadersTooLarge},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4194305\r\n\r\n", 413, ErrBodyTooLarge},
	}
}()

type rejectCase struct {
	in   string
	want int
	kind error
}

func TestParseRejects(t *testing.T) {
	for _, tc := range rejectCases {
		code, _ := status(t, tc.in, Limits{})
		if code != tc.want {
			t.Errorf("%.60q: status %d, want %d", tc.in, code, tc.want)
		}
		_, err := NewParser(Limits{}).Head([]byte(tc.in), &Request{})
		if !errors.Is(err, tc.kind) {
			t.Errorf("%.60q: %v is not %v", tc.in, err, tc.kind)
		}
	}
}

// TestLimitsFailEarly: a request line or a head that passes its limit is
// rejected as soon as the buffered input does, before its end arrives.
func TestLimitsFailEarly(t *testing.T) {
	var req Request
	p := NewParser(Limits{})
	in := []byte("GET /" + strings.Repeat("a", 8<<10))
	if _, err := p.Head(in, &req); !errors.Is(err, ErrURITooLong) {
		t.Fatalf("a request line of %d bytes without its end: %v", len(in), err)
	}
	p = NewParser(Limits{MaxHeaderBytes: 1024})
	in = []byte("GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 1024))
	if _, err := p.Head(in, &req); !errors.Is(err, ErrHeadersTooLarge) {
		t.Fatalf("a head of %d bytes without its end: %v", len(in), err)
	}
	p = NewParser(Limits{})
	if n, err := p.Head([]byte("GET / HTTP/1.1\r\nHost: a\r\n"), &req); n != 0 || err != nil {
		t.Fatalf("an incomplete head: %d, %v", n, err)
	}
}

// TestScanOnce: a head fed a byte at a time is searched once per byte, not
// from its start on every call (which would be quadratic for a slow client).
func TestScanOnce(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Long: "+strings.Repeat("v", 100)+"\r\n", 50) + "\r\n"
	p := NewParser(Limits{})
	var req Request
	for i := 1; i <= len(head); i++ {
		n, err := p.Head([]byte(head[:i]), &req)
		if err != nil {
			t.Fatal(err)
		}
		if p.scanned != 0 && p.scanned != i {
			t.Fatalf("after %d bytes the parser has searched %d", i, p.scanned)
		}
		if n != 0 {
			if i != len(head) || len(req.Headers) != 51 {
				t.Fatalf("head after %d of %d bytes, %d fields", i, len(head), len(req.Headers))
			}
		}
	}
}

func TestPipelinedAndBodies(t *testing.T) {
	in := "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n" +
		"GET /c HTTP/1.0\r\n\r\n" +
		"GET /d HTTP/1.1\r\nHost: h\r\n\r\nGET /e HTT"
	want := transcript(whole(in), Limits{})
	for _, s := range []string{`head POST /a`, `body "hello"`, `head POST /b`, `body "hello world"`, `head GET /c HTTP/1.0`, `head GET /d`, "unconsumed 10"} {
		if !strings.Contains(want, s) {
			t.Fatalf("transcript lacks %q:\n%s", s, want)
		}
	}
	if got := transcript(bytewise(in), Limits{}); got != want {
		t.Fatalf("byte by byte:\n%s\nwhole:\n%s", got, want)
	}
	for i := range in {
		if got := transcript([][]byte{[]byte(in[:i]), []byte(in[i:])}, Limits{}); got != want {
			t.Fatalf("split at %d:\n%s\nwhole:\n%s", i, got, want)
		}
	}
}

func TestChunkedRejects(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int
	}{
		{"x\r\n", 400},
		{"\r\n", 400},
		{"5\nhello\r\n0\r\n\r\n", 400},         // bare LF after the size
		{"5\r\nhelloX\r\n0\r\n\r\n", 400},      // data longer than declared
		{"5\r\nhello\n0\r\n\r\n", 400},         // bare LF after the data
		{"0\r\nTrailer: x\n\r\n", 400},         // bare LF after a trailer
		{"0\r\n\n", 400},                       // bare LF as the final line
		{"5;a\x01\r\nhello\r\n0\r\n\r\n", 400}, // control byte in an extension
		{"401\r\n", 413},                       // over a 1 KiB limit
		{"200\r\n" + strings.Repeat("a", 512) + "\r\n201\r\n", 413},
		{"fffffffffffffffffffffff\r\n", 413},
	} {
		c := NewChunked(1 << 10)
		_, _, err := drain(c, []byte(tc.body))
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.want {
			t.Errorf("%q: %v, want %d", tc.body, err, tc.want)
		}
	}
}

// drain runs c over in until it is done, fails or needs more.
func drain(c *Chunked, in []byte) ([]byte, int, error) {
	var data []byte
	used := 0
	for !c.Done() {
		d, n, err := c.Next(in[used:])
		if err != nil {
			return data, used, err
		}
		data = append(data, d...)
		used += n
		if n == 0 {
			break
		}
	}
	return data, used, nil
}

func TestChunkedAllocs(t *testing.T) {
	body := []byte("5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")
	c := NewChunked(0)
	if n := testing.AllocsPerRun(100, func() {
		c.Reset(0)
		for used := 0; !c.Done(); {
			_, n, err := c.Next(body[used:])
			if err != nil {
				t.Fatal(err)
			}
			used += n
		}
	}); n > 1 {
		t.Fatalf("%v allocations per body", n)
	}
	var req Request
	p := NewParser(Limits{})
	head := []byte("GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
	p.Head(head, &req)
	if n := testing.AllocsPerRun(100, func() {
		if n, err := p.Head(head, &req); n == 0 || err != nil {
			t.Fatal(n, err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per head", n)
	}
}
