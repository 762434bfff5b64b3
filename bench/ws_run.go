package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The WebSocket scenarios: ws, the echo over upgraded connections
// (ws_load.go) against the servers of ws_servers.go, with shoal's raw echo
// as a reference row; wsidle, their memory per idle upgraded connection.

// wsRawEngine is the reference row of the ws scenario: shoal's raw echo
// server (the echo scenario's shoal) under the echo scenario's load with
// the same connections, message size and depth, so that the cost of the
// WebSocket layer reads off the ratio.
const wsRawEngine = "shoal-raw"

// wsOpts are the flags of the WebSocket scenarios.
type wsOpts struct {
	engines   *string
	loads     *string
	idleConns *string
}

// wsFlags defines the flags of the WebSocket scenarios.
func wsFlags() wsOpts {
	return wsOpts{
		engines:   flag.String("ws-engines", "shoal,gorilla,gws,coder,nbio", "ws, wsidle: WebSocket servers, from "+strings.Join(sortedNames(wsServers), ",")+" (ws adds "+wsRawEngine+")"),
		loads:     flag.String("ws-loads", "1000x64x1,1000x4096x1,10000x64x1,100x64x16", "ws: loads, each CONNSxSIZExDEPTH: connections, message bytes (8 to 65535), messages in flight per connection"),
		idleConns: flag.String("ws-idle-conns", "10000,19000", "wsidle: connection counts"),
	}
}

// quickWSDefaults are the -quick settings of these flags.
var quickWSDefaults = map[string]string{"ws-loads": "100x64x16", "ws-idle-conns": "1000"}

// wsLoad is one load of the ws scenario.
type wsLoad struct{ conns, size, depth int }

// label names the load in the progress display: "ws 1000c 64B d1".
func (l wsLoad) label() string { return fmt.Sprintf("ws %dc %dB d%d", l.conns, l.size, l.depth) }

