// Command kv is an in-memory key-value server that speaks the Redis
// protocol (RESP2 and RESP3), on the Shoal engine with its RESP codec.
// It holds strings with expiry and answers like Redis 7.0 does, byte for
// byte, for the commands it has: redis-cli, redis-benchmark and Redis
// client libraries work with it. It exits cleanly on SIGINT or SIGTERM.
//
//	go run ./examples/kv -addr 127.0.0.1:6380
//	redis-cli -p 6380 set greeting hello
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/server"
)

// maxBulk is the largest value (and argument) a request may carry.
const maxBulk = 64 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "address to listen on (host:port)")
	loops := flag.Int("loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
	verbose := flag.Bool("v", false, "log every connection closed for an error")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until the server stops")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "kv:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(*addr, *loops, *verbose); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "kv:", err)
		os.Exit(1)
	}
}

func run(addr string, loops int, verbose bool) error {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	h := newKV(log, loops)
	s, err := newServer(h, log, loops)
	if err != nil {
		return err
	}
	ln, err := server.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		h.port, _ = strconv.Atoi(port)
	}
	h.store.startExpiry()
	defer h.store.stopExpiry()
	log.Info("kv server listening", "addr", ln.Addr().String())

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
		keys, _ := h.store.size()
		log.Info("stopped", "accepted", st.Accepted, "frames", st.Frames, "frame_errors", st.FrameErrors, "keys", keys)
		return nil
	}
	return err
}

// newServer returns a server that runs h with the RESP codec. Input
// beyond the codec's limits closes the connection with the codec's error;
// a connection may buffer one maximal request.
func newServer(h *kv, log *slog.Logger, loops int, opts ...server.Option) (*server.Server, error) {
	opts = append([]server.Option{
		server.WithLogger(log),
		server.WithCodec(codec.NewRESP(codec.RESPConfig{MaxBulk: maxBulk})),
		server.WithMaxBufferedInput(maxBulk + 1<<20),
	}, opts...)
	if loops > 0 {
		opts = append(opts, server.WithLoops(loops))
	}
	return server.New(h, opts...)
}
