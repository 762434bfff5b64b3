// Command echo is an echo server on the Shoal engine: every byte a client
// sends comes back. It exits cleanly on SIGINT or SIGTERM.
//
//	go run ./examples/echo -addr 127.0.0.1:9000 -loops 2
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoalnet/shoal/admin"
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

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on (host:port)")
	loops := flag.Int("loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
	portable := flag.Bool("portable", false, "use the portable goroutine-per-connection engine")
	adminAddr := flag.String("admin", "127.0.0.1:9090", "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof (empty: off)")
	flag.Parse()
	if err := run(*addr, *loops, *portable, *adminAddr); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(addr string, loops int, portable bool, adminAddr string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := []server.Option{server.WithLogger(log), server.WithLoopStats(adminAddr != "")}
	if loops > 0 {
		opts = append(opts, server.WithLoops(loops))
	}
	if portable {
		opts = append(opts, server.WithEngine(server.EnginePortable))
	}
	s, err := server.New(echo{}, opts...)
	if err != nil {
		return err
	}
	ln, err := server.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("echo server listening", "addr", ln.Addr().String())
	if adminAddr != "" {
		adm, err := admin.Start(adminAddr, s)
		if err != nil {
			ln.Close()
			return err
		}
		defer adm.Shutdown(context.Background())
		log.Info("admin endpoints listening", "addr", adm.Addr().String())
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if s, ok := <-sig; ok {
			log.Info("stopping", "signal", s.String())
		}
		s.Close()
	}()
	err = s.Serve(ln)
	close(sig)
	if errors.Is(err, server.ErrServerClosed) {
		st := s.Stats()
		log.Info("stopped", "accepted", st.Accepted, "bytes_in", st.BytesIn, "bytes_out", st.BytesOut)
		return nil
	}
	return err
}
