// Command wsecho is a WebSocket echo server on the Shoal engine: every
// text and binary message that arrives, on any path, is sent back with
// its type. Frames are parsed and checked on the event loop (package
// ws); the upgrade is answered by package http1's server.
//
// SIGINT or SIGTERM drains it: the listener closes and every connection
// gets a close frame 1001 (going away); it closes when the client
// answers, or after the close timeout.
//
//	go run ./examples/wsecho -addr 127.0.0.1:8081
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/serve"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/ws"
)

// echo sends every message back.
type echo struct{}

func (echo) OnOpen(*ws.Conn)                                {}
func (echo) OnMessage(c *ws.Conn, op ws.Opcode, msg []byte) { c.WriteMessage(op, msg) }
func (echo) OnClose(*ws.Conn, int, error)                   {}

func main() {
	var (
		addr       = flag.String("addr", "127.0.0.1:8081", "address to listen on (host:port)")
		loops      = flag.Int("loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
		maxMessage = flag.Int64("max-message", 16<<20, "largest message (and frame) in bytes; larger ones close the connection with 1009")
		deflate    = flag.Bool("deflate", true, "negotiate permessage-deflate (no context takeover) with clients that offer it")
		ops        serve.Config
	)
	ops.Flags(flag.CommandLine, "127.0.0.1:9092")
	flag.Parse()
	os.Exit(run(*addr, *loops, ws.Config{MaxFrame: *maxMessage, MaxMessage: *maxMessage, Compression: *deflate}, ops))
}

func run(addr string, loops int, cfg ws.Config, ops serve.Config) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	up := ws.NewUpgrader(echo{}, cfg)
	opts := append(ops.ServerOptions(), server.WithLogger(log))
	tlsOpts, err := ops.TLSOptions(log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsecho:", err)
		return 1
	}
	opts = append(opts, tlsOpts...)
	if loops > 0 {
		opts = append(opts, server.WithLoops(loops))
	}
	s, err := server.New(http1.NewServer(up, http1.Config{}), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsecho:", err)
		return 1
	}
	ln, err := ops.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsecho:", err)
		return 1
	}
	log.Info("wsecho listening", "addr", ln.Addr().String(), "max_message", cfg.MaxMessage, "deflate", cfg.Compression)
	code := serve.Run(s, ln, ops, log)
	st := s.Stats()
	log.Info("stopped", "code", code, "accepted", st.Accepted, "bytes_in", st.BytesIn, "bytes_out", st.BytesOut)
	return code
}
