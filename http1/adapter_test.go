package http1

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/shoalnet/shoal/server"
)

// adapterMux is a net/http mux with the routes the adapter tests use.
// /block waits for release; /ctx reports its context's end on ended.
func adapterMux(release <-chan struct{}, ended chan<- struct{}) http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!")
	})
	m.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	m.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+r.URL.RawQuery+" "+r.Host+" "+r.Header.Get("X-Test")+" "+r.Proto)
	})
	m.HandleFunc("GET /flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "second")
	})
	m.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("b", 200<<10)) // past FlushAt: chunks
	})
	m.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("handler failed") })
	m.HandleFunc("GET /block", func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "released")
	})
	m.HandleFunc("GET /ctx", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		ended <- struct{}{}
	})
	m.HandleFunc("GET /close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	return m
}

func TestAdapterOnTheWire(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		release := make(chan struct{})
		ended := make(chan struct{}, 1)
		h := Adapt(adapterMux(release, ended), AdapterConfig{})
		_, addr := startHTTP(t, h, Config{}, eng, server.WithLoops(1))

		t.Run("pipelined", func(t *testing.T) {
			c := dial(t, addr)
			c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n" +
				"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
				"GET /info?q=1 HTTP/1.1\r\nHost: example.com\r\nx-test: yes\r\n\r\n" +
				"GET /flush HTTP/1.1\r\nHost: a\r\n\r\n" +
				"GET /big HTTP/1.1\r\nHost: a\r\n\r\n" +
				"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" +
				"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n" +
				"GET /close HTTP/1.1\r\nHost: a\r\n\r\n"))
			r := bufio.NewReader(c)
			resps := readAll(t, r, "GET", "POST", "GET", "GET", "GET", "HEAD", "GET", "GET")
			want := []string{"Hello, World!", "abc", "GET /info q=1 example.com yes HTTP/1.1", "first second", strings.Repeat("b", 200<<10), "", "404 page not found\n", "bye"}
			for i, w := range want {
				if got := bodyOf(resps[i]); got != w {
					t.Errorf("response %d: %.60q, want %.60q", i, got, w)
				}
			}
			if resps[0].ContentLength != 13 || resps[0].Header.Get("Content-Type") != "text/plain" {
				t.Errorf("hello: length %d, type %q", resps[0].ContentLength, resps[0].Header.Get("Content-Type"))
			}
			if te := resps[3].TransferEncoding; len(te) != 1 || te[0] != "chunked" {
				t.Errorf("flushed response not chunked: %v", te)
			}
			if resps[5].ContentLength != 13 {
				t.Errorf("HEAD: length %d", resps[5].ContentLength)
			}
			if !resps[7].Close {
				t.Error("Connection: close not passed on")
			}
			expectEOF(t, r)
		})

		t.Run("panic", func(t *testing.T) {
			c := dial(t, addr)
			c.Write([]byte("GET /panic HTTP/1.1\r\nHost: a\r\n\r\n"))
			r := bufio.NewReader(c)
			resp := readAll(t, r, "GET")[0]
			if resp.StatusCode != 500 || !resp.Close {
				t.Errorf("panic: %d close=%v", resp.StatusCode, resp.Close)
			}
			expectEOF(t, r)
		})

		// A handler that blocks holds its own connection, not the loop:
		// another connection of the same (only) loop is answered.
		t.Run("blocking handler", func(t *testing.T) {
			blocked := dial(t, addr)
			blocked.Write([]byte("GET /block HTTP/1.1\r\nHost: a\r\n\r\n"))
			other := dial(t, addr)
			or := bufio.NewReader(other)
			for range 10 {
				other.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
				if bodyOf(readAll(t, or, "GET")[0]) != "Hello, World!" {
					t.Fatal("other connection not served")
				}
			}
			close(release)
			if got := bodyOf(readAll(t, bufio.NewReader(blocked), "GET")[0]); got != "released" {
				t.Errorf("blocked: %q", got)
			}
		})

		t.Run("context ends with the connection", func(t *testing.T) {
			c := dial(t, addr)
			c.Write([]byte("GET /ctx HTTP/1.1\r\nHost: a\r\n\r\n"))
			// Wait until the request has reached the handler: a second one
			// on another connection is answered after it was submitted.
			o := dial(t, addr)
			o.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
			readAll(t, bufio.NewReader(o), "GET")
			c.Close()
			<-ended
		})
	})
}

// TestAdapterQueueFull: past the workers and the queue, requests are
// answered 503 at once; the ones admitted are answered once released.
func TestAdapterQueueFull(t *testing.T) {
	release := make(chan struct{})
	h := Adapt(adapterMux(release, nil), AdapterConfig{Workers: 2, Queue: 2})
	_, addr := startHTTP(t, h, Config{}, server.WithEngine(server.EngineLoops), server.WithLoops(1))
	var conns []*bufio.Reader
	for range 4 { // two running, two waiting
		c := dial(t, addr)
		c.Write([]byte("GET /block HTTP/1.1\r\nHost: a\r\n\r\n"))
		conns = append(conns, bufio.NewReader(c))
	}
	// The loop handles connections in order of arrival, but they arrive
	// on their own: wait until all four are admitted by asking for 503s
	// until one comes.
	for {
		c := dial(t, addr)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
		resp := readAll(t, bufio.NewReader(c), "GET")[0]
		if resp.StatusCode == 503 {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			break
		}
		c.Close()
	}
	close(release)
	var wg sync.WaitGroup
	for _, r := range conns {
		wg.Go(func() {
			if got := bodyOf(readAll(t, r, "GET")[0]); got != "released" {
				t.Errorf("admitted request: %q", got)
			}
		})
	}
	wg.Wait()
}
