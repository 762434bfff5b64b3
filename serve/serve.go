// Package serve runs a Shoal server the way a production deployment
// would: admin endpoints (/metrics, /healthz, /readyz, /debug/pprof), the
// memory governor (GOMEMLIMIT and GOGC from the container's limit,
// throttling and shedding), and a graceful drain on SIGINT/SIGTERM through
// the shutdown coordinator, with the exit code saying how it went. It is
// the wiring every program's main would otherwise repeat:
//
//	var ops serve.Config
//	ops.Flags(flag.CommandLine, "127.0.0.1:9090") // -admin, -drain-*, -governor, -restart, ...
//	flag.Parse()
//	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
//	s, err := server.New(h, append(ops.ServerOptions(), server.WithLogger(log))...)
//	...
//	ln, err := ops.Listen("tcp", ":9000") // handed over at a restart (-restart)
//	...
//	os.Exit(serve.Run(s, ln, ops, log))
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalnet/shoal/admin"
	"github.com/shoalnet/shoal/certfile"
	"github.com/shoalnet/shoal/governor"
	"github.com/shoalnet/shoal/internal/devcert"
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

	// Restart: SIGUSR2 (and SIGHUP with RestartOnHUP) starts a new copy of
	// the binary that takes over the listening sockets; this process drains
	// once it is ready (restart_unix.go). The listeners must come from Listen.
	Restart        bool
	RestartOnHUP   bool          // SIGHUP restarts too (a reload in systemd's sense)
	RestartTimeout time.Duration // how long a new process may take to be ready
	PIDFile        string        // where the serving process writes its PID (empty: nowhere)

	// TLS: a certificate and key from files (reloaded on SIGHUP and when
	// they change), or, with DevTLS, one made at start for localhost.
	TLSCert, TLSKey string
	DevTLS          bool

	rs    *restarter      // set by Listen when Restart is on
	certs *certfile.Certs // set by TLSOptions from TLSCert and TLSKey
}

