package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// idleScenario measures the server memory per idle connection: runIdle
// against every engine, -idle-conns connections; with http, the HTTP
// servers, each connection idle after one keep-alive request.
type idleScenario struct{ http bool }

func (s idleScenario) name() string {
	if s.http {
		return "http-idle"
	}
	return "idle"
}

// engines are the engines the scenario runs.
func (s idleScenario) engines(o options) []string {
	if s.http {
		return httpEngines(o.engines)
	}
	return o.echoEngines()
}

func (s idleScenario) plan(o options) {
	prog.plan(o.runs*len(s.engines(o)), idleEstimate(o.idleConns))
}

func (s idleScenario) run(o options, res *results) (failed bool) {
	res.idleN = o.idleConns
	byEngine := map[string][]idleRun{}
	if s.http {
		res.httpIdle = byEngine
		noteLeftOut(o, s.name(), "HTTP", hasHTTPServer)
	} else {
		res.idle = byEngine
		noteLeftOut(o, s.name(), "echo", hasEchoServer)
	}
	if lim := fileLimit(); lim < uint64(o.idleConns)+64 {
		prog.line("warning: RLIMIT_NOFILE is %d, too low for %d connections; raise it with ulimit -n", lim, o.idleConns)
	}
	return alternate(o, s.engines(o), fmt.Sprintf("%s %dc", s.name(), o.idleConns), idleEstimate(o.idleConns), byEngine,
		func(e string) (idleRun, error) { return idleOnce(o, e, s.http) },
		func(r *idleRun) (*int64, string) {
			return &r.errors, fmt.Sprintf("%.2f KiB/conn over %.0f conns, %d errors", r.kibConn, r.conns, r.errors)
		})
}

func (s idleScenario) section(b *strings.Builder, o options, res *results) {
	byEngine, what := res.idle, "one 64 B echo each"
	if s.http {
		byEngine, what = res.httpIdle, "one keep-alive GET / each"
	}
	if byEngine == nil {
		return
	}
	fmt.Fprintf(b, "\n## %s: %d connections, %s, then %v idle\n\n", s.name(), res.idleN, what, idleSettle)
	idleTable(b, s.engines(o), byEngine)
	b.WriteString(idleLegend)
}

// idleEstimate is the expected time of one idle run, for the progress bar.
func idleEstimate(conns int) time.Duration {
	return idleSettle + time.Second + time.Duration(conns)*50*time.Microsecond
}

// idleOnce runs the idle-memory scenario against a fresh server process.
func idleOnce(o options, engine string, http bool) (idleRun, error) {
	start, exchange := startServer, idleEcho
	if http {
		start, exchange = startHTTPServer, idleGet
	}
	return idleAgainst(func() (*serverProc, error) { return start(engine, o.loops) }, o.idleConns,
		func(string) func(int, *net.TCPConn) error { return exchange })
}

// idleAgainst runs runIdle with n connections against a server process
// started with start; exchangeFor returns the exchange for the server's
// address.
func idleAgainst(start func() (*serverProc, error), n int, exchangeFor func(addr string) func(int, *net.TCPConn) error) (idleRun, error) {
	var ir idleResult
	_, err := withServer(start, func(p *serverProc, _ func(bool)) (err error) {
		ir, err = runIdle(p, n, exchangeFor(p.addr))
		return err
	})
	if err != nil {
		return idleRun{}, err
	}
	if ir.firstErr != nil {
		prog.note("first error: %v", ir.firstErr)
	}
	return idleRun{
		ok:        ir.conns > 0,
		kibConn:   ir.perConnKiB(),
		beforeMiB: float64(ir.rssBefore) / (1 << 20),
		afterMiB:  float64(ir.rssAfter) / (1 << 20),
		conns:     float64(ir.conns),
		errors:    int64(ir.errors),
	}, nil
}

// idleRun is the outcome of one idle-memory run of one engine.
type idleRun struct {
	ok        bool
	kibConn   float64
	beforeMiB float64
	afterMiB  float64
	conns     float64
	errors    int64
}

// idleMsgSize is the size of the one echo made on every idle connection.
const idleMsgSize = 64

// idleResult is what one run of the idle-memory scenario measured.
type idleResult struct {
	conns     int   // connections open and verified
	rssBefore int64 // server RSS before the connections, bytes
	rssAfter  int64 // server RSS with the connections open and idle, bytes
	errors    int   // connections that failed to dial or echo
	firstErr  error
}

// perConnKiB is the server memory per idle connection.
func (r idleResult) perConnKiB() float64 {
	if r.conns == 0 {
		return 0
	}
	return float64(r.rssAfter-r.rssBefore) / float64(r.conns) / 1024
}

// idleSettle is how long the connections stay idle before RSS is read.
const idleSettle = 2 * time.Second

// runIdle opens n connections to the server of p, makes one checked
// exchange on each, lets them sit idle, and reads the server's RSS before
// and after.
func runIdle(p *serverProc, n int, exchange func(int, *net.TCPConn) error) (idleResult, error) {
	time.Sleep(200 * time.Millisecond) // let the fresh server settle
	before, err := processRSS(p.pid())
	if err != nil {
		return idleResult{}, err
	}
	conns, failed, firstErr := forEachConn(p.addr, n, exchange)
	defer closeAll(conns)
	time.Sleep(idleSettle)
	if err := p.alive(); err != nil {
		return idleResult{}, err
	}
	after, err := processRSS(p.pid())
	if err != nil {
		return idleResult{}, err
	}
	return idleResult{
		conns:     len(conns),
		rssBefore: before,
		rssAfter:  after,
		errors:    failed,
		firstErr:  firstErr,
	}, nil
}

// idleEcho sends one stamped 64 B message on c and checks its echo.
func idleEcho(i int, c *net.TCPConn) error {
	msg := make([]byte, idleMsgSize)
	binary.LittleEndian.PutUint64(msg, uint64(stamp()))
	for j := stampSize; j < len(msg); j++ {
		msg[j] = byte(i*31 + j)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo mismatch")
	}
	return nil
}

// idleGet makes one keep-alive GET / on c and checks the hello answer.
func idleGet(_ int, c *net.TCPConn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		return err
	}
	buf := make([]byte, 0, 512)
	for {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if size, perr := parseHello(buf); perr != nil || size > 0 {
			return perr
		}
		if err != nil {
			return err
		}
		if len(buf) == cap(buf) {
			return fmt.Errorf("http: answer over %d bytes", cap(buf))
		}
	}
}

func idleTable(b *strings.Builder, engines []string, byEngine map[string][]idleRun) {
	b.WriteString("| engine | KiB per connection | server RSS before (MiB) | server RSS after (MiB) | connections | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, e := range engines {
		row := rowOf(byEngine[e])
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %d |\n", e,
			row.cell(func(r idleRun) float64 { return r.kibConn }, fmtFloat1),
			row.cell(func(r idleRun) float64 { return r.beforeMiB }, fmtFloat1),
			row.cell(func(r idleRun) float64 { return r.afterMiB }, fmtFloat1),
			row.cell(func(r idleRun) float64 { return r.conns }, fmtInt),
			row.errs)
	}
}

const idleLegend = `
KiB per connection is (server RSS with the connections open − server RSS before) ÷ connections,
median over runs, min–max in parentheses. It counts the server process's own memory: socket
buffers live in the kernel and are not part of its RSS.
`
