package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/lesismal/nbio/nbhttp"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/internal/devcert"
	"github.com/shoalnet/shoal/ws"
)

// The TLS scenario: full handshakes, HTTPS keep-alive requests and idle
// TLS connections, against shoal (http1 on the loops with server.WithTLS)
// net/http with crypto/tls (a goroutine per connection), and nbio's
// nbhttp with its fork of crypto/tls. shoal and net/http use crypto/tls
// of the same Go, the same certificate (ECDSA P-256) and its defaults
// (TLS 1.3, X25519MLKEM768); nbio's fork, older, has no post-quantum key exchange.

// httpsServers are the HTTPS hello servers (-serve ENGINE -proto https).
var httpsServers = map[string]func() echoServer{
	"shoal": func() echoServer {
		return &shoalServer{handler: http1.NewServer(http1.HandlerFunc(shoalHello), http1.Config{}), tls: benchTLS()}
	},
	"nethttp": func() echoServer { return &nethttpHello{tls: benchTLS()} },
	"nbio":    func() echoServer { return &nbioServer{build: nbioHTTPSEngine} },
}

// wssServers are the WebSocket echo servers over TLS (-proto wss).
var wssServers = map[string]func() echoServer{
	"shoal": func() echoServer {
		return &shoalServer{handler: http1.NewServer(ws.NewUpgrader(shoalWSEcho{}, ws.Config{}), http1.Config{}), tls: benchTLS()}
	},
	"gorilla": func() echoServer { return &httpWSServer{handler: http.HandlerFunc(gorillaEcho), tls: benchTLS()} },
	"nbio":    func() echoServer { return &nbioServer{build: nbioWSSEngine} },
}

// nbioWSSEngine is nbioWSEngine over its fork of crypto/tls.
func nbioWSSEngine(addr string, loops int) nbioEngine {
	cfg := nbioWSConfig(addr, loops)
	cfg.Addrs, cfg.AddrsTLS, cfg.TLSConfig = nil, []string{addr}, nbioTLS()
	return nbhttp.NewEngine(cfg)
}

// wssEngines are the engines of the WebSocket echo over TLS.
var wssEngines = []string{"gorilla", "shoal", "nbio"}

// The WebSocket echo load over TLS: the ws scenario's first load.
const (
	wssConns = 1000
	wssSize  = 64
)

// tlsEngines are the engines of the TLS scenario, the baseline first.
var tlsEngines = []string{"nethttp", "shoal", "nbio"}

// The certificate the orchestrator makes and its servers load.
const (
	tlsCertEnv = "SHOAL_BENCH_TLS_CERT"
	tlsKeyEnv  = "SHOAL_BENCH_TLS_KEY"
)

// benchTLS is a server's TLS configuration, from the files the
// orchestrator named.
func benchTLS() *tls.Config {
	cert, err := tls.LoadX509KeyPair(os.Getenv(tlsCertEnv), os.Getenv(tlsKeyEnv))
	if err != nil {
		log.Fatalf("https server: %v (the orchestrator sets %s and %s)", err, tlsCertEnv, tlsKeyEnv)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
}

// tlsClientCA makes the certificate, writes it where the servers find it
// and returns the pool a client verifies it with.
func tlsClientCA() (*x509.CertPool, error) {
	cert, ca, err := devcert.Local()
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := devcert.PEM(cert)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "shoal-bench-tls")
	if err != nil {
		return nil, err
	}
	cf, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cf, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(kf, keyPEM, 0o600); err != nil {
		return nil, err
	}
	os.Setenv(tlsCertEnv, cf)
	os.Setenv(tlsKeyEnv, kf)
	return ca.Pool(), nil
}

// Loads of the scenario.
const (
	tlsHandshakers = 8   // clients making handshakes one after another
	tlsConns       = 100 // keep-alive connections of the HTTPS load
)

type tlsScenario struct{}

func (tlsScenario) name() string { return "tls" }

