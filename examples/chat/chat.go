package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/ws"
)

// maxRooms bounds the rooms a connection is in.
const maxRooms = 64

// options configures a chat.
type options struct {
	dev        bool          // GET /token issues tokens to anyone
	secret     []byte        // the HMAC key of the tokens
	tokenTTL   time.Duration // how long an issued token is valid
	maxHistory int           // the most messages a join gets from history
	maxErrors  int           // bad requests a connection may make; one more closes it with 1008
	heartbeat  time.Duration // SSE: a comment this often, and the check that the stream is still there
	node       pubsub.Config
}

func (o *options) defaults() {
	if o.tokenTTL <= 0 {
		o.tokenTTL = 24 * time.Hour
	}
	if o.maxHistory <= 0 {
		o.maxHistory = 100
	}
	if o.maxErrors <= 0 {
		o.maxErrors = 20
	}
	if o.heartbeat <= 0 {
		o.heartbeat = 15 * time.Second
	}
	o.node.MaxMessage = maxText
	o.node.MaxTopicsPerClient = maxRooms
	if o.node.HistoryLimit <= 0 {
		o.node.HistoryLimit = o.maxHistory
	}
}

// chat is the server: one native http1 handler for the page, the
// WebSocket, the SSE stream, /publish and /token, in front of a
// pubsub.Node. Its methods run on the loops, but for Close.
type chat struct {
	opts    options
	node    *pubsub.Node
	wsEnc   *pubsub.Encoding // a ws.PreparedMessage of the JSON
	sseEnc  *pubsub.Encoding // a sseFrame: "data: JSON\n\n"
	up      *ws.Upgrader
	publish http1.Handler // POST /publish, on the adapter's workers
	log     *slog.Logger
	now     func() time.Time

	nodeID string        // makes client ids unique across the nodes of a cluster
	ids    atomic.Uint64 // client ids on this node
}

// newChat starts a chat on b.
func newChat(b pubsub.Broker, o options, log *slog.Logger) (*chat, error) {
	o.defaults()
	if len(o.secret) == 0 {
		return nil, errors.New("chat: no token secret")
	}
	n, err := pubsub.NewNode(b, o.node)
	if err != nil {
		return nil, err
	}
	var id [3]byte
	rand.Read(id[:])
	ch := &chat{opts: o, node: n, log: log, now: time.Now, nodeID: hex.EncodeToString(id[:])}
	ch.wsEnc = n.Encoding(func(p *pubsub.Publication) pubsub.Frame {
		return ws.NewPreparedMessage(ws.OpText, encodePublication(p))
	})
	ch.sseEnc = n.Encoding(newSSEFrame)
	ch.up = ws.NewUpgrader(wsHandler{ch}, ws.Config{
		MaxFrame: maxWSMessage, MaxMessage: maxWSMessage,
		Subprotocols: []string{subprotocol},
		OnUpgrade:    ch.authWS,
		Compression:  true,
		// A draining server tells the page to reconnect at once: to the
		// same address, which in a cluster is the load balancer's.
		Goodbye: ws.CloseError{Code: closeReconnect, Reason: "reconnect"},
	})
	ch.publish = http1.Adapt(publishHandler{ch}, http1.AdapterConfig{Workers: 32, Queue: 1024, Logger: log})
	return ch, nil
}

// Drain stops the node publishing and waits, up to ctx, for the publishes
// in flight; call it before the server drains, whose goodbye to each
// WebSocket then delivers what the node queued for it (OnGoodbye).
func (ch *chat) Drain(ctx context.Context) error { return ch.node.Drain(ctx) }

// Close closes the node (and its broker). Drain the server first.
func (ch *chat) Close() error { return ch.node.Close() }

// newClientInfo names a new connection of user.
func (ch *chat) newClientInfo(user string) pubsub.ClientInfo {
	return pubsub.ClientInfo{ID: "c" + strconv.FormatUint(ch.ids.Add(1), 10) + "-" + ch.nodeID, User: user}
}

// ServeHTTP1 routes a request, on its loop.
func (ch *chat) ServeHTTP1(w *http1.ResponseWriter, r *http1.Request) {
	switch path := string(r.Path()); path {
	case "/ws":
		ch.up.Upgrade(w, r)
	case "/sse":
		ch.serveSSE(w, r)
	case "/publish":
		ch.publish.ServeHTTP1(w, r)
	case "/token":
		ch.serveToken(w, r)
	default:
		serveStatic(w, r, path)
	}
}

// serveToken answers GET /token?user=NAME with a token, with -dev only.
func (ch *chat) serveToken(w *http1.ResponseWriter, r *http1.Request) {
	if !ch.opts.dev {
		httpError(w, 404, "no tokens here: the server was not started with -dev")
		return
	}
	if string(r.Method) != "GET" {
		httpError(w, 405, "GET only")
		return
	}
	user := query(r).Get("user")
	if err := validUser(user); err != nil {
		httpError(w, 400, err.Error())
		return
	}
	exp := ch.now().Add(ch.opts.tokenTTL)
	w.Header("Content-Type", "application/json")
	w.Header("Cache-Control", "no-store")
	w.Write(encodeToken(signToken(ch.opts.secret, user, exp), user, exp))
}

// auth checks a token and returns its user.
func (ch *chat) auth(token string) (string, error) {
	c, err := parseToken(ch.opts.secret, token, ch.now())
	return c.Sub, err
}

// tokenProtocol prefixes the token a browser offers as a subprotocol
// (the one header it lets a page set on a WebSocket), next to
// subprotocol, which the server chooses.
const (
	subprotocol   = "chat"
	tokenProtocol = "token."
)

// authWS is the upgrader's OnUpgrade: the token comes from the query
// (token=) or from a subprotocol "token.<token>". A refusal is answered
// 403 before the 101; the state it returns is the user.
func (ch *chat) authWS(r *http1.Request) (any, error) {
	tok := query(r).Get("token")
	if tok == "" {
		for _, p := range ws.Subprotocols(r) {
			if s, ok := strings.CutPrefix(string(p), tokenProtocol); ok {
				tok = s
				break
			}
		}
	}
	if tok == "" {
		return nil, errNoToken
	}
	return ch.auth(tok)
}

var errNoToken = errors.New("chat: no token")

// query parses the request's query.
func query(r *http1.Request) url.Values {
	_, q, _ := strings.Cut(string(r.Target), "?")
	v, _ := url.ParseQuery(q)
	return v
}

func httpError(w *http1.ResponseWriter, status int, msg string) {
	w.WriteHeader(status)
	w.Header("Content-Type", "text/plain; charset=utf-8")
	w.WriteString(msg + "\n")
}
