package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge"
	gorilla "github.com/gorilla/websocket"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/loop"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/ws"
)

// The pub/sub fan-out servers (-serve ENGINE -proto pubsub): every
// WebSocket connection subscribes to the one topic, and a publisher
// goroutine in the server publishes pubsubMsgSize-byte JSON messages on it
// at a fixed rate once told to (startPublishing; in a server process,
// SIGUSR1). Each is its library used as its documentation shows, with its
// defaults.

// pubsubServers maps an engine name to a constructor of its fan-out server.
var pubsubServers = map[string]func() echoServer{
	"shoal":      func() echoServer { return &shoalPubSub{publisher: newPublisher()} },
	"centrifuge": func() echoServer { return &centrifugePubSub{publisher: newPublisher()} },
	"gorilla":    func() echoServer { return &gorillaPubSub{publisher: newPublisher()} },
}

// pubsubModules maps the fan-out servers other than shoal to their
// modules, whose pinned versions the report names.
var pubsubModules = map[string]string{
	"centrifuge": "github.com/centrifugal/centrifuge",
	"gorilla":    "github.com/gorilla/websocket",
}

// pubsubServer is a fan-out server: an echoServer (Serve, Stop) whose
// publisher starts when asked.
type pubsubServer interface {
	echoServer
	// startPublishing starts the publisher at rate messages a second,
	// until Stop; calls after the first do nothing. It may be called
	// before Serve.
	startPublishing(rate float64)
}

// pubsubTopic is the one topic (centrifuge: channel) of the scenario.
const pubsubTopic = "bench"

// pubsubMsgSize is the size of every published message.
const pubsubMsgSize = 128

// pubsubSubscribed is what the shoal and gorilla servers send a
// connection once it is subscribed, before any publication (centrifuge
// answers its subscribe command instead).
var pubsubSubscribed = []byte(`{"subscribed":"` + pubsubTopic + `"}`)

// pubsubMessage returns message number seq (from 1), due at ts and
// handed to the library at sent (unix nanoseconds):
// `{"ts":TS,"sent":SENT,"seq":SEQ,"pad":"xxx…"}`, padded to pubsubMsgSize
// bytes.
func pubsubMessage(ts, sent int64, seq uint64) []byte {
	b := make([]byte, 0, pubsubMsgSize)
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"sent":`...)
	b = strconv.AppendInt(b, sent, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"pad":"`...)
	for len(b) < pubsubMsgSize-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// publisher is the publishing goroutine of a fan-out server. It is safe
// for concurrent use.
type publisher struct {
	start chan float64 // the rate, once
	quit  chan struct{}
	once  sync.Once // closes quit
	told  atomic.Bool
}

func newPublisher() *publisher {
	return &publisher{start: make(chan float64, 1), quit: make(chan struct{})}
}

func (p *publisher) startPublishing(rate float64) {
	if rate > 0 && p.told.CompareAndSwap(false, true) {
		p.start <- rate
	}
}

// halt ends run.
func (p *publisher) halt() { p.once.Do(func() { close(p.quit) }) }

// run waits for startPublishing, then calls publish with message 1, 2, …
// on a fixed schedule until halt: message k is due at the start plus k-1
// intervals, carries that due time and the time it was handed to publish,
// and goes out at once if the publisher is late (a publish that blocks
// delays the next ones: the due times show it, the send times do not).
// The first error of publish is written to stderr.
func (p *publisher) run(publish func(msg []byte) error) {
	var rate float64
	select {
	case rate = <-p.start:
	case <-p.quit:
		return
	}
	interval := float64(time.Second) / rate
	t0 := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	failed := false
	for k := uint64(0); ; k++ {
		due := t0.Add(time.Duration(float64(k) * interval))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-p.quit:
				return
			}
		} else {
			select {
			case <-p.quit:
				return
			default:
			}
		}
		if err := publish(pubsubMessage(due.UnixNano(), time.Now().UnixNano(), k+1)); err != nil && !failed {
			failed = true
			fmt.Fprintf(os.Stderr, "publish %d: %v\n", k+1, err)
		}
	}
}