func (tlsScenario) plan(o options) {
	n := o.runs * len(tlsEngines)
	prog.plan(2*n, o.warmup+o.duration+time.Second)
	prog.plan(n, idleEstimate(o.idleConns))
	prog.plan(o.runs*len(wssEngines), o.warmup+o.duration+2*time.Second)
}

// tlsRun is one run of a load: how much was done and at what server CPU.
type tlsRun struct {
	ok     bool
	perSec float64
	cpuSec float64
	perCPU float64
	rssMiB float64
	errors int64
}

func (r tlsRun) status() (bool, int64) { return r.ok, r.errors }

// tlsResults are the scenario's runs by engine.
type tlsResults struct {
	handshakes, requests map[string][]tlsRun
	idle                 map[string][]idleRun
	idleN                int
	wss                  map[string][]tlsRun
}

func (tlsScenario) run(o options, res *results) bool {
	pool, err := tlsClientCA()
	if err != nil {
		prog.line("tls: %v", err)
		return true
	}
	client := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	r := &tlsResults{handshakes: map[string][]tlsRun{}, requests: map[string][]tlsRun{}, idle: map[string][]idleRun{}, idleN: o.idleConns,
		wss: map[string][]tlsRun{}}
	res.tls = r
	start := func(e string) func() (*serverProc, error) {
		return func() (*serverProc, error) { return startServeFlags(e, o.loops, "-proto", "https") }
	}
	summary := func(what string) func(r *tlsRun) (*int64, string) {
		return func(r *tlsRun) (*int64, string) {
			return &r.errors, fmt.Sprintf("%s/s %.0f, %s per server CPU-s, %d errors", what, r.perSec, fmtCount(r.perCPU), r.errors)
		}
	}
	alternate(o, tlsEngines, fmt.Sprintf("tls handshakes %dc", tlsHandshakers), o.warmup+o.duration+time.Second, r.handshakes,
		func(e string) (tlsRun, error) {
			return tlsMeasure(start(e), o, func(addr string) tlsLoad { return handshakeLoad(addr, client) })
		},
		summary("handshakes"))
	alternate(o, tlsEngines, fmt.Sprintf("https %dc", tlsConns), o.warmup+o.duration+time.Second, r.requests,
		func(e string) (tlsRun, error) {
			return tlsMeasure(start(e), o, func(addr string) tlsLoad { return requestLoad(addr, client) })
		},
		summary("requests"))
	alternate(o, tlsEngines, fmt.Sprintf("tls idle %dc", o.idleConns), idleEstimate(o.idleConns), r.idle,
		func(e string) (idleRun, error) {
			return idleAgainst(start(e), o.idleConns, func(string) func(int, *net.TCPConn) error { return tlsIdleGet(client) })
		},
		func(r *idleRun) (*int64, string) {
			return &r.errors, fmt.Sprintf("%.2f KiB/conn over %.0f conns, %d errors", r.kibConn, r.conns, r.errors)
		})
	alternate(o, wssEngines, fmt.Sprintf("wss %dc %dB", wssConns, wssSize), o.warmup+o.duration+2*time.Second, r.wss,
		func(e string) (tlsRun, error) {
			f, err := measureLoad(func() (*serverProc, error) { return startServeFlags(e, o.loops, "-proto", "wss") },
				func(addr string, onWindow func(bool)) (loadResult, error) {
					return runWSLoad(loadConfig{addr: addr, conns: wssConns, size: wssSize, depth: 1, warmup: o.warmup, duration: o.duration, tls: client}, onWindow)
				})
			return tlsRun{ok: err == nil && f.perSec > 0, perSec: f.perSec, cpuSec: f.cpuSec, perCPU: f.perCPU, rssMiB: f.rssMiB, errors: f.errors}, err
		},
		summary("msgs"))
	return tlsFailed(r.handshakes) || tlsFailed(r.requests) || tlsFailed(r.idle) || tlsFailed(r.wss)
}

