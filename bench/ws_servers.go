package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lesismal/nbio/nbhttp"
	nbws "github.com/lesismal/nbio/nbhttp/websocket"
	"github.com/lxzan/gws"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/ws"
)

// wsServers maps an engine name to a constructor of its WebSocket echo
// server (-serve ENGINE -proto ws): every text and binary message is sent
// back as one message of the same type, on any path, with each library's
// defaults (no compression, no origin check for a request without Origin).
// They share echoServer's lifecycle: Serve blocks until Stop.
var wsServers = map[string]func() echoServer{
	// shoal: package ws on http1's server, on the loops.
	"shoal": func() echoServer {
		return &shoalServer{handler: http1.NewServer(ws.NewUpgrader(shoalWSEcho{}, ws.Config{}), http1.Config{})}
	},
	// gorilla, coder, gws: net/http's server, the upgrade in its handler,
	// then a goroutine per connection reading messages.
	"gorilla": func() echoServer { return &httpWSServer{handler: http.HandlerFunc(gorillaEcho)} },
	"coder":   func() echoServer { return &httpWSServer{handler: http.HandlerFunc(coderEcho)} },
	"gws":     func() echoServer { return &httpWSServer{handler: newGWSEcho()} },
	// nbio: nbhttp's engine and its websocket package, as shipped (its
	// message handlers on nbhttp's goroutine pool).
	"nbio": func() echoServer { return &nbioServer{build: nbioWSEngine} },
}

// wsModules maps the WebSocket engines other than shoal to their modules,
// whose pinned versions the report names.
var wsModules = map[string]string{
	"gorilla": "github.com/gorilla/websocket",
	"coder":   "github.com/coder/websocket",
	"gws":     "github.com/lxzan/gws",
	"nbio":    "github.com/lesismal/nbio",
}

// shoalWSEcho sends every message back, on the loop; msg is the frame's
// payload in the read buffer (no copy for a message of one frame) and
// WriteMessage copies it into the output.
type shoalWSEcho struct{}

func (shoalWSEcho) OnOpen(*ws.Conn)                                {}
func (shoalWSEcho) OnMessage(c *ws.Conn, op ws.Opcode, msg []byte) { c.WriteMessage(op, msg) }
func (shoalWSEcho) OnClose(*ws.Conn, int, error)                   {}

// httpWSServer is net/http's server with handler, for the WebSocket
// libraries that upgrade in an http.Handler.
type httpWSServer struct {
	handler http.Handler
	tls     *tls.Config // wss: net/http's ServeTLS
	stopper
}

func (s *httpWSServer) Serve(addr string, _ int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.handler, TLSConfig: s.tls}
	// Close stops the listener; the upgraded (hijacked) connections are
	// the handlers' and close with their peers or with the process.
	s.set(func() { srv.Close() })
	serve := srv.Serve
	if s.tls != nil {
		srv.ErrorLog = log.New(io.Discard, "", 0) // a load client stopped mid-handshake at a run's end
		serve = func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }
	}
	if err := serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// gorillaUpgrader has the default buffers: it reuses the 4 KiB ones net/http
// allocated for the request.
var gorillaUpgrader = gorilla.Upgrader{}

// gorillaEcho is gorilla/websocket's echo example: ReadMessage and
// WriteMessage (one frame, written from its buffer) on the handler's
// goroutine, which stays the connection's reader.
func gorillaEcho(w http.ResponseWriter, r *http.Request) {
	c, err := gorillaUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		op, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, msg); err != nil {
			return
		}
	}
}

// coderEcho is coder/websocket's Read and Write (one frame) on the
// handler's goroutine.
func coderEcho(w http.ResponseWriter, r *http.Request) {
	c, err := coder.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// gwsEcho is lxzan/gws's event handler: OnMessage writes the message back
// and returns its pooled buffer.
type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.WriteMessage(m.Opcode, m.Bytes())
}

// newGWSEcho returns the http.Handler of gws's README: upgrade, then the
// connection's ReadLoop on a goroutine of its own, default options.
func newGWSEcho() http.Handler {
	up := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
}

// nbioWSEngine is nbhttp's engine with an upgrading handler; OnMessage
// writes every message back. Payloads are released after OnMessage, as
// nbio's examples set it.
func nbioWSEngine(addr string, loops int) nbioEngine {
	return nbhttp.NewEngine(nbioWSConfig(addr, loops))
}

// nbioWSConfig is nbioWSEngine's configuration.
func nbioWSConfig(addr string, loops int) nbhttp.Config {
	up := nbws.NewUpgrader()
	up.OnMessage(func(c *nbws.Conn, mt nbws.MessageType, data []byte) { c.WriteMessage(mt, data) })
	return nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{addr},
		NPoller: loops,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			up.Upgrade(w, r, nil)
		}),
		ReleaseWebsocketPayload: true,
		MaxLoad:                 1 << 20, // its default refuses connections beyond 10,000
	}
}
