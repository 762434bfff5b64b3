package pubsub

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
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/ws"
)

// The tests speak a line protocol over WebSocket to a Node behind a real
// server:
//
//	client: "sub TOPIC [since OFFSET EPOCH] [history N] [presence]"
//	        "unsub TOPIC", "pub TOPIC DATA"
//	server: "ok TOPIC OFFSET EPOCH RECOVERED HISTORY [PRESENT-IDS...]"
//	        "err WHAT", "pubok OFFSET"
//	        "message TOPIC OFFSET EPOCH DATA", "join TOPIC ID", "leave TOPIC ID"
//
// A slow or lost subscriber is closed with 3008 or 3010.

type engine struct {
	name string
	opt  server.Option
}

func testEngines() []engine {
	list := []engine{{"portable", server.WithEngine(server.EnginePortable)}}
	if runtime.GOOS != "windows" {
		list = append(list, engine{"loops", server.WithEngine(server.EngineLoops)})
	}
	return list
}

var clientIDs atomic.Int64

// wsClient is a Client on a WebSocket connection.
type wsClient struct {
	c    *ws.Conn
	info ClientInfo
	enc  *Encoding
}

func (w *wsClient) Loop() *loop.Loop { return w.c.NetConn().Loop() }
func (w *wsClient) Info() ClientInfo { return w.info }
func (w *wsClient) Queued() int      { return w.c.NetConn().OutboundBuffered() }
func (w *wsClient) Deliver(p *Publication) {
	w.c.WritePrepared(p.Frame(w.enc).(*ws.PreparedMessage))
}
func (w *wsClient) Disconnect(err error) {
	code := 3010
	if errors.Is(err, ErrSlow) {
		code = 3008
	}
	w.c.Close(code, err.Error())
}

// lineEncoding is the test protocol's form of a publication.
func lineEncoding(p *Publication) Frame {
	var s string
	switch p.Kind {
	case Message:
		s = fmt.Sprintf("message %s %d %s %s", p.Topic, p.Offset, p.Epoch, p.Data)
	default:
		s = fmt.Sprintf("%v %s %s", p.Kind, p.Topic, p.Client.ID)
	}
	return ws.NewPreparedMessage(ws.OpText, []byte(s))
}

// lineHandler serves the test protocol.
type lineHandler struct {
	n   *Node
	enc *Encoding
}

func (h *lineHandler) OnOpen(c *ws.Conn) {
	id := "c" + strconv.FormatInt(clientIDs.Add(1), 10)
	c.SetState(&wsClient{c: c, info: ClientInfo{ID: id, User: "u-" + id}, enc: h.enc})
	c.WriteMessage(ws.OpText, []byte("hello "+id))
}

func (h *lineHandler) OnMessage(c *ws.Conn, _ ws.Opcode, msg []byte) {
	cl := c.State().(*wsClient)
	f := strings.Fields(string(msg))
	reply := func(s string) { c.WriteMessage(ws.OpText, []byte(s)) }
	switch {
	case len(f) >= 2 && f[0] == "sub":
		var o SubscribeOptions
		for i := 2; i < len(f); i++ {
			switch f[i] {
			case "since":
				off, _ := strconv.ParseUint(f[i+1], 10, 64)
				o.Since = &Position{off, f[i+2]}
				i += 2
			case "history":
				o.History, _ = strconv.Atoi(f[i+1])
				i++
			case "presence":
				o.Presence = true
			}
		}
		topic := f[1]
		h.n.Subscribe(cl, topic, o, func(r SubscribeResult, err error) {
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
		h.n.PublishFrom(cl, f[1], []byte(f[2]), func(p Position, err error) {
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

func (h *lineHandler) OnClose(c *ws.Conn, _ int, _ error) {
	if cl, ok := c.State().(*wsClient); ok {
		h.n.Leave(cl)
	}
}

// startNode runs a Node on b behind a WebSocket server of two loops.
func startNode(t testing.TB, e engine, b Broker, cfg Config, opts ...server.Option) (*Node, string) {
	t.Helper()
	n, err := NewNode(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &lineHandler{n: n}
	h.enc = n.Encoding(lineEncoding)
	s, err := server.New(http1.NewServer(ws.NewUpgrader(h, ws.Config{}), http1.Config{}), append([]server.Option{e.opt, server.WithLoops(2)}, opts...)...)
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
	return n, "ws://" + ln.Addr().String() + "/"
}

// peer is a test client.
type peer struct {
	t  testing.TB
	c  *ws.Client
	id string
}

func dial(t testing.TB, url string) *peer {
	t.Helper()
	c, err := ws.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.NetConn().SetDeadline(time.Now().Add(30 * time.Second)) // guards against a hung test only
	t.Cleanup(func() { c.NetConn().Close() })
	p := &peer{t: t, c: c}
	hello := p.read()
	p.id = strings.TrimPrefix(hello, "hello ")
	return p
}

func (p *peer) send(s string) {
	p.t.Helper()
	if err := p.c.WriteMessage(ws.OpText, []byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) read() string {
	p.t.Helper()
	_, m, err := p.c.ReadMessage()
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return string(m)
}

// expect reads one message and checks its prefix.
func (p *peer) expect(prefix string) string {
	p.t.Helper()
	m := p.read()
	if !strings.HasPrefix(m, prefix) {
		p.t.Fatalf("got %q, want %q...", m, prefix)
	}
	return m
}

// subscribe subscribes and returns the "ok" line's fields.
func (p *peer) subscribe(req string) []string {
	p.t.Helper()
	p.send(req)
	return strings.Fields(p.expect("ok "))
}

// publish publishes through the node (not a client) and waits for it.
func publish(t testing.TB, n *Node, topic, data string) Position {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pos, err := n.Publish(ctx, topic, []byte(data), ClientInfo{ID: "server"})
	if err != nil {
		t.Fatal(err)
	}
	return pos
}
