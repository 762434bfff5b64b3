// Command minimal is the smallest production main: an echo server with
// metrics, probes, the memory governor and a graceful drain on SIGTERM.
package main

import (
	"flag"
	"log/slog"
	"os"

	"github.com/shoalnet/shoal/serve"
	"github.com/shoalnet/shoal/server"
)

type echo struct{ server.NopHandler }

func (echo) OnData(c server.Conn) { b, _ := c.Next(0); c.Write(b) }

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	var ops serve.Config
	ops.Flags(flag.CommandLine, "127.0.0.1:9090")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s, err := server.New(echo{}, append(ops.ServerOptions(), server.WithLogger(log))...)
	if err != nil {
		log.Error("config", "err", err)
		os.Exit(1)
	}
	ln, err := ops.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	os.Exit(serve.Run(s, ln, ops, log))
}
