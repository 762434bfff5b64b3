//go:build !race

package http1

import (
	"bufio"
	"bytes"
	"runtime"
	"testing"

	"github.com/shoalnet/shoal/server"
)

// TestNativeAllocs: the native handler's path, parse to response, makes
// no allocation per request in the steady state, one request at a time
// and 16 pipelined, with and without a body. The process's allocation
// count is read around the requests; the client's reads and writes do not
// allocate.
func TestNativeAllocs(t *testing.T) {
	h := HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.Header("Content-Type", "text/plain")
		if len(r.Body) > 0 {
			w.Write(r.Body)
			return
		}
		w.WriteString("Hello, World!")
	})
	_, addr := startHTTP(t, h, Config{}, server.WithEngine(server.EngineLoops), server.WithLoops(1))
	for _, tc := range []struct {
		name  string
		req   string
		depth int
	}{
		{"get", "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n", 1},
		{"get pipelined", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 16},
		{"post", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n\r\nHello, World!", 1},
		{"chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8\r\n, World!\r\n0\r\n\r\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			r := bufio.NewReaderSize(c, 64<<10)
			req := bytes.Repeat([]byte(tc.req), tc.depth)
			body := []byte("Hello, World!")
			round := func(n int) {
				for range n {
					if _, err := c.Write(req); err != nil {
						t.Fatal(err)
					}
					for range tc.depth {
						if err := skipResponse(r, body); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			round(200) // warm up: pools, buffers, the Date
			const n = 2000
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			round(n)
			runtime.ReadMemStats(&m1)
			per := float64(m1.Mallocs-m0.Mallocs) / float64(n*tc.depth)
			// A few allocations in the whole run come from elsewhere (the
			// Date's timer once a second, the runtime); per request none.
			t.Logf("%.4f allocations per request", per)
			if per > 0.05 {
				t.Errorf("%.3f allocations per request", per)
			}
		})
	}
}
