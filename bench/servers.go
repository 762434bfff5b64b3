package main

import (
	"context"
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
	"shoal": func() echoServer { return &shoalEcho{} },
	// shoal-metrics: shoal with loop statistics on, the admin endpoints
	// running and /metrics scraped every second, to price observability.
	"shoal-metrics": func() echoServer { return &shoalEcho{metrics: true} },
	"stdnet":        func() echoServer { return &stdnetEcho{} },
	"gnet":          func() echoServer { return &gnetEcho{} },
	"nbio":          func() echoServer { return &nbioServer{build: nbioEchoEngine} },
	// netpoll is optional: not in the default -engines list.
	"netpoll": func() echoServer { return &netpollEcho{} },
}

func engineNames() string {
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// shoal: the engine of this repository.

type shoalEcho struct {
	metrics bool
	mu      sync.Mutex
	s       *server.Server
}

type shoalHandler struct{}

func (shoalHandler) OnOpen(server.Conn) {}

func (shoalHandler) OnData(c server.Conn) {
	b, _ := c.Next(0)
	c.Write(b)
}

func (shoalHandler) OnClose(server.Conn, error) {}

func (e *shoalEcho) Serve(addr string, loops int) error {
	s, err := server.New(shoalHandler{}, server.WithLoops(loops), server.WithLoopStats(e.metrics))
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.s = s
	e.mu.Unlock()
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

func (e *shoalEcho) Stop() {
	e.mu.Lock()
	s := e.s
	e.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

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

// stdnet: the standard library, one goroutine per connection, a plain
// read/write loop with a 16 KiB buffer.

type stdnetEcho struct {
	mu sync.Mutex
	ln net.Listener
}

func (e *stdnetEcho) Serve(addr string, _ int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.ln = ln
	e.mu.Unlock()
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
		go stdnetConn(c)
	}
}

func stdnetConn(c net.Conn) {
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

func (e *stdnetEcho) Stop() {
	e.mu.Lock()
	ln := e.ln
	e.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// gnet: gnet v2, one event loop per core (multicore), SO_REUSEPORT.

type gnetEcho struct {
	gnet.BuiltinEventEngine
	mu     sync.Mutex
	eng    gnet.Engine
	booted bool
}

func (e *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	e.mu.Lock()
	e.eng, e.booted = eng, true
	e.mu.Unlock()
	return gnet.None
}

func (e *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return gnet.None
}

func (e *gnetEcho) Serve(addr string, loops int) error {
	return gnet.Run(e, "tcp://"+addr,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(loops),
		gnet.WithReusePort(true),
		gnet.WithLogger(gnetLogger{}),
	)
}

func (e *gnetEcho) Stop() {
	e.mu.Lock()
	eng, booted := e.eng, e.booted
	e.mu.Unlock()
	if !booted {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := eng.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gnet stop:", err)
	}
}

// netpoll: cloudwego/netpoll; -loops sets its poller count (its own
// default is GOMAXPROCS/20+1). Its handlers run on a goroutine pool.

type netpollEcho struct {
	mu sync.Mutex
	el netpoll.EventLoop
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

func (e *netpollEcho) Serve(addr string, loops int) error {
	if err := netpoll.SetNumLoops(loops); err != nil {
		return err
	}
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return err
	}
	el, err := netpoll.NewEventLoop(netpollOnRequest)
	if err != nil {
		ln.Close()
		return err
	}
	e.mu.Lock()
	e.el = el
	e.mu.Unlock()
	return el.Serve(ln)
}

func (e *netpollEcho) Stop() {
	e.mu.Lock()
	el := e.el
	e.mu.Unlock()
	if el == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	el.Shutdown(ctx)
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