// Flags registers the shared flags on fs; admin is the example's default
// admin address.
func (c *Config) Flags(fs *flag.FlagSet, admin string) {
	fs.StringVar(&c.Admin, "admin", admin, "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof (empty: off)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 25*time.Second, "overall deadline of the graceful shutdown")
	fs.DurationVar(&c.PreDrain, "pre-drain", 0, "wait after readiness goes down, before the listener closes (load balancers)")
	fs.DurationVar(&c.DrainQuiet, "drain-quiet", 100*time.Millisecond, "quiet time after which a draining connection is closed")
	fs.BoolVar(&c.Governor, "governor", true, "run the memory governor (container memory limit, adaptive GOGC, throttling, shedding)")
	fs.BoolVar(&c.Restart, "restart", false, "SIGUSR2 restarts without downtime: a new copy of the binary takes over the listening sockets, then this process drains")
	fs.BoolVar(&c.RestartOnHUP, "restart-on-hup", false, "SIGHUP restarts too (with -restart)")
	fs.DurationVar(&c.RestartTimeout, "restart-timeout", 30*time.Second, "how long a new process may take to be ready before the restart is given up")
	fs.StringVar(&c.PIDFile, "pid-file", "", "write the PID of the serving process here (it changes at each restart)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve TLS with this certificate chain (PEM; with -tls-key; reloaded on SIGHUP and when the file changes)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the private key of -tls-cert (PEM)")
	fs.BoolVar(&c.DevTLS, "dev-tls", false, "serve TLS with a certificate for localhost made at start, signed by a new CA whose certificate is written next to the binary's temp files (local use only)")
}

// TLSOptions returns the server options of the TLS flags (none without
// them): TLS 1.2 and 1.3, ALPN http/1.1, the certificate from -tls-cert and
// -tls-key (reloaded by Run) or from -dev-tls. With -dev-tls it writes the
// CA's certificate to a file and logs its path, for curl --cacert.
func (c *Config) TLSOptions(log *slog.Logger) ([]server.Option, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	switch {
	case c.DevTLS && (c.TLSCert != "" || c.TLSKey != ""):
		return nil, errors.New("serve: -dev-tls and -tls-cert/-tls-key exclude each other")
	case c.DevTLS:
		cert, ca, err := devcert.Local()
		if err != nil {
			return nil, err
		}
		f, err := os.CreateTemp("", "shoal-dev-ca-*.pem")
		if err != nil {
			return nil, err
		}
		f.Write(ca.PEM())
		f.Close()
		log.Warn("serving TLS with a development certificate for localhost", "ca_file", f.Name())
		cfg.Certificates = []tls.Certificate{cert}
	case c.TLSCert != "" || c.TLSKey != "":
		if c.TLSCert == "" || c.TLSKey == "" {
			return nil, errors.New("serve: -tls-cert and -tls-key go together")
		}
		certs, err := certfile.Load(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, err
		}
		c.certs = certs
		cfg.GetCertificate = certs.GetCertificate
	default:
		return nil, nil
	}
	return []server.Option{server.WithTLS(cfg)}, nil
}

// ServerOptions returns the server options the shared flags imply.
func (c *Config) ServerOptions() []server.Option {
	return []server.Option{server.WithLoopStats(c.Admin != ""), server.WithDrainQuiet(c.DrainQuiet)}
}

// certWatchInterval is how often Run looks at the certificate files.
const certWatchInterval = 2 * time.Second

// Run serves ln with s until a signal (or a failure) and returns the exit
// code of the shutdown: 0 graceful, 1 a hook failed or serving could not
// start, 3 the drain deadline passed, 4 forced by a second signal. hooks
// are added to the coordinator too (e.g. a PhaseStopWorkers hook for a
// broker). With c.Restart, ln must come from c.Listen, and a restart that
// hands over to a new process ends Run like SIGTERM.
func Run(s *server.Server, ln net.Listener, c Config, log *slog.Logger, hooks ...Hook) int {
	if c.Restart && c.rs == nil {
		log.Error("restart: the listener was not made by Config.Listen")
		ln.Close()
		return 1
	}
	coord := shutdown.New(shutdown.WithTimeout(c.DrainTimeout), shutdown.WithPreDrainDelay(c.PreDrain),
		shutdown.WithLogger(log))
	var adm *admin.Admin
	if c.Admin != "" {
		aln, err := c.listenAdmin()
		if err != nil {
			log.Error("admin endpoints", "err", err)
			ln.Close()
			return 1
		}
		adm = admin.Serve(aln, s)
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
	// Signals before the first connection: a SIGTERM that arrives once
	// connections are accepted drains them instead of killing the process.
	stopSignals := coord.Listen()
	defer stopSignals()
	for _, h := range hooks {
		coord.Add(h.Phase, h.Name, h.Fn)
	}
	var reloads []func()
	if certs := c.certs; certs != nil {
		reload := func() {
			switch changed, err := certs.Reload(); {
			case err != nil:
				log.Error("certificate reload failed; the one in use stays", "err", err)
			case changed:
				log.Info("certificate reloaded", "subject", certs.Current().Leaf.Subject.String(),
					"not_after", certs.Current().Leaf.NotAfter)
			}
		}
		reloads = append(reloads, reload)
		ctx, stop := context.WithCancel(context.Background())
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			certs.Watch(ctx, certWatchInterval, func(err error) {
				log.Error("certificate files changed but do not load; the one in use stays", "err", err)
			})
		}()
		defer func() { stop(); <-watched }()
	}
	start := func() error { return s.Start(ln) }
	if rs := c.rs; rs != nil {
		start = func() error { return rs.start(s, ln) }
		// No more restarts once the drain begins, and the upgrader lets go
		// of its copies of the sockets so that they close with the server's
		// (new connections are refused, not left in a backlog).
		coord.Add(shutdown.PhaseNotReady, "restart", func(context.Context) error { rs.stop(); return nil })
		restart, stop := rs.watch(log, func() { go coord.Shutdown() })
		defer stop()
		if c.RestartOnHUP {
			reloads = append(reloads, func() { go restart() })
		}
	}
	if len(reloads) > 0 {
		coord.OnReload(func() {
			for _, fn := range reloads {
				fn()
			}
		})
	}
	if err := start(); err != nil {
		log.Error("serve failed", "err", err)
		coord.Shutdown()
		return 1
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := s.Wait(); err != nil && err != server.ErrServerClosed {
			log.Error("serve failed", "err", err)
			coord.Shutdown() // runs the hooks here; Run returns with their result
		}
	}()
	code := coord.Wait()
	select {
	case <-coord.Done(): // the hooks ran: the drain hook has closed the server
		<-served
	default: // forced by a second signal: the process exits at once
	}
	return code
}

// StartGovernor starts the memory governor for s, with opts after its
// logger, exports its metrics on reg (if not nil) and stops it in the
// coordinator's PhaseStopWorkers.
func StartGovernor(s *server.Server, reg *prometheus.Registry, coord *shutdown.Coordinator, log *slog.Logger,
	opts ...governor.Option) error {
	g, err := governor.New(s, append([]governor.Option{governor.WithLogger(log)}, opts...)...)
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
