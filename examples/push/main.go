// Command push is a publish/subscribe server for the push protocol (package
// proto) on the Shoal engine: clients subscribe to topics, publish to them,
// and every subscriber gets each message as a MSG frame.
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
	"github.com/shoalnet/shoal/examples/push/hub"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/governor"
	"github.com/shoalnet/shoal/serve"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/shutdown"
)

// config is the server's configuration, from the flags.
type config struct {
	addr          string
	governor      bool    // run the memory governor
	engineBudget  float64 // the governor's engine budget, as a share of the memory limit
	loops         int
	maxPayload    int
	maxBody       int // the codec's limit: larger frames close the connection
	maxTopics     int
	maxPending    int
	dropOverLimit bool
	sndBuf        int // SO_SNDBUF of accepted connections; 0: the system's (autotuned)
	highWater     int // server watermarks of each connection's outbound queue
	lowWater      int
	pubBudget     int64         // output queued on all connections above which publishers are held back; 0: never
	stall         time.Duration // publishers held back this long: close the subscribers stalled as long
	stats         time.Duration
	logLevel      slog.Level
	admin         string // admin HTTP address; empty: off

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
		maxPending:   4 << 20,
		sndBuf:       256 << 10,
		highWater:    4 << 20,
		lowWater:     1 << 20,
		stall:        2 * time.Second,
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
		"bytes of messages queued for one subscriber and not yet handed to its connection")
	flag.IntVar(&cfg.sndBuf, "sndbuf", cfg.sndBuf,
		"SO_SNDBUF of subscriber connections (0: the system's, autotuned up to net.ipv4.tcp_wmem's maximum)")
	flag.IntVar(&cfg.highWater, "high-water", cfg.highWater,
		"output queued for one connection above which its messages wait in the hub until it drains")
	flag.IntVar(&cfg.lowWater, "low-water", cfg.lowWater,
		"output queued below which a connection is no longer backed up; the memory governor sheds only queues above it")
	flag.Int64Var(&cfg.pubBudget, "publish-budget", -1,
		"output queued on all connections above which a publisher is no longer read until it is under half (-1: a quarter of the container's memory limit, none without one; 0: off)")
	flag.DurationVar(&cfg.stall, "stall", cfg.stall,
		"publishers held back this long: close the subscribers whose output has not moved for as long")
	overLimit := flag.String("over-limit", "close", "subscriber above -max-pending: close it, or drop the message")
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
	switch *overLimit {
	case "close":
	case "drop":
		cfg.dropOverLimit = true
	default:
		fmt.Fprintf(os.Stderr, "push: -over-limit %q: want close or drop\n", *overLimit)
		os.Exit(2)
	}
	if cfg.pubBudget < 0 {
		cfg.pubBudget = 0
		if lim, _, err := governor.DetectMemoryLimit(); err == nil && lim > 0 {
			cfg.pubBudget = lim / 4
		}
	}
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
	}
	cd, err := proto.NewCodec(cfg.maxBody)
	if err != nil {
		return nil, nil, err
	}
	policy := hub.CloseSubscriber
	if cfg.dropOverLimit {
		policy = hub.DropMessage
	}
	hb, err := hub.New(cd, hub.WithMaxPayload(cfg.maxPayload), hub.WithMaxTopics(cfg.maxTopics),
		hub.WithMaxPending(cfg.maxPending), hub.WithLimitPolicy(policy))
	if err != nil {
		return nil, nil, err
	}
	h := &handler{hub: hb, log: log,
		goAway: proto.AppendGoAway(nil, uint32(cfg.goAwayRetry.Milliseconds()), cfg.goAwayAddr)}
	opts := []server.Option{server.WithCodec(cd), server.WithLogger(log), server.WithLoopStats(cfg.admin != ""),
		server.WithDrainQuiet(cfg.drainQuiet), server.WithSocketBuffers(cfg.sndBuf, 0),
		server.WithWatermarks(cfg.highWater, cfg.lowWater)}
	if cfg.loops > 0 {
		opts = append(opts, server.WithLoops(cfg.loops))
	}
	if cfg.pubBudget > 0 {
		h.pace = newPacer(nil, cfg.pubBudget, cfg.stall, log)
		opts = append(opts, server.WithLoopTick(100*time.Millisecond, h.pace.tick))
	}
	s, err := server.New(h, append(opts, extra...)...)
	if err != nil {
		return nil, nil, err
	}
	if h.pace != nil {
		h.pace.srv = s // before Serve, which starts the ticks
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

// logStats logs the server's and the hub's counters.
func logStats(log *slog.Logger, msg string, s *server.Server, h *handler) {
	st, hs := s.Stats(), h.hub.Stats()
	log.Info(msg, "conns", st.Conns, "accepted", st.Accepted, "frames", st.Frames,
		"frame_errors", st.FrameErrors, "protocol_errors", h.protocolErrors.Load(),
		"topics", hs.Topics, "subscriptions", hs.Subscriptions, "publishes", hs.Publishes,
		"encodes", hs.Encodes, "delivered", hs.Delivered, "dropped", hs.Dropped,
		"slow_closed", hs.SlowClosed, "flushes", hs.Flushes, "flushed", hs.Flushed,
		"goaways", h.goAways.Load(), "server_slow_consumers", st.SlowConsumers,
		"publisher_holds", h.pace.holds(), "stalled_closed", h.pace.stalledClosed(),
		"bytes_in", st.BytesIn, "bytes_out", st.BytesOut, "outbound", st.OutboundBytes, "inbound", st.InboundBytes,
		"budget_pauses", st.BudgetPauses)
}
