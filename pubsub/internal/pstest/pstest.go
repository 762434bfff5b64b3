// Package pstest is the test bench of the pub/sub packages: a pubsub.Node
// behind a real WebSocket server that speaks a line protocol, and its
// client.
package pstest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/loop"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/ws"
)

// The tests speak a line protocol over WebSocket to a pubsub.Node behind
// a real server:
//
//	client: "sub TOPIC [since OFFSET EPOCH] [history N] [presence]"
//	        "unsub TOPIC", "pub TOPIC DATA"
//	server: "ok TOPIC OFFSET EPOCH RECOVERED HISTORY [PRESENT-IDS...]"
//	        "err WHAT", "pubok OFFSET"
//	        "message TOPIC OFFSET EPOCH DATA", "join TOPIC ID", "leave TOPIC ID"
//
// A slow or lost subscriber is closed with 3008 or 3010.

type Engine struct {
	Name string
	Opt  server.Option
}

func Engines() []Engine {
	list := []Engine{{"portable", server.WithEngine(server.EnginePortable)}}
	if runtime.GOOS != "windows" {
		list = append(list, Engine{"loops", server.WithEngine(server.EngineLoops)})
	}
	return list
}

var clientIDs atomic.Int64

// WSClient is a pubsub.Client on a WebSocket connection.
type WSClient struct {
	c    *ws.Conn
	info pubsub.ClientInfo
	enc  *pubsub.Encoding
}

func (w *WSClient) Loop() *loop.Loop        { return w.c.NetConn().Loop() }
func (w *WSClient) Info() pubsub.ClientInfo { return w.info }
func (w *WSClient) Queued() int             { return w.c.NetConn().OutboundBuffered() }
func (w *WSClient) Deliver(p *pubsub.Publication) {
	w.c.WritePrepared(p.Frame(w.enc).(*ws.PreparedMessage))
}
func (w *WSClient) Disconnect(err error) {
	code := 3010
	if errors.Is(err, pubsub.ErrSlow) {
		code = 3008
	}
	w.c.Close(code, err.Error())
}

// LineEncoding is the test protocol's form of a publication.
func LineEncoding(p *pubsub.Publication) pubsub.Frame {
	var s string
	switch p.Kind {
	case pubsub.Message:
		s = fmt.Sprintf("message %s %d %s %s", p.Topic, p.Offset, p.Epoch, p.Data)
	default:
		s = fmt.Sprintf("%v %s %s", p.Kind, p.Topic, p.Client.ID)
	}
	return ws.NewPreparedMessage(ws.OpText, []byte(s))
}

// LineHandler serves the test protocol.
type LineHandler struct {
	n   *pubsub.Node
	enc *pubsub.Encoding
}

func (h *LineHandler) OnOpen(c *ws.Conn) {
	id := "c" + strconv.FormatInt(clientIDs.Add(1), 10)
	c.SetState(&WSClient{c: c, info: pubsub.ClientInfo{ID: id, User: "u-" + id}, enc: h.enc})
	c.WriteMessage(ws.OpText, []byte("hello "+id))
}

func (h *LineHandler) OnMessage(c *ws.Conn, _ ws.Opcode, msg []byte) {
	cl := c.State().(*WSClient)
	f := strings.Fields(string(msg))
	reply := func(s string) { c.WriteMessage(ws.OpText, []byte(s)) }
	switch {
	case len(f) >= 2 && f[0] == "sub":
		var o pubsub.SubscribeOptions
		for i := 2; i < len(f); i++ {
			switch f[i] {
			case "since":
				off, _ := strconv.ParseUint(f[i+1], 10, 64)
				o.Since = &pubsub.Position{Offset: off, Epoch: f[i+2]}
				i += 2
			case "history":
				o.History, _ = strconv.Atoi(f[i+1])
				i++
			case "presence":
				o.Presence = true
			}
		}
		topic := f[1]
		h.n.Subscribe(cl, topic, o, func(r pubsub.SubscribeResult, err error) {
			if err != nil {
				reply("err " + err.Error())
				return
			}
			s := fmt.Sprintf("ok %s %d %s %v %d", topic, r.Position.Offset, r.Position.Epoch, r.Recovered, r.History)
			for _, p := range r.Presence {
				s += " " + p.ID
			}
			reply(s)
		})
	case len(f) == 2 && f[0] == "unsub":
		if err := h.n.Unsubscribe(cl, f[1]); err != nil {
			reply("err " + err.Error())
		}
	case len(f) == 3 && f[0] == "pub":
		h.n.PublishFrom(cl, f[1], []byte(f[2]), func(p pubsub.Position, err error) {
			if err != nil {
				reply("err " + err.Error())
				return
			}
			reply(fmt.Sprintf("pubok %d", p.Offset))
		})
	default:
		reply("err bad request")
	}
}

