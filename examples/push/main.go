// Command push is a publish/subscribe server for the push protocol (package
// proto) on the Shoal engine: clients subscribe to topics, publish to them,
// and every subscriber gets each message as a MSG frame. It exits cleanly
// on SIGINT or SIGTERM.
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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shoalnet/shoal/admin"
	"github.com/shoalnet/shoal/examples/push/hub"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/server"
)

// config is the server's configuration, from the flags.
type config struct {
	addr          string
	loops         int
	maxPayload    int
	maxBody       int // the codec's limit: larger frames close the connection
	maxTopics     int
	maxPending    int
	dropOverLimit bool
	stats         time.Duration
	logLevel      slog.Level
	admin         string // admin HTTP address; empty: off
}

// defaultConfig returns the defaults of the flags.
func defaultConfig() config {
	return config{
		addr:       "127.0.0.1:9100",
		maxPayload: proto.DefaultMaxPayload,
		maxBody:    2 * proto.DefaultMaxPayload,
		maxTopics:  64,
		maxPending: 4 << 20,
		logLevel:   slog.LevelInfo,
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
	overLimit := flag.String("over-limit", "close", "subscriber above -max-pending: close it, or drop the message")
	flag.StringVar(&cfg.admin, "admin", "", "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof (empty: off)")
	flag.DurationVar(&cfg.stats, "stats", 0, "log counters at this interval (0: only at exit)")
	flag.TextVar(&cfg.logLevel, "log-level", cfg.logLevel, "log level: debug, info, warn, error")
	flag.Parse()
	switch *overLimit {
	case "close":
	case "drop":
		cfg.dropOverLimit = true
	default:
		fmt.Fprintf(os.Stderr, "push: -over-limit %q: want close or drop\n", *overLimit)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "push:", err)
		os.Exit(1)
	}
}

// newServer builds the server and its handler from cfg; extra options
// come last.
func newServer(cfg config, log *slog.Logger, extra ...server.Option) (*server.Server, *handler, error) {
	if cfg.maxBody < cfg.maxPayload+proto.MaxOverhead {
		return nil, nil, fmt.Errorf("max frame %d is below max payload %d + %d bytes of header",
			cfg.maxBody, cfg.maxPayload, proto.MaxOverhead)
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
	h := &handler{hub: hb, log: log}
	opts := []server.Option{server.WithCodec(cd), server.WithLogger(log), server.WithLoopStats(cfg.admin != "")}
	if cfg.loops > 0 {
		opts = append(opts, server.WithLoops(cfg.loops))
	}
	s, err := server.New(h, append(opts, extra...)...)
	if err != nil {
		return nil, nil, err
	}
	return s, h, nil
}

func run(cfg config) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	s, h, err := newServer(cfg, log)
	if err != nil {
		return err
	}
	ln, err := server.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	log.Info("push server listening", "addr", ln.Addr().String(), "max_payload", cfg.maxPayload,
		"max_frame", cfg.maxBody, "max_topics", cfg.maxTopics)
	if cfg.admin != "" {
		adm, err := admin.Start(cfg.admin, s)
		if err != nil {
			ln.Close()
			return err
		}
		defer adm.Shutdown(context.Background())
		if err := registerMetrics(adm.Registry(), h); err != nil {
			ln.Close()
			return err
		}
		log.Info("admin endpoints listening", "addr", adm.Addr().String())
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	var tick <-chan time.Time
	if cfg.stats > 0 {
		t := time.NewTicker(cfg.stats)
		defer t.Stop()
		tick = t.C
	}
	go func() {
		for {
			select {
			case <-tick:
				logStats(log, "stats", s, h)
			case sg, ok := <-sig:
				if ok {
					log.Info("stopping", "signal", sg.String())
				}
				s.Close()
				return
			}
		}
	}()
	err = s.Serve(ln)
	close(sig)
	if errors.Is(err, server.ErrServerClosed) {
		logStats(log, "stopped", s, h)
		return nil
	}
	return err
}

// logStats logs the server's and the hub's counters.
func logStats(log *slog.Logger, msg string, s *server.Server, h *handler) {
	st, hs := s.Stats(), h.hub.Stats()
	log.Info(msg, "conns", st.Conns, "accepted", st.Accepted, "frames", st.Frames,
		"frame_errors", st.FrameErrors, "protocol_errors", h.protocolErrors.Load(),
		"topics", hs.Topics, "subscriptions", hs.Subscriptions, "publishes", hs.Publishes,
		"encodes", hs.Encodes, "delivered", hs.Delivered, "dropped", hs.Dropped,
		"slow_closed", hs.SlowClosed, "flushes", hs.Flushes, "flushed", hs.Flushed,
		"server_slow_consumers", st.SlowConsumers,
		"bytes_in", st.BytesIn, "bytes_out", st.BytesOut)
}
