// Command push is a publish/subscribe server for the push protocol (package
// proto) on the Shoal engine and its pub/sub (package pubsub): clients
// subscribe to topics, publish to them, and every subscriber gets each
// message as a MSG frame, encoded once and queued by reference.
//
// SIGINT or SIGTERM drains it gracefully: readiness goes down (with
// -admin), the listener closes, publishing stops, every connection gets the
// messages queued for it and a GOAWAY, and closes with a FIN once idle. The
// exit code says how it went: 0, 1 if a shutdown step failed, 3 if the
// -drain-timeout deadline passed; a second signal exits at once with 4.
//
//	go run ./examples/push -addr 127.0.0.1:9100
//
// The protocol, the limits and a load run with 10,000 subscribers are
// described in README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalnet/shoal/admin"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/governor"
	"github.com/shoalnet/shoal/serve"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/shutdown"
)

// config is the server's configuration, from the flags.
type config struct {
	addr         string
	governor     bool    // run the memory governor
	engineBudget float64 // the governor's engine budget, as a share of the memory limit
	loops        int
	maxPayload   int
	maxBody      int // the codec's limit: larger frames close the connection
	maxTopics    int
	maxPending   int // bytes queued for a subscriber above which a publication closes it (pubsub's MaxQueued)
	maxInFlight  int // PUBs of one connection unanswered above which it is not read
	sndBuf       int // SO_SNDBUF of accepted connections; 0: the system's (autotuned)
	highWater    int // server watermarks of each connection's outbound queue
	lowWater     int
	stats        time.Duration
	logLevel     slog.Level
	admin        string // admin HTTP address; empty: off

	drainTimeout time.Duration // overall deadline of the graceful shutdown
	preDrain     time.Duration // wait after readiness goes down, before the listener closes
	drainQuiet   time.Duration // a draining connection closes after this long idle
	goAwayRetry  time.Duration // GOAWAY: how long clients should wait before reconnecting
	goAwayAddr   string        // GOAWAY: where clients should reconnect; empty: the same address
}

// defaultConfig returns the defaults of the flags.
func defaultConfig() config {
	return config{
		governor:     true,
		engineBudget: 0.25,
		addr:         "127.0.0.1:9100",
		maxPayload:   proto.DefaultMaxPayload,
		maxBody:      2 * proto.DefaultMaxPayload,
		maxTopics:    64,
		maxPending:   1 << 20,
		maxInFlight:  16,
		sndBuf:       256 << 10,
		highWater:    4 << 20,
		lowWater:     1 << 20,
		logLevel:     slog.LevelInfo,

		drainTimeout: 25 * time.Second,
		drainQuiet:   100 * time.Millisecond,
		goAwayRetry:  time.Second,
	}
}

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.addr, "addr", cfg.addr, "address to listen on (host:port)")
	flag.IntVar(&cfg.loops, "loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
	flag.IntVar(&cfg.maxPayload, "max-payload", cfg.maxPayload, "largest PUB payload; larger ones get ERR 2")
	flag.IntVar(&cfg.maxBody, "max-frame", cfg.maxBody,
		"largest frame body; a larger frame closes the connection (at least max-payload + 273)")
	flag.IntVar(&cfg.maxTopics, "max-topics", cfg.maxTopics, "subscriptions per connection; more get ERR 3")
	flag.IntVar(&cfg.maxPending, "max-pending", cfg.maxPending,
		"bytes queued for one subscriber above which the next message closes it as slow (ERR 8); below -high-water")
	flag.IntVar(&cfg.maxInFlight, "max-inflight", cfg.maxInFlight,
		"PUBs of one connection not yet answered above which it is not read until one is")
	flag.IntVar(&cfg.sndBuf, "sndbuf", cfg.sndBuf,
		"SO_SNDBUF of subscriber connections (0: the system's, autotuned up to net.ipv4.tcp_wmem's maximum)")
	flag.IntVar(&cfg.highWater, "high-water", cfg.highWater,
		"output queued for one connection above which a write closes it as a slow consumer")
	flag.IntVar(&cfg.lowWater, "low-water", cfg.lowWater,
		"output queued below which a connection is no longer backed up; the memory governor sheds only queues above it")
	flag.BoolVar(&cfg.governor, "governor", true, "run the memory governor (container memory limit, adaptive GOGC, throttling, shedding)")
	flag.Float64Var(&cfg.engineBudget, "engine-budget", cfg.engineBudget,
		"share of the memory limit the engine may buffer for connections (with -governor; 0: no budget)")
	flag.StringVar(&cfg.admin, "admin", "127.0.0.1:9091", "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof (empty: off)")
	flag.DurationVar(&cfg.stats, "stats", 0, "log counters at this interval (0: only at exit)")
	flag.TextVar(&cfg.logLevel, "log-level", cfg.logLevel, "log level: debug, info, warn, error")
	flag.DurationVar(&cfg.drainTimeout, "drain-timeout", cfg.drainTimeout, "overall deadline of the graceful shutdown")
	flag.DurationVar(&cfg.preDrain, "pre-drain", cfg.preDrain,
		"wait after readiness goes down, before the listener closes (load balancers)")
	flag.DurationVar(&cfg.drainQuiet, "drain-quiet", cfg.drainQuiet, "quiet time after which a draining connection is closed")
	flag.DurationVar(&cfg.goAwayRetry, "goaway-retry", cfg.goAwayRetry,
		"GOAWAY hint: how long clients should wait before reconnecting (millisecond resolution)")
	flag.StringVar(&cfg.goAwayAddr, "goaway-addr", "", "GOAWAY hint: host:port clients should reconnect to (empty: the same address)")
	flag.Parse()
	os.Exit(run(cfg))
}

