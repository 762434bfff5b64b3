package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// httpOpts are the flags of the HTTP scenario, and -proto.
type httpOpts struct {
	proto  *string
	conns  *string
	depths *string
}

// httpFlags defines the flags of the HTTP scenario and -proto.
func httpFlags() httpOpts {
	return httpOpts{
		proto:  flag.String("proto", "echo", "protocol of the -serve server: echo, http, ws or pubsub"),
		conns:  flag.String("http-conns", "100", "http: connection counts (of our client and of wrk)"),
		depths: flag.String("http-pipeline", "1,16", "http: requests in flight per connection (our client; wrk does not pipeline)"),
	}
}

// parseHTTPOptions checks the flags of httpFlags and sets them in o.
func parseHTTPOptions(o *options, f httpOpts) error {
	var err error
	if o.httpConns, err = parseInts("http-conns", *f.conns, 1); err != nil {
		return err
	}
	o.httpDepths, err = parseInts("http-pipeline", *f.depths, 1)
	return err
}

// httpScenario is the HTTP "hello" scenario: our client (http_load.go),
// then wrk if it is on PATH, against the baseline and every engine of
// -engines that has an HTTP server.
type httpScenario struct{}

func (httpScenario) name() string { return "http" }

func (httpScenario) plan(o options) {
	engines := len(httpEngines(o.engines))
	prog.plan(len(o.httpConns)*len(o.httpDepths)*o.runs*engines, loadEstimate(o))
	if wrkPath() != "" {
		prog.plan(len(o.httpConns)*o.runs*engines, wrkEstimate(o))
	}
}

func (httpScenario) section(b *strings.Builder, o options, res *results) {
	if res.http != nil {
		httpSection(b, o, res.http)
	}
}

// wrkEstimate is the expected time of one wrk run, warm-up included.
func wrkEstimate(o options) time.Duration {
	est := time.Duration(wrkSeconds(o.duration))*time.Second + 300*time.Millisecond
	if o.warmup > 0 {
		est += time.Duration(wrkSeconds(o.warmup)) * time.Second
	}
	return est
}

// httpBaseline is the engine every HTTP result is compared with; the HTTP
// scenario always runs it.
const httpBaseline = "nethttp"

// httpCase is one combination of the HTTP parameters.
type httpCase struct{ conns, depth int }

// httpRun is the outcome of one run of one engine with our client.
type httpRun struct {
	ok     bool
	reqSec float64
	p50us  float64
	p99us  float64
	p999us float64
	cpuSec float64 // server CPU time in the measured window
	perCPU float64 // requests per server CPU-second
	rssMiB float64 // server RSS at the end of the window
	errors int64   // failed connections, wrong responses, failed runs
}

// wrkRun is the outcome of one wrk run of one engine.
type wrkRun struct {
	ok                  bool
	reqSec              float64
	p50us, p90us, p99us float64
	cpuSec              float64 // server CPU time while wrk measured
	perCPU              float64
	errors              int64 // wrk's non-2xx/3xx responses and socket errors, failed runs
}

// httpResults holds every run of the HTTP scenario, in run order.
type httpResults struct {
	engines []string // the baseline first
	cases   []httpCase
	runs    map[httpCase]map[string][]httpRun
	wrk     string // wrk's path; "" when it is not on PATH
	wrkRuns map[int]map[string][]wrkRun
}

// httpEngines returns the engines of the HTTP scenario: the baseline, then
// those of engines that have an HTTP server, in their order.
func httpEngines(engines []string) []string {
	out := []string{httpBaseline}
	for _, e := range engines {
		if hasHTTPServer(e) && e != httpBaseline {
			out = append(out, e)
		}
	}
	return out
}

