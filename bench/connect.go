package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// connectResult is what one run of the connection-setup scenario measured.
type connectResult struct {
	conns    int64         // connections dialed, echoed and closed in the measured window
	window   time.Duration // length of the measured window
	hist     *hdrhistogram.Histogram
	errors   int64 // failed dials and echoes, warm-up included
	firstErr error
}

// connectBackoff is how long a worker waits after a failure, so that a
// dead server does not turn the run into a busy loop of errors.
const connectBackoff = 10 * time.Millisecond

// runConnect keeps workers goroutines busy dialing addr, each making one
// checked 64 B echo on its connection and closing it, for warmup and then
// duration. The latency of a connection is from the start of the dial to
// the end of its echo. Connections come from the source addresses in turn
// and close with a reset (SO_LINGER 0), so that neither side keeps a
// TIME_WAIT socket and the run does not run out of ports. onWindow runs at
// the start (true) and the end (false) of the measured window.
func runConnect(addr string, workers int, warmup, duration time.Duration, onWindow func(start bool)) connectResult {
	var phase atomic.Int32
	type worker struct {
		hist     *hdrhistogram.Histogram
		conns    int64
		errors   int64
		firstErr error
	}
	ws := make([]*worker, workers)
	var wg sync.WaitGroup
	for id := range ws {
		w := &worker{hist: newHist()}
		ws[id] = w
		wg.Go(func() {
			for i := id; phase.Load() != phaseDone; i += workers {
				t := stamp()
				c, err := dialOne(addr, i)
				if err == nil {
					err = idleEcho(i, c)
					closeNow(c)
				}
				took := stamp() - t
				switch ph := phase.Load(); {
				case ph == phaseDone:
				case err != nil:
					w.errors++
					if w.firstErr == nil {
						w.firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
					time.Sleep(connectBackoff)
				case ph == phaseMeasure:
					w.conns++
					w.hist.RecordValue(min(max(took, histMin), histMax))
				}
			}
		})
	}

	time.Sleep(warmup)
	onWindow(true)
	t0 := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(duration)
	phase.Store(phaseDone)
	window := time.Since(t0)
	onWindow(false)
	wg.Wait()

	res := connectResult{window: window, hist: newHist()}
	for _, w := range ws {
		res.conns += w.conns
		res.errors += w.errors
		res.hist.Merge(w.hist)
		if res.firstErr == nil {
			res.firstErr = w.firstErr
		}
	}
	return res
}

// connectRun is the outcome of one connection-setup run of one engine.
type connectRun struct {
	ok        bool
	connsSec  float64
	p50us     float64
	p99us     float64
	cpuSec    float64 // server CPU time in the measured window
	cpuPer1k  float64 // server CPU milliseconds per 1,000 connections
	errors    int64
	connsDone float64 // connections in the window
}

// connectOnce runs the connection-setup scenario against a fresh server
// process of engine.
func connectOnce(o options, engine string) (connectRun, error) {
	var cr connectResult
	w, err := withServer(func() (*serverProc, error) { return startServer(engine, o.loops) },
		func(p *serverProc, onWindow func(bool)) error {
			cr = runConnect(p.addr, o.connectWorkers, o.warmup, o.duration, onWindow)
			return nil
		})
	if err != nil {
		return connectRun{}, err
	}
	if cr.firstErr != nil {
		prog.note("first error: %v", cr.firstErr)
	}
	r := connectRun{
		ok:        cr.conns > 0,
		connsSec:  float64(cr.conns) / cr.window.Seconds(),
		p50us:     float64(cr.hist.ValueAtQuantile(50)) / 1e3,
		p99us:     float64(cr.hist.ValueAtQuantile(99)) / 1e3,
		cpuSec:    w.cpuSec,
		errors:    cr.errors,
		connsDone: float64(cr.conns),
	}
	if cr.conns > 0 {
		r.cpuPer1k = r.cpuSec * 1e3 / (float64(cr.conns) / 1e3)
	}
	return r, nil
}

// connectScenario measures the connection setup rate: runConnect against
// every engine.
type connectScenario struct{}

func (connectScenario) name() string { return "connect" }

func (connectScenario) plan(o options) { prog.plan(o.runs*len(o.echoEngines()), loadEstimate(o)) }

func (connectScenario) run(o options, res *results) (failed bool) {
	res.connect = map[string][]connectRun{}
	noteLeftOut(o, "connect", "echo", hasEchoServer)
	return alternate(o, o.echoEngines(), fmt.Sprintf("connect %dw", o.connectWorkers), loadEstimate(o), res.connect,
		func(e string) (connectRun, error) { return connectOnce(o, e) },
		func(r *connectRun) (*int64, string) {
			return &r.errors, fmt.Sprintf("%.0f conn/s, p99 %.1f µs, %.1f server CPU-ms per 1,000, %d errors",
				r.connsSec, r.p99us, r.cpuPer1k, r.errors)
		})
}

func (connectScenario) section(b *strings.Builder, o options, res *results) {
	if res.connect != nil {
		connectSection(b, o, res.engines, res.connect)
	}
}

// connectSection renders the connection-setup results.
func connectSection(b *strings.Builder, o options, engines []string, byEngine map[string][]connectRun) {
	fmt.Fprintf(b, "\n## connect: %d workers dialing, one 64 B echo per connection, close with reset\n\n", o.connectWorkers)
	b.WriteString("| engine | connections/s | p50 (µs) | p99 (µs) | server CPU (s) | server CPU-ms per 1,000 conns | vs stdnet | vs gnet | connections | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	per1k := spreads(engines, byEngine, func(r connectRun) float64 { return r.cpuPer1k })
	for _, e := range engines {
		row := rowOf(byEngine[e])
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %d |\n", e,
			row.cell(func(r connectRun) float64 { return r.connsSec }, fmtCount),
			row.cell(func(r connectRun) float64 { return r.p50us }, fmtFloat1),
			row.cell(func(r connectRun) float64 { return r.p99us }, fmtFloat1),
			row.cell(func(r connectRun) float64 { return r.cpuSec }, fmtFloat2),
			against(per1k, e, fmtFloat1, inverseRatio, "stdnet", "gnet"),
			row.cell(func(r connectRun) float64 { return r.connsDone }, fmtInt),
			row.errs)
	}
	b.WriteString(connectLegend)
}

// inverseRatio is ratio for a cost: b ÷ a, so that above 1 is better than
// that engine here too.
func inverseRatio(a, b spread) string {
	if a.n == 0 || b.n == 0 || a.med == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", b.med/a.med)
}

const connectLegend = `
Each worker dials (from 127.0.0.1 … 127.0.0.8 in turn), writes one 64 B message, reads and
checks its echo and closes the connection with a reset (SO_LINGER 0: no TIME_WAIT on either
side, so the ports do not run out), then starts over. connections/s counts the cycles completed
in the measured window; p50/p99 run from the start of the dial to the end of the echo. server
CPU-ms per 1,000 conns is the server's CPU time in the window per thousand connections: accept,
one read, one write and the close. "vs" columns divide the other engine's median CPU per
connection by this one's (above 1 is better than that engine).
`