// parseWSOptions checks the flags of wsFlags and sets them in o.
func parseWSOptions(o *options, f wsOpts) error {
	o.wsEngines = nil
	for _, e := range strings.Split(*f.engines, ",") {
		e = strings.TrimSpace(e)
		if _, ok := wsServers[e]; !ok {
			return fmt.Errorf("-ws-engines: unknown WebSocket server %q (have %s)", e, strings.Join(sortedNames(wsServers), ","))
		}
		o.wsEngines = append(o.wsEngines, e)
	}
	o.wsLoads = nil
	for _, s := range strings.Split(*f.loads, ",") {
		l, err := parseWSLoad(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		o.wsLoads = append(o.wsLoads, l)
	}
	var err error
	o.wsIdleConns, err = parseInts("ws-idle-conns", *f.idleConns, 1)
	return err
}

// parseWSLoad parses CONNSxSIZExDEPTH.
func parseWSLoad(s string) (wsLoad, error) {
	f := strings.Split(s, "x")
	bad := fmt.Errorf("-ws-loads: %q is not CONNSxSIZExDEPTH (connections ≥ 1, size %d to 65535, depth ≥ 1)", s, stampSize)
	if len(f) != 3 {
		return wsLoad{}, bad
	}
	var n [3]int
	for i, x := range f {
		v, err := strconv.Atoi(x)
		if err != nil {
			return wsLoad{}, bad
		}
		n[i] = v
	}
	l := wsLoad{conns: n[0], size: n[1], depth: n[2]}
	if l.conns < 1 || l.size < stampSize || l.size > 0xffff || l.depth < 1 {
		return wsLoad{}, bad
	}
	return l, nil
}

// wsResults holds every run of the ws scenario, in run order.
type wsResults struct {
	engines []string // the WebSocket servers, then wsRawEngine
	loads   []wsLoad
	runs    map[wsLoad]map[string][]echoRun
}

// wsIdleResults holds every run of the wsidle scenario.
type wsIdleResults struct {
	engines []string
	counts  []int
	runs    map[int]map[string][]idleRun
}

// wsScenario is the ws scenario, or with idle the wsidle scenario.
type wsScenario struct{ idle bool }

func (s wsScenario) name() string {
	if s.idle {
		return "wsidle"
	}
	return "ws"
}

// engines are the servers the scenario runs: -ws-engines, and for ws the
// raw reference.
func (s wsScenario) engines(o options) []string {
	if s.idle {
		return o.wsEngines
	}
	return append(append([]string(nil), o.wsEngines...), wsRawEngine)
}

// wsEstimate is the expected time of one run of l: the load's, and the
// dials and handshakes before it.
func wsEstimate(o options, l wsLoad) time.Duration {
	return loadEstimate(o) + time.Duration(l.conns)*100*time.Microsecond
}

// wsIdleEstimate is the expected time of one wsidle run of n connections.
func wsIdleEstimate(n int) time.Duration {
	return idleEstimate(n) + time.Duration(n)*50*time.Microsecond
}

func (s wsScenario) plan(o options) {
	engines := len(s.engines(o))
	if s.idle {
		for _, n := range o.wsIdleConns {
			prog.plan(o.runs*engines, wsIdleEstimate(n))
		}
		return
	}
	for _, l := range o.wsLoads {
		prog.plan(o.runs*engines, wsEstimate(o, l))
	}
}

func (s wsScenario) run(o options, res *results) (failed bool) {
	most := maxOf(o.wsIdleConns)
	if !s.idle {
		most = 0
		for _, l := range o.wsLoads {
			most = max(most, l.conns)
		}
	}
	if lim := fileLimit(); lim < uint64(most)+64 {
		prog.line("warning: RLIMIT_NOFILE is %d, too low for %d connections; raise it with ulimit -n", lim, most)
	}
	if s.idle {
		r := &wsIdleResults{engines: s.engines(o), counts: o.wsIdleConns, runs: map[int]map[string][]idleRun{}}
		res.wsIdle = r
		for _, n := range r.counts {
			r.runs[n] = map[string][]idleRun{}
			failed = alternate(o, r.engines, fmt.Sprintf("wsidle %dc", n), wsIdleEstimate(n), r.runs[n],
				func(e string) (idleRun, error) {
					return idleAgainst(func() (*serverProc, error) { return startWSServer(e, o.loops) }, n, wsIdleExchange)
				},
				func(r *idleRun) (*int64, string) {
					return &r.errors, fmt.Sprintf("%.2f KiB/conn over %.0f conns, %d errors", r.kibConn, r.conns, r.errors)
				}) || failed
		}
		return failed
	}
	r := &wsResults{engines: s.engines(o), loads: o.wsLoads, runs: map[wsLoad]map[string][]echoRun{}}
	res.ws = r
	for _, l := range r.loads {
		r.runs[l] = map[string][]echoRun{}
		failed = alternate(o, r.engines, l.label(), wsEstimate(o, l), r.runs[l],
			func(e string) (echoRun, error) { return wsOnce(o, e, l) },
			func(r *echoRun) (*int64, string) {
				return &r.errors, fmt.Sprintf("%.0f msg/s, p99 %.1f µs, server %.2f CPU-s, %d errors",
					r.msgsSec, r.p99us, r.cpuSec, r.errors)
			}) || failed
	}
	return failed
}

// wsOnce runs load l against a fresh server process of engine: WebSocket,
// or for wsRawEngine shoal's raw echo with the echo scenario's load.
func wsOnce(o options, engine string, l wsLoad) (echoRun, error) {
	start := func() (*serverProc, error) { return startWSServer(engine, o.loops) }
	load := runWSLoad
	if engine == wsRawEngine {
		start = func() (*serverProc, error) { return startServer("shoal", o.loops) }
		load = runLoad
	}
	return echoRunOf(measureLoad(start, func(addr string, onWindow func(bool)) (loadResult, error) {
		return load(loadConfig{addr: addr, conns: l.conns, size: l.size, depth: l.depth, warmup: o.warmup, duration: o.duration}, onWindow)
	}))
}

// startWSServer starts this binary with -serve engine -proto ws on a free
// loopback port.
func startWSServer(engine string, loops int) (*serverProc, error) {
	return startServeFlags(engine, loops, "-proto", "ws")
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
