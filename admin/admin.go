// Package admin is the operator's HTTP endpoint next to a Shoal server:
// /metrics (Prometheus), /healthz (liveness: the event loops are turning),
// /readyz (readiness: a state the application and the shutdown sequence
// flip) and /debug/pprof/*. It uses net/http, which is right for a few
// requests a second. It is off unless started.
//
//	adm, err := admin.Start("127.0.0.1:9090", srv)
//	...
//	adm.SetReady(false) // e.g. first step of a graceful shutdown
//	adm.Shutdown(ctx)
package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoalnet/shoal/metrics"
	"github.com/shoalnet/shoal/server"
)

// healthTimeout bounds how long /healthz waits for every loop to turn.
const healthTimeout = time.Second

// Admin serves the admin endpoints of one server. Its methods are safe for
// concurrent use.
type Admin struct {
	srv   *server.Server
	reg   *prometheus.Registry
	ready atomic.Bool
	http  *http.Server
	ln    net.Listener
	done  chan error
}

// New returns the admin endpoints of srv, ready (readiness true), not yet
// listening. Handler serves them; Start listens too.
func New(srv *server.Server) *Admin {
	a := &Admin{srv: srv, reg: metrics.NewRegistry(srv), done: make(chan error, 1)}
	a.ready.Store(true)
	return a
}

// Start listens on addr and serves the admin endpoints of srv in the
// background until Shutdown.
func Start(addr string, srv *server.Server) (*Admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	return Serve(ln, srv), nil
}

// Serve serves the admin endpoints of srv on ln (e.g. one handed over at a
// restart) in the background until Shutdown, which closes ln.
func Serve(ln net.Listener, srv *server.Server) *Admin {
	a := New(srv)
	a.ln = ln
	a.http = &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { a.done <- a.http.Serve(ln) }()
	return a
}

// Addr returns the address Start listens on.
func (a *Admin) Addr() net.Addr { return a.ln.Addr() }

// Registry returns the Prometheus registry behind /metrics, for the
// application's own metrics.
func (a *Admin) Registry() *prometheus.Registry { return a.reg }

// SetReady sets what /readyz answers.
func (a *Admin) SetReady(ready bool) { a.ready.Store(ready) }

// Ready reports what /readyz answers.
func (a *Admin) Ready() bool { return a.ready.Load() }

// Handler returns the admin endpoints.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func (a *Admin) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := a.srv.Health(ctx); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (a *Admin) readyz(w http.ResponseWriter, _ *http.Request) {
	if !a.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Shutdown stops the HTTP server started by Start, waiting for requests in
// flight until ctx ends.
func (a *Admin) Shutdown(ctx context.Context) error {
	if a.http == nil {
		return nil
	}
	err := a.http.Shutdown(ctx)
	if serr := <-a.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
