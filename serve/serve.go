// Package serve runs a Shoal server the way a production deployment
// would: admin endpoints (/metrics, /healthz, /readyz, /debug/pprof), the
// memory governor (GOMEMLIMIT and GOGC from the container's limit,
// throttling and shedding), and a graceful drain on SIGINT/SIGTERM through
// the shutdown coordinator, with the exit code saying how it went. It is
// the wiring every program's main would otherwise repeat:
//
//	var ops serve.Config
//	ops.Flags(flag.CommandLine, "127.0.0.1:9090") // -admin, -drain-timeout, -pre-drain, -drain-quiet, -governor
//	flag.Parse()
//	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
//	s, err := server.New(h, append(ops.ServerOptions(), server.WithLogger(log))...)
//	...
//	ln, err := server.Listen("tcp", ":9000")
//	...
//	os.Exit(serve.Run(s, ln, ops, log))
package serve

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalnet/shoal/admin"
	"github.com/shoalnet/shoal/governor"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/shutdown"
)

// Config holds the operational flags shared by the examples.
type Config struct {
	Admin        string        // admin HTTP address; empty: off
	DrainTimeout time.Duration // overall deadline of the graceful shutdown
	PreDrain     time.Duration // wait after readiness goes down, before the listener closes
	DrainQuiet   time.Duration // quiet time after which a draining connection closes
	Governor     bool          // run the memory governor
}

// Flags registers the shared flags on fs; admin is the example's default
// admin address.
func (c *Config) Flags(fs *flag.FlagSet, admin string) {
	fs.StringVar(&c.Admin, "admin", admin, "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof (empty: off)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 25*time.Second, "overall deadline of the graceful shutdown")
	fs.DurationVar(&c.PreDrain, "pre-drain", 0, "wait after readiness goes down, before the listener closes (load balancers)")
	fs.DurationVar(&c.DrainQuiet, "drain-quiet", 100*time.Millisecond, "quiet time after which a draining connection is closed")
	fs.BoolVar(&c.Governor, "governor", true, "run the memory governor (container memory limit, adaptive GOGC, throttling, shedding)")
}

// ServerOptions returns the server options the shared flags imply.
func (c *Config) ServerOptions() []server.Option {
	return []server.Option{server.WithLoopStats(c.Admin != ""), server.WithDrainQuiet(c.DrainQuiet)}
}

// Run serves ln with s until a signal (or a failure) and returns the exit
// code of the shutdown: 0 graceful, 1 a hook failed, 3 the drain deadline
// passed, 4 forced by a second signal. hooks are added to the coordinator
// too (e.g. a PhaseStopWorkers hook for a broker).
func Run(s *server.Server, ln net.Listener, c Config, log *slog.Logger, hooks ...Hook) int {
	coord := shutdown.New(shutdown.WithTimeout(c.DrainTimeout), shutdown.WithPreDrainDelay(c.PreDrain),
		shutdown.WithLogger(log))
	var adm *admin.Admin
	if c.Admin != "" {
		var err error
		if adm, err = admin.Start(c.Admin, s); err != nil {
			log.Error("admin endpoints", "err", err)
			ln.Close()
			return 1
		}
		log.Info("admin endpoints listening", "addr", adm.Addr().String())
		coord.Add(shutdown.PhaseNotReady, "readiness", func(context.Context) error { adm.SetReady(false); return nil })
		coord.Add(shutdown.PhaseFlush, "admin", adm.Shutdown)
	}
	if c.Governor {
		var reg *prometheus.Registry
		if adm != nil {
			reg = adm.Registry()
		}
		if err := StartGovernor(s, reg, coord, log); err != nil {
			log.Error("memory governor", "err", err)
			ln.Close()
			return 1
		}
	}
	coord.Add(shutdown.PhaseDrain, "server", s.Shutdown)
	for _, h := range hooks {
		coord.Add(h.Phase, h.Name, h.Fn)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := s.Serve(ln); err != nil && err != server.ErrServerClosed {
			log.Error("serve failed", "err", err)
			coord.Shutdown() // runs the hooks here; Run returns with their result
		}
	}()
	code := coord.Run()
	select {
	case <-coord.Done(): // the hooks ran: the drain hook has closed the server
		<-served
	default: // forced by a second signal: the process exits at once
	}
	return code
}

// StartGovernor starts the memory governor for s, exports its metrics on
// reg (if not nil) and stops it in the coordinator's PhaseStopWorkers.
func StartGovernor(s *server.Server, reg *prometheus.Registry, coord *shutdown.Coordinator, log *slog.Logger) error {
	g, err := governor.New(s, governor.WithLogger(log))
	if err != nil {
		return err
	}
	if err := g.Start(context.Background()); err != nil {
		return err
	}
	if reg != nil {
		if err := reg.Register(governor.NewCollector(g)); err != nil {
			g.Stop()
			return err
		}
	}
	st := g.Stats()
	log.Info("memory governor on", "limit", st.Limit, "engine_budget", st.EngineBudget, "gomaxprocs", st.GOMAXPROCS)
	coord.Add(shutdown.PhaseStopWorkers, "governor", func(context.Context) error { g.Stop(); return nil })
	return nil
}

// Hook is an extra shutdown step for Run.
type Hook struct {
	Phase shutdown.Phase
	Name  string
	Fn    shutdown.Hook
}