// tlsFailed says whether a run of shoal, net/http or gorilla failed or counted
// errors. nbio's errors are counted in its rows but fail nothing: its fork
// of crypto/tls failed a request now and then under this load (once in
// each of the two full runs here, "tls: internal error" in one), which is
// not this benchmark's to stop on.
func tlsFailed[R outcome](byEngine map[string][]R) bool {
	for _, e := range []string{"shoal", "nethttp", "gorilla"} {
		for _, r := range byEngine[e] {
			if ok, errs := r.status(); !ok || errs > 0 {
				return true
			}
		}
	}
	return false
}

// tlsLoad is a closed-loop load of workers; each op is one handshake or
// one request, and returns an error when it failed.
type tlsLoad struct {
	workers int
	worker  func(i int) (op func() error, done func(), err error)
}

// tlsMeasure runs load against a fresh server: warm-up, then the
// measured window, with the server's CPU over it.
func tlsMeasure(start func() (*serverProc, error), o options, loadFor func(addr string) tlsLoad) (tlsRun, error) {
	var ops, errs atomic.Int64
	var measuring atomic.Bool
	var firstErr atomic.Value
	var elapsed time.Duration
	w, err := withServer(start, func(p *serverProc, onWindow func(bool)) error {
		load := loadFor(p.addr)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range load.workers {
			op, done, err := load.worker(i)
			if err != nil {
				close(stop)
				wg.Wait()
				return err
			}
			wg.Go(func() {
				defer done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := op(); err != nil {
						if measuring.Load() {
							errs.Add(1)
						}
						firstErr.CompareAndSwap(nil, err)
						return
					}
					if measuring.Load() {
						ops.Add(1)
					}
				}
			})
		}
		time.Sleep(o.warmup)
		onWindow(true)
		measuring.Store(true)
		t0 := time.Now()
		time.Sleep(o.duration)
		measuring.Store(false)
		elapsed = time.Since(t0)
		onWindow(false)
		close(stop)
		wg.Wait()
		return nil
	})
	if err != nil {
		return tlsRun{}, err
	}
	if e, ok := firstErr.Load().(error); ok {
		prog.note("first error: %v", e)
	}
	n := float64(ops.Load())
	r := tlsRun{ok: n > 0, perSec: n / elapsed.Seconds(), cpuSec: w.cpuSec, rssMiB: float64(w.rss) / (1 << 20), errors: errs.Load()}
	if w.cpuSec > 0 {
		r.perCPU = n / w.cpuSec
	}
	return r, nil
}

// handshakeLoad: each worker makes full handshakes (no session cache),
// one after another, each on a new connection it then closes.
func handshakeLoad(addr string, client *tls.Config) tlsLoad {
	return tlsLoad{workers: tlsHandshakers, worker: func(i int) (func() error, func(), error) {
		k := 0
		op := func() error {
			k++
			d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: sourceIPs[(i+k)%len(sourceIPs)]}}
			c, err := tls.DialWithDialer(d, "tcp", addr, client)
			if err != nil {
				return err
			}
			return c.Close()
		}
		return op, func() {}, nil
	}}
}

// helloRequest is the request of the HTTPS load.
var helloRequest = []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")

// requestLoad: each worker holds a keep-alive TLS connection and makes
// one request after another, checking every response.
func requestLoad(addr string, client *tls.Config) tlsLoad {
	return tlsLoad{workers: tlsConns, worker: func(i int) (func() error, func(), error) {
		raw, err := dialOne(addr, i)
		if err != nil {
			return nil, nil, err
		}
		c := tls.Client(raw, client)
		c.SetDeadline(time.Now().Add(time.Minute))
		if err := c.Handshake(); err != nil {
			raw.Close()
			return nil, nil, err
		}
		br := bufio.NewReader(c)
		op := func() error {
			if _, err := c.Write(helloRequest); err != nil {
				return err
			}
			return readHTTPSHello(br)
		}
		return op, func() { c.Close() }, nil
	}}
}

