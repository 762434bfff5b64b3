package http1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netHTTPDiffers are the cases where net/http answers differently, and why
// this parser holds its line.
var netHTTPDiffers = map[string]string{
	"Content-Length: 3\r\nContent-Length: 3": "net/http accepts equal duplicates (and waits for the body: 0); a duplicate is a smuggling vector, so 400 here",
	"Content-Length: 3, 3":                   "the same, as a list",
	"GET /" + strings.Repeat("a", 9000): "net/http's only head limit is 1 MB (DefaultMaxHeaderBytes), answered with 431; " +
		"request lines are held to 8 KiB (414) and heads to 32 KiB here",
	"X: " + strings.Repeat("a", 9000):                          "the same: a 36 KiB head is within net/http's 1 MB",
	"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked": "net/http answers 400 (too many fields); 501 here, as for every Transfer-Encoding but one chunked",
	"X: 1\r\nX: 1\r\nX: 1":                                     "net/http limits the head in bytes only; 100 fields here",
	"Content-Length: 4194305":                                  "net/http reads bodies of any declared length by default; 4 MiB here (413 before reading it)",
	" folded":                                                  "net/http unfolds obsolete line folding; RFC 9112 5.2 lets a server reject it, and this one does",
	"Content-Length: 3\r\nTransfer-Encoding: chunked": "net/http lets Transfer-Encoding win and waits for a chunked body " +
		"(0: no answer); both framings at once is how requests are smuggled, so 400 and close here",
	"Transfer-Encoding: chunked\r\nContent-Length: 3": "the same, in the other order",
}

// TestRejectsLikeNetHTTP sends every malformed request of rejectCases to a
// real net/http server: it must reject them too, with the same status
// unless netHTTPDiffers says why not.
func TestRejectsLikeNetHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	for _, tc := range rejectCases {
		got := netHTTPStatus(t, addr, tc.in)
		why, known := "", false
		for k, v := range netHTTPDiffers {
			if strings.Contains(tc.in, k) {
				why, known = v, true
			}
		}
		switch {
		case got == tc.want:
		case known && why != "":
			t.Logf("%.50q: net/http %d, here %d: %s", tc.in, got, tc.want, why)
		default:
			t.Errorf("%.50q: net/http answers %d, this parser %d", tc.in, got, tc.want)
		}
	}
}

// netHTTPStatus writes a raw request to addr and returns the status of
// the answer.
func netHTTPStatus(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { // net/http may answer before reading it all
		c.Write([]byte(req))
		c.(*net.TCPConn).CloseWrite() // a server waiting for more sees the end instead
	}()
	line, err := bufio.NewReader(c).ReadString('\n')
	if line == "" && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		return 0 // no answer: net/http took the head and waited for more
	}
	if err != nil {
		t.Fatalf("%.50q: %v", req, err)
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		t.Fatalf("%.50q: status line %q", req, line)
	}
	code, _ := strconv.Atoi(f[1])
	return code
}
