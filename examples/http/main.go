// Command http is an HTTP/1.1 server on the Shoal engine. GET / and
// HEAD / answer "Hello, World!" (text/plain), POST /echo answers with the
// request's body, anything else is 404. The routes run on the event loop
// (package http1's native handler, no allocation per request), or, with
// -nethttp, as an ordinary net/http.Handler (an http.ServeMux) on the
// adapter's worker pool.
//
// SIGINT or SIGTERM drains it: readiness goes down, the listener closes,
// idle keep-alive connections close at once, a request in flight is
// answered with "Connection: close" and its connection closed after it.
//
//	go run ./examples/http -addr 127.0.0.1:8080
//	curl -i http://127.0.0.1:8080/
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/serve"
	"github.com/shoalnet/shoal/server"
)

var hello = []byte("Hello, World!")

// native serves the routes on the loop.
func native(w *http1.ResponseWriter, r *http1.Request) {
	switch path, m := string(r.Path()), string(r.Method); {
	case path == "/" && (m == "GET" || m == "HEAD"):
		w.Header("Content-Type", "text/plain")
		w.Write(hello)
	case path == "/echo" && m == "POST":
		w.Write(r.Body)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// mux serves the same routes with net/http's types.
func mux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { // GET also matches HEAD
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	m.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	m.HandleFunc("/", http.NotFound)
	return m
}

func main() {
	var (
		addr    = flag.String("addr", "127.0.0.1:8080", "address to listen on (host:port)")
		loops   = flag.Int("loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
		nethttp = flag.Bool("nethttp", false, "serve the routes as a net/http.Handler on the adapter's worker pool")
		workers = flag.Int("workers", 0, "with -nethttp: handler goroutines at most (0: the adapter's default)")
		ops     serve.Config
	)
	ops.Flags(flag.CommandLine, "127.0.0.1:9091")
	flag.Parse()
	os.Exit(run(*addr, *loops, *nethttp, *workers, ops))
}

func run(addr string, loops int, nethttp bool, workers int, ops serve.Config) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var h http1.Handler = http1.HandlerFunc(native)
	if nethttp {
		h = http1.Adapt(mux(), http1.AdapterConfig{Workers: workers, Logger: log})
	}
	opts := append(ops.ServerOptions(), server.WithLogger(log))
	tlsOpts, err := ops.TLSOptions(log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		return 1
	}
	opts = append(opts, tlsOpts...)
	if loops > 0 {
		opts = append(opts, server.WithLoops(loops))
	}
	s, err := server.New(http1.NewServer(h, http1.Config{}), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		return 1
	}
	ln, err := ops.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		return 1
	}
	log.Info("http server listening", "addr", ln.Addr().String(), "nethttp", nethttp)
	code := serve.Run(s, ln, ops, log)
	st := s.Stats()
	log.Info("stopped", "code", code, "accepted", st.Accepted, "bytes_in", st.BytesIn, "bytes_out", st.BytesOut)
	return code
}