// shoal: package pubsub's Node on the Memory broker, behind http1 and ws
// on the loops. Every connection is a pubsub.Client subscribed on open;
// a publication's Frame is one ws.PreparedMessage, queued by reference on
// every subscriber.

type shoalPubSub struct {
	*publisher
	stopper
}

func (s *shoalPubSub) Serve(addr string, loops int) error {
	node, err := pubsub.NewNode(pubsub.NewMemory(pubsub.MemoryConfig{}), pubsub.Config{})
	if err != nil {
		return err
	}
	defer node.Close()
	h := &shoalPSHandler{node: node}
	h.enc = node.Encoding(func(p *pubsub.Publication) pubsub.Frame { return ws.NewPreparedMessage(ws.OpText, p.Data) })
	srv, err := server.New(http1.NewServer(ws.NewUpgrader(h, ws.Config{}), http1.Config{}), server.WithLoops(loops))
	if err != nil {
		return err
	}
	s.set(func() {
		s.halt()
		srv.Close()
	})
	go s.run(func(msg []byte) error {
		_, err := node.Publish(context.Background(), pubsubTopic, msg, pubsub.ClientInfo{})
		return err
	})
	if err := srv.ListenAndServe("tcp", addr); !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	return nil
}

// shoalPSHandler subscribes every connection on open and forgets it on
// close.
type shoalPSHandler struct {
	node *pubsub.Node
	enc  *pubsub.Encoding
	ids  atomic.Uint64
}

func (h *shoalPSHandler) OnOpen(c *ws.Conn) {
	cl := &shoalPSClient{c: c, enc: h.enc, id: h.ids.Add(1)}
	c.SetState(cl)
	h.node.Subscribe(cl, pubsubTopic, pubsub.SubscribeOptions{}, func(_ pubsub.SubscribeResult, err error) {
		if err != nil {
			c.Close(ws.CloseInternalError, err.Error())
			return
		}
		c.WriteMessage(ws.OpText, pubsubSubscribed)
	})
}

func (h *shoalPSHandler) OnMessage(*ws.Conn, ws.Opcode, []byte) {}

func (h *shoalPSHandler) OnClose(c *ws.Conn, _ int, _ error) {
	if cl, ok := c.State().(*shoalPSClient); ok {
		h.node.Leave(cl)
	}
}

// shoalPSClient is a pubsub.Client on a WebSocket connection.
type shoalPSClient struct {
	c   *ws.Conn
	enc *pubsub.Encoding
	id  uint64
}

func (w *shoalPSClient) Loop() *loop.Loop { return w.c.NetConn().Loop() }
func (w *shoalPSClient) Info() pubsub.ClientInfo {
	return pubsub.ClientInfo{ID: strconv.FormatUint(w.id, 10)}
}
func (w *shoalPSClient) Queued() int { return w.c.NetConn().OutboundBuffered() }

// Deliver queues the publication's one prepared frame by reference.
func (w *shoalPSClient) Deliver(p *pubsub.Publication) {
	w.c.WritePrepared(p.Frame(w.enc).(*ws.PreparedMessage))
}

// Disconnect closes with 3008 for a slow subscriber, 3010 otherwise.
func (w *shoalPSClient) Disconnect(err error) {
	code := 3010
	if errors.Is(err, pubsub.ErrSlow) {
		code = 3008
	}
	w.c.Close(code, err.Error())
}

// centrifuge: a centrifuge Node with its in-memory broker and its own
// WebSocket handler (JSON protocol); every connection is accepted as an
// anonymous user and allowed to subscribe, and the publisher calls
// Node.Publish.

type centrifugePubSub struct {
	*publisher
	stopper
}