// readHTTPSHello reads one response and checks that it is the hello.
func readHTTPSHello(br *bufio.Reader) error {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || !bytes.Equal(body, []byte("Hello, World!")) {
		return fmt.Errorf("https: %d %q", resp.StatusCode, body)
	}
	return nil
}

// tlsIdleGet: a handshake and one GET on the connection, which then
// stays open and idle.
func tlsIdleGet(client *tls.Config) func(int, *net.TCPConn) error {
	return func(_ int, raw *net.TCPConn) error {
		c := tls.Client(raw, client)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		defer raw.SetDeadline(time.Time{})
		if _, err := c.Write(helloRequest); err != nil {
			return err
		}
		return readHTTPSHello(bufio.NewReader(c))
	}
}

func (tlsScenario) section(b *strings.Builder, o options, res *results) {
	r := res.tls
	if r == nil {
		return
	}
	fmt.Fprintf(b, "\n## TLS\n\nshoal: http1 on the loops with server.WithTLS; nethttp: net/http's ServeTLS (crypto/tls on a goroutine per connection); nbio: nbhttp with its fork of crypto/tls (lesismal/llib). The same certificate (ECDSA P-256); shoal and nethttp share crypto/tls and its defaults (TLS 1.3 with X25519MLKEM768); nbio's fork, from before Go had post-quantum key exchange, negotiates a classical one. Warm-up %v, measured %v.\n", o.warmup, o.duration)
	tlsTable(b, fmt.Sprintf("full handshakes, %d clients one after another (new connection, no resumption)", tlsHandshakers), "",
		"handshakes", tlsEngines, "nethttp", r.handshakes)
	tlsTable(b, fmt.Sprintf("HTTPS hello, %d keep-alive connections, one request in flight each", tlsConns), "",
		"requests", tlsEngines, "nethttp", r.requests)
	if len(r.wss) > 0 {
		tlsTable(b, fmt.Sprintf("WebSocket echo over TLS, %d connections, %d B binary messages, one in flight each", wssConns, wssSize),
			"shoal: ws on http1 with server.WithTLS; gorilla: gorilla/websocket under net/http's ServeTLS; nbio: nbhttp's websocket over its fork.\n\n",
			"msgs", wssEngines, "gorilla", r.wss)
	}
	fmt.Fprintf(b, "\n### TLS: %d idle connections, after a handshake and one GET / each, then %v idle\n\n", r.idleN, idleSettle)
	idleTable(b, tlsEngines, r.idle)
	kib := spreads(tlsEngines, r.idle, func(x idleRun) float64 { return x.kibConn })
	fmt.Fprintf(b, "\nshoal ÷ nethttp in KiB per connection: %s.\n", ratio(kib["shoal"], kib["nethttp"]))
	b.WriteString(idleLegend)
}

// tlsTable writes one load's table: each engine's rate, server CPU, rate
// per server CPU-second and its ratio to baseline's, RSS and errors.
func tlsTable(b *strings.Builder, title, note, what string, engines []string, baseline string, runs map[string][]tlsRun) {
	fmt.Fprintf(b, "\n### TLS: %s\n\n%s| engine | %s/s | server CPU (s) | %s per server CPU-s | vs %s | server RSS (MiB) | errors |\n|---|---:|---:|---:|---:|---:|---:|\n",
		title, note, what, what, baseline)
	per := spreads(engines, runs, func(x tlsRun) float64 { return x.perCPU })
	for _, e := range engines {
		row := rowOf(runs[e])
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %d |\n", e, row.cell(func(x tlsRun) float64 { return x.perSec }, fmtCount),
			row.cell(func(x tlsRun) float64 { return x.cpuSec }, fmtFloat2), against(per, e, fmtCount, ratio, baseline),
			row.cell(func(x tlsRun) float64 { return x.rssMiB }, fmtFloat1), row.errs)
	}
}