// run runs the HTTP scenario, our client first and then wrk, o.runs times
// per engine and case, engines alternated run by run.
func (httpScenario) run(o options, res *results) (failed bool) {
	h := &httpResults{
		engines: httpEngines(o.engines),
		runs:    map[httpCase]map[string][]httpRun{},
		wrk:     wrkPath(),
		wrkRuns: map[int]map[string][]wrkRun{},
	}
	res.http = h
	noteLeftOut(o, "http", "HTTP", hasHTTPServer)
	for _, c := range o.httpConns {
		for _, d := range o.httpDepths {
			h.cases = append(h.cases, httpCase{conns: c, depth: d})
		}
	}
	for _, c := range h.cases {
		h.runs[c] = map[string][]httpRun{}
		failed = alternate(o, h.engines, fmt.Sprintf("http %dc d%d", c.conns, c.depth), loadEstimate(o), h.runs[c],
			func(e string) (httpRun, error) { return httpOnce(o, e, c) },
			func(r *httpRun) (*int64, string) {
				return &r.errors, fmt.Sprintf("%.0f req/s, p99 %.1f µs, server %.2f CPU-s, %d errors",
					r.reqSec, r.p99us, r.cpuSec, r.errors)
			}) || failed
	}
	if h.wrk == "" {
		if os.Getenv("CI") == "true" {
			prog.line("http: wrk is not on PATH, and CI needs it (.ci/run installs it)")
			return true
		}
		prog.line("http: wrk is not on PATH, its runs are skipped")
		return failed
	}
	for _, n := range o.httpConns {
		h.wrkRuns[n] = map[string][]wrkRun{}
		failed = alternate(o, h.engines, fmt.Sprintf("wrk %dc", n), wrkEstimate(o), h.wrkRuns[n],
			func(e string) (wrkRun, error) { return wrkOnce(o, h.wrk, e, n) },
			func(r *wrkRun) (*int64, string) {
				return &r.errors, fmt.Sprintf("%.0f req/s, p99 %.1f µs, server %.2f CPU-s, %d errors",
					r.reqSec, r.p99us, r.cpuSec, r.errors)
			}) || failed
	}
	return failed
}

// httpOnce runs one case with our client against a fresh server process.
func httpOnce(o options, engine string, c httpCase) (httpRun, error) {
	start := func() (*serverProc, error) { return startHTTPServer(engine, o.loops) }
	f, err := measureLoad(start, func(addr string, onWindow func(bool)) (loadResult, error) {
		return runHTTPLoad(httpLoadConfig{
			addr: addr, conns: c.conns, depth: c.depth, warmup: o.warmup, duration: o.duration,
		}, onWindow)
	})
	if err != nil {
		return httpRun{}, err
	}
	return httpRun{ok: true, reqSec: f.perSec, p50us: f.p50us, p99us: f.p99us, p999us: f.p999us,
		cpuSec: f.cpuSec, perCPU: f.perCPU, rssMiB: f.rssMiB, errors: f.errors}, nil
}

// wrkOnce runs wrk against a fresh server process: first for the warm-up
// (its output is dropped), then measured.
func wrkOnce(o options, wrk, engine string, conns int) (wrkRun, error) {
	var wr wrkResult
	w, err := withServer(func() (*serverProc, error) { return startHTTPServer(engine, o.loops) },
		func(p *serverProc, onWindow func(bool)) (err error) {
			if o.warmup > 0 {
				if _, err := runWrk(wrk, p.addr, conns, o.warmup); err != nil {
					return err
				}
			}
			onWindow(true)
			wr, err = runWrk(wrk, p.addr, conns, o.duration)
			onWindow(false)
			return err
		})
	if err != nil {
		return wrkRun{}, err
	}
	r := wrkRun{
		ok:     true,
		reqSec: wr.reqSec,
		p50us:  float64(wr.p50) / 1e3,
		p90us:  float64(wr.p90) / 1e3,
		p99us:  float64(wr.p99) / 1e3,
		cpuSec: w.cpuSec,
		errors: wr.errors,
	}
	if r.cpuSec > 0 {
		r.perCPU = float64(wr.requests) / r.cpuSec
	}
	return r, nil
}