func (s *centrifugePubSub) Serve(addr string, _ int) error {
	node, err := centrifuge.New(centrifuge.Config{})
	if err != nil {
		return err
	}
	node.OnConnecting(func(context.Context, centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: ""}}, nil
	})
	node.OnConnect(func(c *centrifuge.Client) {
		c.OnSubscribe(func(_ centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
	})
	if err := node.Run(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{})}
	s.set(func() {
		s.halt()
		srv.Close()
	})
	go s.run(func(msg []byte) error {
		_, err := node.Publish(pubsubTopic, msg)
		return err
	})
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	node.Shutdown(ctx)
	return nil
}

// gorilla: the hub of gorilla/websocket's chat example, subscribe-only: a
// hub goroutine owns the set of clients and hands every message to each
// client's buffered channel, closing (dropping) a client whose channel is
// full; each connection has a reader goroutine (pongs, close) and a writer
// goroutine that writes what its channel holds, the messages already
// queued joined by newlines into one frame, as the example does.

type gorillaPubSub struct {
	*publisher
	stopper
}

// The chat example's settings.
const (
	hubWriteWait  = 10 * time.Second
	hubPongWait   = 60 * time.Second
	hubPingPeriod = hubPongWait * 9 / 10
	hubSendQueue  = 256
	hubReadLimit  = 512
)

func (s *gorillaPubSub) Serve(addr string, _ int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h := &hub{
		broadcast:  make(chan []byte),
		register:   make(chan *hubClient),
		unregister: make(chan *hubClient),
		clients:    make(map[*hubClient]bool),
		quit:       make(chan struct{}),
	}
	go h.run()
	up := gorilla.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &hubClient{hub: h, conn: conn, send: make(chan []byte, hubSendQueue)}
		c.send <- pubsubSubscribed // ahead of every publication
		select {
		case h.register <- c:
		case <-h.quit:
			conn.Close()
			return
		}
		go c.writePump()
		go c.readPump()
	})}
	s.set(func() {
		s.halt()
		srv.Close()
		close(h.quit)
	})
	go s.run(func(msg []byte) error {
		select {
		case h.broadcast <- msg:
			return nil
		case <-h.quit:
			return errors.New("hub stopped")
		}
	})
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// hub is the chat example's Hub.
type hub struct {
	clients    map[*hubClient]bool // the hub goroutine's
	broadcast  chan []byte
	register   chan *hubClient
	unregister chan *hubClient
	quit       chan struct{}
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
		case c := <-h.unregister:
			if _, ok := h.clients[c]; ok {
				delete(h.clients, c)
				close(c.send)
			}
		case msg := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- msg:
				default:
					close(c.send)
					delete(h.clients, c)
				}
			}
		case <-h.quit:
			return
		}
	}
}

// hubClient is the chat example's Client.
type hubClient struct {
	hub  *hub
	conn *gorilla.Conn
	send chan []byte
}

// readPump reads (and drops) what the client sends, so that pongs and the
// close frame are handled, until the connection fails.
func (c *hubClient) readPump() {
	defer func() {
		select {
		case c.hub.unregister <- c:
		case <-c.hub.quit:
		}
		c.conn.Close()
	}()
	c.conn.SetReadLimit(hubReadLimit)
	c.conn.SetReadDeadline(time.Now().Add(hubPongWait))
	c.conn.SetPongHandler(func(string) error { c.conn.SetReadDeadline(time.Now().Add(hubPongWait)); return nil })
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

// writePump writes the messages of c.send, and pings.
func (c *hubClient) writePump() {
	ticker := time.NewTicker(hubPingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case msg, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(hubWriteWait))
			if !ok {
				// The hub closed the channel.
				c.conn.WriteMessage(gorilla.CloseMessage, []byte{})
				return
			}
			w, err := c.conn.NextWriter(gorilla.TextMessage)
			if err != nil {
				return
			}
			w.Write(msg)
			// Add queued messages to the current frame.
			for range len(c.send) {
				w.Write(newline)
				w.Write(<-c.send)
			}
			if err := w.Close(); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(hubWriteWait))
			if err := c.conn.WriteMessage(gorilla.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

var newline = []byte{'\n'}
