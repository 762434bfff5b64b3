// Command chat is a chat server with a web page, on Shoal's pub/sub:
// rooms, presence, history on join, and recovery of what a page missed
// while it reconnected, over WebSocket with an SSE fallback. One HTTP/1.1
// server on the event loops answers the page (GET /), the WebSocket
// (/ws), the SSE stream (/sse), POST /publish and, with -dev, GET /token.
// With -nats the rooms are shared by every node on the same NATS.
//
// SIGINT or SIGTERM drains it: WebSocket clients get the close 3001
// ("reconnect") and SSE streams end, and the page reconnects at once.
//
//	go run ./examples/chat -dev   # then open http://127.0.0.1:8082/
//
// The protocol and the flags are described in README.md.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/serve"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/shutdown"
)

// config is what the flags say.
type config struct {
	addr       string
	loops      int
	dev        bool
	secret     string
	nats       string
	replicas   int // of the NATS stream and bucket
	history    int
	historyTTL time.Duration
	tokenTTL   time.Duration
	mint       string // print a token for this user and exit
	ops        serve.Config
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8082", "address to listen on (host:port)")
	flag.IntVar(&cfg.loops, "loops", 0, "event loops (0: one per core, from GOMAXPROCS)")
	flag.BoolVar(&cfg.dev, "dev", false, "development: GET /token?user=NAME issues a token to anyone (and -secret may be left out)")
	flag.StringVar(&cfg.secret, "secret", "", "HMAC key of the tokens, at least 16 bytes (default $CHAT_SECRET; with -dev, random)")
	flag.StringVar(&cfg.nats, "nats", "", "NATS URL of the cluster's broker (empty: one node, rooms in memory)")
	flag.IntVar(&cfg.replicas, "nats-replicas", 1, "with -nats: replicas of the history stream and the presence bucket (3 on a cluster of three or more, so that a NATS server may restart)")
	flag.IntVar(&cfg.history, "history", 100, "messages kept per room (0: none), and the most a join gets or recovers")
	flag.DurationVar(&cfg.historyTTL, "history-ttl", 10*time.Minute, "how long a message is kept (0: until pushed out by -history)")
	flag.DurationVar(&cfg.tokenTTL, "token-ttl", 24*time.Hour, "how long a token from /token or -mint is valid")
	flag.StringVar(&cfg.mint, "mint", "", "print a token for this user, signed with -secret, and exit")
	cfg.ops.Flags(flag.CommandLine, "127.0.0.1:9093")
	flag.Parse()
	os.Exit(run(cfg))
}

func run(cfg config) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	secret, err := tokenSecret(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		return 2
	}
	if cfg.mint != "" {
		if cfg.secret == "" && os.Getenv("CHAT_SECRET") == "" {
			fmt.Fprintln(os.Stderr, "chat: -mint signs with -secret (or $CHAT_SECRET): give one")
			return 2
		}
		if err := validUser(cfg.mint); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Println(signToken(secret, cfg.mint, time.Now().Add(cfg.tokenTTL)))
		return 0
	}
	b, err := newBroker(cfg.nats, cfg.replicas, cfg.history, cfg.historyTTL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		return 1
	}
	ch, err := newChat(b, options{dev: cfg.dev, secret: secret, tokenTTL: cfg.tokenTTL, maxHistory: max(cfg.history, 1)}, log)
	if err != nil {
		b.Close()
		fmt.Fprintln(os.Stderr, "chat:", err)
		return 1
	}
	defer ch.Close()
	opts := append(cfg.ops.ServerOptions(), server.WithLogger(log))
	tlsOpts, err := cfg.ops.TLSOptions(log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		return 1
	}
	opts = append(opts, tlsOpts...)
	if cfg.loops > 0 {
		opts = append(opts, server.WithLoops(cfg.loops))
	}
	s, err := server.New(http1.NewServer(ch, httpConfig), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		return 1
	}
	ln, err := cfg.ops.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		return 1
	}
	log.Info("chat listening", "addr", ln.Addr().String(), "dev", cfg.dev, "broker", brokerName(cfg.nats),
		"history", cfg.history, "history_ttl", cfg.historyTTL)
	// The node stops publishing as the listener closes, so that the
	// server's drain delivers everything published before its goodbyes;
	// it closes once the server has drained: every connection has left
	// its rooms by then.
	code := serve.Run(s, ln, cfg.ops, log,
		serve.Hook{Phase: shutdown.PhaseStopAccepting, Name: "pubsub drain", Fn: ch.Drain},
		serve.Hook{Phase: shutdown.PhaseStopWorkers, Name: "pubsub", Fn: func(context.Context) error { return ch.Close() }})
	st, ps := s.Stats(), ch.node.Stats()
	log.Info("stopped", "code", code, "accepted", st.Accepted, "published", ps.Published, "delivered", ps.Delivered,
		"slow", ps.Slow, "lost", ps.Lost, "unrecovered", ps.Unrecovered, "broker_errors", ps.BrokerErrors)
	return code
}

// httpConfig bounds requests: nothing the chat takes is larger than a
// publish.
var httpConfig = http1.Config{Limits: http1.Limits{MaxBody: maxWSMessage}}

// tokenSecret returns the key of the tokens: -secret, $CHAT_SECRET, or
// with -dev a random one.
func tokenSecret(cfg config) ([]byte, error) {
	s := cfg.secret
	if s == "" {
		s = os.Getenv("CHAT_SECRET")
	}
	switch {
	case s == "" && cfg.dev:
		b := make([]byte, 32)
		rand.Read(b)
		return b, nil
	case s == "":
		return nil, errors.New("-secret (or $CHAT_SECRET) is required without -dev")
	case len(s) < 16:
		return nil, errors.New("-secret must be at least 16 bytes")
	}
	return []byte(s), nil
}

// newBroker chooses the broker: the node's own memory, or NATS
// JetStream (newNATS), where the rooms' history and presence are shared
// by every node of the cluster.
func newBroker(natsURL string, replicas, history int, ttl time.Duration) (pubsub.Broker, error) {
	if natsURL != "" {
		if history <= 0 || ttl <= 0 {
			return nil, errors.New("with -nats, -history and -history-ttl must be above 0")
		}
		return newNATS(natsURL, replicas, history, ttl)
	}
	if history <= 0 {
		history = -1 // none
	}
	if ttl <= 0 {
		ttl = -1 // no expiry
	}
	return pubsub.NewMemory(pubsub.MemoryConfig{HistorySize: history, HistoryTTL: ttl}), nil
}

func brokerName(natsURL string) string {
	if natsURL == "" {
		return "memory"
	}
	return "nats"
}
