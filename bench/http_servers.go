package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/fasthttp"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/server"
)

// httpServers maps an engine name to a constructor of its HTTP "hello"
// server (-serve ENGINE -proto http). They share echoServer's lifecycle:
// Serve blocks until Stop. nethttp is the baseline of the scenario.
var httpServers = map[string]func() echoServer{
	"nethttp": func() echoServer { return &nethttpHello{} },
	"shoal": func() echoServer {
		return &shoalServer{handler: http1.NewServer(http1.HandlerFunc(shoalHello), http1.Config{})}
	},
	"shoal-nethttp": func() echoServer {
		return &shoalServer{handler: http1.NewServer(http1.Adapt(http.HandlerFunc(helloHandler), http1.AdapterConfig{}), http1.Config{})}
	},
	"shoal-toy": func() echoServer { return &shoalServer{handler: shoalHelloHandler{}} },
	"stdnet":    func() echoServer { return &stdnetServer{conn: stdnetHelloConn} },
	"gnet":      func() echoServer { return &gnetServer{traffic: gnetHelloTraffic} },
	"nbio":      func() echoServer { return &nbioServer{build: nbioHTTPEngine} },
	"netpoll":   func() echoServer { return &netpollServer{onRequest: netpollHelloOnRequest} },
	"fasthttp":  func() echoServer { return &fasthttpHello{} },
}

// serverFor returns the constructor of engine's server for proto (echo,
// http or ws).
func serverFor(proto, engine string) (func() echoServer, error) {
	byName := servers
	switch proto {
	case "echo":
	case "http":
		byName = httpServers
	case "ws":
		byName = wsServers
	case "pubsub":
		byName = pubsubServers
	case "https":
		byName = httpsServers
	case "wss":
		byName = wssServers
	default:
		return nil, fmt.Errorf("unknown protocol %q (have echo, http, ws, pubsub, https, wss)", proto)
	}
	newServer, ok := byName[engine]
	if !ok {
		return nil, fmt.Errorf("engine %q has no %s server (have %s)", engine, proto, strings.Join(sortedNames(byName), ","))
	}
	return newServer, nil
}

// sortedNames returns the engine names of m in order.
func sortedNames(m map[string]func() echoServer) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// answerPool holds the buffers the raw event-loop servers build their
// answers in; their Write copies.
var answerPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// respondPooled runs respond on in with a pooled buffer; release(p, out)
// returns it once out has been written.
func respondPooled(in []byte) (p *[]byte, out []byte, used int, closeConn bool) {
	p = answerPool.Get().(*[]byte)
	out, used, closeConn = respond((*p)[:0], in)
	return p, out, used, closeConn
}

func release(p *[]byte, out []byte) {
	if cap(out) <= 64<<10 {
		*p = out[:0]
		answerPool.Put(p)
	}
}

// shoalHello is the native handler of shoal's HTTP server (package
// http1), on the loop.
func shoalHello(w *http1.ResponseWriter, _ *http1.Request) {
	w.Header("Content-Type", "text/plain")
	w.WriteString(helloBody)
}

// helloHandler is the http.Handler of net/http, nbhttp and shoal's
// net/http adapter.
func helloHandler(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Content-Length"] = helloLength
	io.WriteString(w, helloBody)
}

// Header values shared by every answer; neither server modifies them.
var (
	textPlain   = []string{"text/plain"}
	helloLength = []string{"13"}
)

// nethttp: net/http, its Server with the header limit of the raw servers.

type nethttpHello struct {
	tls *tls.Config // https: crypto/tls on its goroutine per connection
	stopper
}

func (s *nethttpHello) Serve(addr string, _ int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(helloHandler), MaxHeaderBytes: httpMaxHeader, TLSConfig: s.tls}
	s.set(func() { srv.Close() })
	serve := srv.Serve
	if s.tls != nil {
		// A client of the handshake load stopped mid-handshake by the end
		// of a run is logged by net/http: not the report's business.
		srv.ErrorLog = log.New(io.Discard, "", 0)
		serve = func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }
	}
	if err := serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// fasthttp: its Server with a RequestHandler, as shipped (a goroutine per
// connection from its worker pool); its read buffer bounds the request
// head like the header limit of the others (431 above it).

type fasthttpHello struct{ stopper }

func (s *fasthttpHello) Serve(addr string, _ int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{
		Handler:               fasthttpHelloHandler,
		Name:                  "",
		NoDefaultServerHeader: true,
		ReadBufferSize:        httpMaxHeader,
	}
	s.set(func() { srv.Shutdown() })
	return srv.Serve(ln)
}

func fasthttpHelloHandler(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(helloBody)
}

// shoal: respond in OnData on the bytes buffered so far; an unfinished
// request stays buffered for the next OnData.

type shoalHelloHandler struct{}

func (shoalHelloHandler) OnOpen(server.Conn)         {}
func (shoalHelloHandler) OnClose(server.Conn, error) {}

func (shoalHelloHandler) OnData(c server.Conn) {
	in, _ := c.Peek(0)
	p, out, used, closeConn := respondPooled(in)
	if len(out) > 0 {
		c.Write(out)
	}
	release(p, out)
	if used > 0 {
		c.Discard(used)
	}
	if closeConn {
		c.Close() // flushes the answer first
	}
}

// stdnet: a goroutine per connection reading into a buffer of
// httpMaxHeader bytes, answering what it holds with one write.

func stdnetHelloConn(c *net.TCPConn) {
	defer c.Close()
	in := make([]byte, 0, httpMaxHeader)
	out := make([]byte, 0, 4<<10)
	for {
		n, err := c.Read(in[len(in):cap(in)])
		in = in[:len(in)+n]
		if n > 0 {
			var used int
			var closeConn bool
			out, used, closeConn = respond(out[:0], in)
			if len(out) > 0 {
				if _, err := c.Write(out); err != nil {
					return
				}
			}
			if closeConn {
				lingerClose(c)
				return
			}
			// What is left is an unfinished request, shorter than
			// httpMaxHeader (respond refuses longer ones).
			in = in[:copy(in, in[used:])]
		}
		if err != nil {
			return
		}
	}
}

// lingerClose half-closes c and reads until the peer closes too (at most a
// second), so that input still in flight does not turn the close into a
// reset that could destroy the answer before the peer has read it.
func lingerClose(c *net.TCPConn) {
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, c)
}

// gnet: respond in OnTraffic, like shoal; Close after a refusal.

func gnetHelloTraffic(c gnet.Conn) gnet.Action {
	in, _ := c.Peek(-1)
	p, out, used, closeConn := respondPooled(in)
	if len(out) > 0 {
		c.Write(out)
	}
	release(p, out)
	if used > 0 {
		c.Discard(used)
	}
	if closeConn {
		return gnet.Close
	}
	return gnet.None
}

// netpoll: respond in OnRequest on what its reader holds.

func netpollHelloOnRequest(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	in, err := r.Peek(r.Len())
	if err != nil {
		return err
	}
	p, out, used, closeConn := respondPooled(in)
	if len(out) > 0 {
		buf, err := w.Malloc(len(out))
		if err != nil {
			release(p, out)
			return err
		}
		copy(buf, out)
	}
	release(p, out)
	if used > 0 {
		if err := r.Skip(used); err != nil {
			return err
		}
	}
	if err := r.Release(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if closeConn {
		return c.Close()
	}
	return nil
}
