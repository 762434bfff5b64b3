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
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strconv"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/serve"
	"github.com/shoalnet/shoal/server"
)

// maxBulk is the largest value (and argument) a request may carry.
const maxBulk = 64 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "address to listen on (host:port)")
	loops := flag.Int("loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
	verbose := flag.Bool("v", false, "log every connection closed for an error")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until the server stops")
	var ops serve.Config
	ops.Flags(flag.CommandLine, "127.0.0.1:9092")
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
	code := run(*addr, *loops, *verbose, ops)
	pprof.StopCPUProfile()
	os.Exit(code)
}

// run serves until a signal drains the server, and returns the exit code.
func run(addr string, loops int, verbose bool, ops serve.Config) int {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	h := newKV(log, loops)
	s, err := newServer(h, log, loops, ops.ServerOptions()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kv:", err)
		return 1
	}
	ln, err := ops.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kv:", err)
		return 1
	}
	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		h.port, _ = strconv.Atoi(port)
	}
	h.store.startExpiry()
	defer h.store.stopExpiry()
	log.Info("kv server listening", "addr", ln.Addr().String())
	code := serve.Run(s, ln, ops, log)
	st := s.Stats()
	keys, _ := h.store.size()
	log.Info("stopped", "code", code, "accepted", st.Accepted, "frames", st.Frames, "frame_errors", st.FrameErrors, "keys", keys)
	return code
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