// newServer builds the server and its handler from cfg; extra options
// come last.
func newServer(cfg config, log *slog.Logger, extra ...server.Option) (*server.Server, *handler, error) {
	switch {
	case cfg.maxBody < cfg.maxPayload+proto.MaxOverhead:
		return nil, nil, fmt.Errorf("max frame %d is below max payload %d + %d bytes of header",
			cfg.maxBody, cfg.maxPayload, proto.MaxOverhead)
	case cfg.goAwayRetry < 0 || cfg.goAwayRetry.Milliseconds() > math.MaxUint32:
		return nil, nil, fmt.Errorf("GOAWAY retry %v: want 0 to %d ms", cfg.goAwayRetry, uint32(math.MaxUint32))
	case len(proto.AppendGoAway(nil, 0, cfg.goAwayAddr)) > cfg.maxBody:
		return nil, nil, fmt.Errorf("GOAWAY address of %d bytes does not fit in a frame of %d", len(cfg.goAwayAddr), cfg.maxBody)
	case cfg.maxPayload < 0 || cfg.maxTopics < 1 || cfg.maxInFlight < 1:
		return nil, nil, fmt.Errorf("max payload %d, max topics %d, max in flight %d: want 0 or more, 1 or more, 1 or more",
			cfg.maxPayload, cfg.maxTopics, cfg.maxInFlight)
	case cfg.maxPending < 1 || cfg.maxPending >= cfg.highWater:
		// Above the high watermark a write closes the subscriber without
		// a word: the node's limit must come first, with its ERR.
		return nil, nil, fmt.Errorf("max pending %d: want 1 or more and below the high watermark %d", cfg.maxPending, cfg.highWater)
	}
	cd, err := proto.NewCodec(cfg.maxBody)
	if err != nil {
		return nil, nil, err
	}
	h, err := newHandler(cd, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	opts := []server.Option{server.WithCodec(cd), server.WithLogger(log), server.WithLoopStats(cfg.admin != ""),
		server.WithDrainQuiet(cfg.drainQuiet), server.WithSocketBuffers(cfg.sndBuf, 0),
		server.WithWatermarks(cfg.highWater, cfg.lowWater)}
	if cfg.loops > 0 {
		opts = append(opts, server.WithLoops(cfg.loops))
	}
	s, err := server.New(h, append(opts, extra...)...)
	if err != nil {
		h.node.Close()
		return nil, nil, err
	}
	return s, h, nil
}

// run serves until a signal, or a failure, ends it with a graceful
// shutdown, and returns the exit code.
func run(cfg config) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "push:", err)
		return 1
	}
	s, h, err := newServer(cfg, log)
	if err != nil {
		return fail(err)
	}
	defer h.node.Close() // after the drain: the node's workers and broker
	ln, err := server.Listen("tcp", cfg.addr)
	if err != nil {
		return fail(err)
	}
	log.Info("push server listening", "addr", ln.Addr().String(), "max_payload", cfg.maxPayload,
		"max_frame", cfg.maxBody, "max_topics", cfg.maxTopics)

	coord := shutdown.New(shutdown.WithTimeout(cfg.drainTimeout), shutdown.WithPreDrainDelay(cfg.preDrain),
		shutdown.WithLogger(log))
	var adm *admin.Admin
	if cfg.admin != "" {
		adm, err = admin.Start(cfg.admin, s)
		if err != nil {
			ln.Close()
			return fail(err)
		}
		if err := registerMetrics(adm.Registry(), h); err != nil {
			adm.Shutdown(context.Background())
			ln.Close()
			return fail(err)
		}
		log.Info("admin endpoints listening", "addr", adm.Addr().String())
		coord.Add(shutdown.PhaseNotReady, "readiness", func(context.Context) error { adm.SetReady(false); return nil })
		coord.Add(shutdown.PhaseFlush, "admin", adm.Shutdown)
	}
	coord.Add(shutdown.PhaseDrain, "push", s.Shutdown)
	if cfg.governor {
		var reg *prometheus.Registry
		if adm != nil {
			reg = adm.Registry()
		}
		if err := serve.StartGovernor(s, reg, coord, log, governor.WithEngineBudget(cfg.engineBudget)); err != nil {
			ln.Close()
			return fail(err)
		}
	}

	stopStats := make(chan struct{})
	var statsDone sync.WaitGroup
	if cfg.stats > 0 {
		statsDone.Go(func() {
			t := time.NewTicker(cfg.stats)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					logStats(log, "stats", s, h)
				case <-stopStats:
					return
				}
			}
		})
	}
	// Signals before the first connection: a SIGTERM that arrives once
	// connections are accepted drains them instead of killing the process.
	stopSignals := coord.Listen()
	defer stopSignals()
	serveErr := make(chan error, 1)
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, server.ErrServerClosed) {
			log.Error("serve failed", "err", err)
			serveErr <- err
			coord.Shutdown()
		}
	}()
	code := coord.Wait()
	close(stopStats)
	statsDone.Wait()
	logStats(log, "stopped", s, h)
	select {
	case <-serveErr:
		return max(code, shutdown.ExitHookError)
	default:
		return code
	}
}

// logStats logs the server's and the node's counters.
func logStats(log *slog.Logger, msg string, s *server.Server, h *handler) {
	st, ps := s.Stats(), h.node.Stats()
	log.Info(msg, "conns", st.Conns, "accepted", st.Accepted, "frames", st.Frames,
		"frame_errors", st.FrameErrors, "protocol_errors", h.protocolErrors.Load(),
		"topics", ps.Topics, "subscriptions", ps.Subscribers, "publishes", ps.Published,
		"encodes", h.encodes.Load(), "delivered", ps.Delivered,
		"slow_closed", ps.Slow, "lost_closed", ps.Lost,
		"goaways", h.goAways.Load(), "server_slow_consumers", st.SlowConsumers,
		"bytes_in", st.BytesIn, "bytes_out", st.BytesOut, "outbound", st.OutboundBytes, "inbound", st.InboundBytes,
		"budget_pauses", st.BudgetPauses)
}