func (h *LineHandler) OnClose(c *ws.Conn, _ int, _ error) {
	if cl, ok := c.State().(*WSClient); ok {
		h.n.Leave(cl)
	}
}

// Instance is a Node and its WebSocket server.
type Instance struct {
	Node   *pubsub.Node
	Server *server.Server
	URL    string // ws://host:port/
}

// Stop drains the server (clients get the goodbye, 1001) and closes the
// node.
func (in *Instance) Stop(ctx context.Context) error {
	err := in.Server.Shutdown(ctx)
	in.Node.Close()
	return err
}

// StartNode runs a pubsub.Node on b behind a WebSocket server of two loops.
func StartNode(t testing.TB, e Engine, b pubsub.Broker, cfg pubsub.Config, opts ...server.Option) (*pubsub.Node, string) {
	in := Start(t, e, b, cfg, opts...)
	return in.Node, in.URL
}

// Start is StartNode's Instance.
func Start(t testing.TB, e Engine, b pubsub.Broker, cfg pubsub.Config, opts ...server.Option) *Instance {
	t.Helper()
	n, err := pubsub.NewNode(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &LineHandler{n: n}
	h.enc = n.Encoding(LineEncoding)
	s, err := server.New(http1.NewServer(ws.NewUpgrader(h, ws.Config{}), http1.Config{}), append([]server.Option{e.Opt, server.WithLoops(2)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		s.Wait()
		n.Close()
	})
	return &Instance{Node: n, Server: s, URL: "ws://" + ln.Addr().String() + "/"}
}

// Peer is a test client.
type Peer struct {
	t  testing.TB
	C  *ws.Client
	ID string
}

func Dial(t testing.TB, url string) *Peer {
	t.Helper()
	c, err := ws.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.NetConn().SetDeadline(time.Now().Add(30 * time.Second)) // guards against a hung test only
	t.Cleanup(func() { c.NetConn().Close() })
	p := &Peer{t: t, C: c}
	hello := p.Read()
	p.ID = strings.TrimPrefix(hello, "hello ")
	return p
}

func (p *Peer) Send(s string) {
	p.t.Helper()
	if err := p.C.WriteMessage(ws.OpText, []byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *Peer) Read() string {
	p.t.Helper()
	_, m, err := p.C.ReadMessage()
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return string(m)
}

// Expect reads one message and checks its prefix.
func (p *Peer) Expect(prefix string) string {
	p.t.Helper()
	m := p.Read()
	if !strings.HasPrefix(m, prefix) {
		p.t.Fatalf("got %q, want %q...", m, prefix)
	}
	return m
}

// Subscribe subscribes and returns the "ok" line's fields.
func (p *Peer) Subscribe(req string) []string {
	p.t.Helper()
	p.Send(req)
	return strings.Fields(p.Expect("ok "))
}

// Publish publishes through the node (not a client) and waits for it.
func Publish(t testing.TB, n *pubsub.Node, topic, data string) pubsub.Position {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pos, err := n.Publish(ctx, topic, []byte(data), pubsub.ClientInfo{ID: "server"})
	if err != nil {
		t.Fatal(err)
	}
	return pos
}
