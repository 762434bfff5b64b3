package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/panjf2000/gnet/v2"

	"github.com/shoalnet/shoal/admin"
	"github.com/shoalnet/shoal/server"
)

// echoServer is one engine's echo server: every byte read is written back,
// unchanged and in order. Each engine runs in a process of its own.
type echoServer interface {
	// Serve listens on addr and echoes until Stop; it blocks.
	Serve(addr string, loops int) error
	// Stop makes Serve return. It may be called from another goroutine.
	Stop()
}

// servers maps an engine name (the -engines and -serve flag values) to a
// constructor of its echo server.
var servers = map[string]func() echoServer{
	"shoal": func() echoServer { return &shoalServer{handler: shoalHandler{}} },
	// shoal-metrics: shoal with loop statistics on, the admin endpoints
	// running and /metrics scraped every second, to price observability.
	"shoal-metrics": func() echoServer { return &shoalServer{handler: shoalHandler{}, metrics: true} },
	// shoal-budget: shoal with a memory budget (1 GiB, never reached), to
	// price its accounting on every read and write.
	"shoal-budget": func() echoServer { return &shoalServer{handler: shoalHandler{}, budget: 1 << 30} },
	"stdnet":       func() echoServer { return &stdnetServer{conn: stdnetConn} },
	"gnet":         func() echoServer { return &gnetServer{traffic: gnetEchoTraffic} },
	"nbio":         func() echoServer { return &nbioServer{build: nbioEchoEngine} },
	// netpoll is optional: not in the default -engines list.
	"netpoll": func() echoServer { return &netpollServer{onRequest: netpollOnRequest} },
}

// engineNames lists the engines -engines knows: those with an echo server
// and those with an HTTP server only.
func engineNames() string {
	names := []string{cEngine, baselineEngine}
	for n := range servers {
		names = append(names, n)
	}
	for n := range httpServers {
		if !hasEchoServer(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// hasEchoServer reports whether engine has an echo server, for the echo,
// open, idle and connect scenarios; an engine with an HTTP server only
// (fasthttp) takes part in the http scenario alone.
func hasEchoServer(engine string) bool {
	_, ok := servers[engine]
	return ok || engine == cEngine || engine == baselineEngine
}

// hasHTTPServer reports whether engine has an HTTP server.
func hasHTTPServer(engine string) bool {
	_, ok := httpServers[engine]
	return ok
}

// The servers below run an engine with the handler of either protocol: the
// echo handlers are in this file, the HTTP ones in http_servers.go (nbio's
// server is in nbio.go).

// stopper holds how to stop a running server: Serve sets it once the
// server is up, Stop calls it. Embedded in a server, it is that server's
// Stop. It is safe for concurrent use.
type stopper struct {
	mu   sync.Mutex
	stop func() // guarded by mu; nil until set
}

func (s *stopper) set(stop func()) {
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
}

// Stop calls the function set, if any.
func (s *stopper) Stop() {
	s.mu.Lock()
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// shoal: the engine of this repository.

type shoalServer struct {
	handler server.Handler
	metrics bool
	budget  int64       // server.WithMemoryBudget; 0: none
	tls     *tls.Config // server.WithTLS; nil: none
	stopper
}

func (e *shoalServer) Serve(addr string, loops int) error {
	s, err := server.New(e.handler, server.WithLoops(loops), server.WithLoopStats(e.metrics), server.WithMemoryBudget(e.budget),
		server.WithTLS(e.tls))
	if err != nil {
		return err
	}
	e.set(func() { s.Close() })
	if e.metrics {
		adm, err := admin.Start("127.0.0.1:0", s)
		if err != nil {
			return err
		}
		defer adm.Shutdown(context.Background())
		stop := make(chan struct{})
		defer close(stop)
		go scrapeEverySecond("http://"+adm.Addr().String()+"/metrics", stop)
	}
	err = s.ListenAndServe("tcp", addr)
	if errors.Is(err, server.ErrServerClosed) {
		return nil
	}
	return err
}

// shoalHandler echoes in OnData.
type shoalHandler struct{}

func (shoalHandler) OnOpen(server.Conn) {}

func (shoalHandler) OnData(c server.Conn) {
	b, _ := c.Next(0)
	c.Write(b)
}

func (shoalHandler) OnClose(server.Conn, error) {}

// scrapeEverySecond fetches url every second until stop is closed, as a
// (busy) Prometheus server would.
func scrapeEverySecond(url string, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if resp, err := http.Get(url); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
}

// stdnet: the standard library, one goroutine per connection running conn.

type stdnetServer struct {
	conn func(*net.TCPConn) // serves one connection and closes it
	stopper
}

func (e *stdnetServer) Serve(addr string, _ int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	e.set(func() { ln.Close() })
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and the like: back off and keep serving.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go e.conn(c.(*net.TCPConn))
	}
}

// stdnetConn echoes with a plain read/write loop and a 16 KiB buffer.
func stdnetConn(c *net.TCPConn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// gnet: gnet v2, one event loop per core (multicore), SO_REUSEPORT.

type gnetServer struct {
	gnet.BuiltinEventEngine
	traffic func(gnet.Conn) gnet.Action // its OnTraffic, on the event loop
	stopper
}

func (e *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	e.set(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := eng.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "gnet stop:", err)
		}
	})
	return gnet.None
}

func (e *gnetServer) OnTraffic(c gnet.Conn) gnet.Action { return e.traffic(c) }

func (e *gnetServer) Serve(addr string, loops int) error {
	return gnet.Run(e, "tcp://"+addr,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(loops),
		gnet.WithReusePort(true),
		gnet.WithLogger(gnetLogger{}),
	)
}

func gnetEchoTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

// netpoll: cloudwego/netpoll; -loops sets its poller count (its own
// default is GOMAXPROCS/20+1). Its handlers run on a goroutine pool.

type netpollServer struct {
	onRequest netpoll.OnRequest
	stopper
}

func (e *netpollServer) Serve(addr string, loops int) error {
	if err := netpoll.SetNumLoops(loops); err != nil {
		return err
	}
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return err
	}
	el, err := netpoll.NewEventLoop(e.onRequest)
	if err != nil {
		ln.Close()
		return err
	}
	e.set(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		el.Shutdown(ctx)
	})
	return el.Serve(ln)
}

func netpollOnRequest(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	b, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	out, err := w.Malloc(len(b))
	if err != nil {
		return err
	}
	copy(out, b)
	if err := r.Release(); err != nil {
		return err
	}
	return w.Flush()
}

// gnetLogger prints gnet's warnings and errors to stderr and drops the
// rest (its default logger announces every start at INFO level).
type gnetLogger struct{}

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (gnetLogger) Warnf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: warning: "+format+"\n", args...)
}
func (gnetLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: error: "+format+"\n", args...)
}
func (gnetLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: fatal: "+format+"\n", args...)
	os.Exit(1)
}
