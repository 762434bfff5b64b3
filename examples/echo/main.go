// Command echo is an echo server on the Shoal engine: every byte a client
// sends comes back. SIGINT or SIGTERM drains it gracefully: readiness goes
// down, the listener closes, every connection stops reading, gets its
// queued echoes and a clean FIN; the exit code says how it went (0, or 3
// if the drain deadline passed; a second signal exits at once with 4).
//
//	go run ./examples/echo -addr 127.0.0.1:9000 -loops 2
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/shoalnet/shoal/admin"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/shutdown"
)

// echo writes back whatever arrives.
type echo struct{}

func (echo) OnOpen(server.Conn) {}

func (echo) OnData(c server.Conn) {
	b, _ := c.Next(0)
	c.Write(b)
}

func (echo) OnClose(server.Conn, error) {}

// OnGoodbye stops taking new work when the drain begins: what was read is
// echoed, then the connection is idle and closes.
func (echo) OnGoodbye(c server.Conn) { c.PauseRead() }

type config struct {
	addr, admin   string
	loops         int
	portable      bool
	drainTimeout  time.Duration
	preDrainDelay time.Duration
	drainQuiet    time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:9000", "address to listen on (host:port)")
	flag.IntVar(&cfg.loops, "loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
	flag.BoolVar(&cfg.portable, "portable", false, "use the portable goroutine-per-connection engine")
	flag.StringVar(&cfg.admin, "admin", "127.0.0.1:9090", "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof (empty: off)")
	flag.DurationVar(&cfg.drainTimeout, "drain-timeout", 25*time.Second, "overall deadline of the graceful shutdown")
	flag.DurationVar(&cfg.preDrainDelay, "pre-drain", 0, "wait after readiness goes down, before the listener closes (load balancers)")
	flag.DurationVar(&cfg.drainQuiet, "drain-quiet", 100*time.Millisecond, "quiet time after which a draining connection is closed")
	flag.Parse()
	os.Exit(run(cfg))
}

func run(cfg config) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := []server.Option{server.WithLogger(log), server.WithLoopStats(cfg.admin != ""), server.WithDrainQuiet(cfg.drainQuiet)}
	if cfg.loops > 0 {
		opts = append(opts, server.WithLoops(cfg.loops))
	}
	if cfg.portable {
		opts = append(opts, server.WithEngine(server.EnginePortable))
	}
	s, err := server.New(echo{}, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		return 1
	}
	ln, err := server.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		return 1
	}
	log.Info("echo server listening", "addr", ln.Addr().String())

	coord := shutdown.New(shutdown.WithTimeout(cfg.drainTimeout), shutdown.WithPreDrainDelay(cfg.preDrainDelay),
		shutdown.WithLogger(log))
	if cfg.admin != "" {
		adm, err := admin.Start(cfg.admin, s)
		if err != nil {
			ln.Close()
			fmt.Fprintln(os.Stderr, "echo:", err)
			return 1
		}
		log.Info("admin endpoints listening", "addr", adm.Addr().String())
		coord.Add(shutdown.PhaseNotReady, "readiness", func(context.Context) error { adm.SetReady(false); return nil })
		coord.Add(shutdown.PhaseFlush, "admin", adm.Shutdown)
	}
	coord.Add(shutdown.PhaseDrain, "echo", s.Shutdown)

	go func() {
		if err := s.Serve(ln); err != nil && err != server.ErrServerClosed {
			log.Error("serve failed", "err", err)
			go coord.Shutdown()
		}
	}()
	code := coord.Run()
	st := s.Stats()
	log.Info("stopped", "code", code, "accepted", st.Accepted, "bytes_in", st.BytesIn, "bytes_out", st.BytesOut)
	return code
}
