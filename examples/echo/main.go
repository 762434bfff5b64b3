// Command echo is an echo server on the Shoal engine: every byte a client
// sends comes back. SIGINT or SIGTERM drains it gracefully: readiness goes
// down, the listener closes, every connection is echoed until its client
// has been quiet for -drain-quiet, then closed with a clean FIN after its
// last echo; the exit code says how it went (0, or 3 if the drain
// deadline passed; a second signal exits at once with 4).
//
//	go run ./examples/echo -addr 127.0.0.1:9000 -loops 2
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/shoalnet/shoal/serve"
	"github.com/shoalnet/shoal/server"
)

// echo writes back whatever arrives.
type echo struct{}

func (echo) OnOpen(server.Conn) {}

func (echo) OnData(c server.Conn) {
	b, _ := c.Next(0)
	c.Write(b)
}

func (echo) OnClose(server.Conn, error) {}

// echo has no OnGoodbye: an echo stream has no goodbye its client would
// understand, so the drain keeps reading and echoing until the client has
// been quiet for -drain-quiet, and only then closes with a FIN after the
// last echo. Nothing a client wrote is read and dropped.

func main() {
	var (
		addr     = flag.String("addr", "127.0.0.1:9000", "address to listen on (host:port)")
		loops    = flag.Int("loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
		portable = flag.Bool("portable", false, "use the portable goroutine-per-connection engine")
		ops      serve.Config
	)
	ops.Flags(flag.CommandLine, "127.0.0.1:9090")
	flag.Parse()
	os.Exit(run(*addr, *loops, *portable, ops))
}

func run(addr string, loops int, portable bool, ops serve.Config) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := append(ops.ServerOptions(), server.WithLogger(log))
	if loops > 0 {
		opts = append(opts, server.WithLoops(loops))
	}
	if portable {
		opts = append(opts, server.WithEngine(server.EnginePortable))
	}
	s, err := server.New(echo{}, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		return 1
	}
	ln, err := ops.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		return 1
	}
	log.Info("echo server listening", "addr", ln.Addr().String())
	code := serve.Run(s, ln, ops, log)
	st := s.Stats()
	log.Info("stopped", "code", code, "accepted", st.Accepted, "bytes_in", st.BytesIn, "bytes_out", st.BytesOut)
	return code
}
