// Command bench is a head-to-head echo benchmark of shoal against its
// peers. The orchestrator starts each engine's echo server in a process of
// its own (this same binary with -serve), drives it with a closed-loop load
// generator over loopback, samples the server's CPU time and memory from
// /proc, and writes a markdown report.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// options are the parsed flags of an orchestrator run.
type options struct {
	engines   []string
	scenario  string
	conns     []int
	sizes     []int
	depths    []int
	runs      int
	duration  time.Duration
	warmup    time.Duration
	loops     int
	idleConns int
	out       string
	charts    bool     // write PNG charts next to out
	args      []string // the command line, for the report

	// Set by parseScenarioOptions (scenarios.go).
	rates          []int // open loop: messages per second over all connections
	openConns      []int // open loop: connection counts
	openSize       int   // open loop: message size
	connectWorkers int   // connect: goroutines dialing at once
	pushSubs       int
	pushRate       float64
	pushSize       int
	pushDuration   time.Duration

	// Set by parseHTTPOptions (http_run.go).
	httpConns  []int // http: connection counts
	httpDepths []int // http: requests in flight per connection

	// Set by parseWSOptions (ws_run.go).
	wsEngines   []string // ws, wsidle: the WebSocket servers
	wsLoads     []wsLoad // ws: the loads
	wsIdleConns []int    // wsidle: connection counts

	// Set by parsePubSubOptions (pubsub_run.go).
	pubsubEngines  []string     // pubsub: the fan-out servers
	pubsubLoads    []pubsubLoad // pubsub: the loads
	pubsubWarmup   time.Duration
	pubsubDuration time.Duration
}

// echoEngines returns the engines of -engines that have an echo server:
// those of the echo, open, idle and connect scenarios.
func (o options) echoEngines() []string {
	var out []string
	for _, e := range o.engines {
		if hasEchoServer(e) {
			out = append(out, e)
		}
	}
	return out
}

// has reports whether the run includes scenario s: -scenario is all, s,
// or a list of names with s among them.
func (o options) has(s string) bool {
	for _, name := range strings.Split(o.scenario, ",") {
		if name == s || name == "all" {
			return true
		}
	}
	return false
}

func main() {
	var (
		serveEngine = flag.String("serve", "", "run this engine's server (see -proto) in the foreground until SIGTERM/SIGINT (used by the orchestrator)")
		addr        = flag.String("addr", "127.0.0.1:9000", "listen address for -serve")
		engines     = flag.String("engines", "shoal,stdnet,gnet,nbio", "engines to compare, from "+engineNames())
		scenario    = flag.String("scenario", "echo", scenarioNames())
		conns       = flag.String("conns", "100,1000", "connection counts (echo)")
		sizes       = flag.String("sizes", "64,1024", "message sizes in bytes, at least 8 (echo)")
		depths      = flag.String("pipeline", "1,16", "messages in flight per connection (echo)")
		runs        = flag.Int("runs", 3, "runs per engine and case; the report shows medians")
		duration    = flag.Duration("duration", 5*time.Second, "measured time per run (echo)")
		warmup      = flag.Duration("warmup", time.Second, "unmeasured time before each measurement (echo)")
		quick       = flag.Bool("quick", false, "smoke test: 1 run, 1s after a 0.5s warm-up, 100 conns, 64 B, pipeline 1 and 16, open loop 2000/s, 1000 idle conns, push 1000 subscribers for 3s, ws 100x64x16, wsidle 1000 conns, pubsub 100@50 for 1s (explicit flags win)")
		loops       = flag.Int("loops", runtime.GOMAXPROCS(0), "event loops of the engines that have them (shoal, gnet)")
		idleConns   = flag.Int("idle-conns", 10000, "connections of the idle-memory scenario")
		out         = flag.String("out", "", "markdown report file (default results/<scenario>.md, i.e. results/echo.md; with -quick results/quick/<scenario>.md, not kept in git)")
		charts      = flag.Bool("charts", true, "write PNG charts next to the report (-out results/X.md: results/X-*.png) and link them from it")
		sf          = scenarioFlags()
		hf          = httpFlags()
		wf          = wsFlags()
		pf          = pubsubFlags()
	)
	flag.Parse()

	if *serveEngine != "" {
		if err := serve(*hf.proto, *serveEngine, *addr, *loops, *pf.publishRate); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		return
	}

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *sf.pin {
		switch err := pinSelf(); {
		case err == errFewCPUs:
			fmt.Fprintln(os.Stderr, "warning:", err)
		case err != nil:
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		case !set["loops"]:
			*loops = len(pinned.server) // one loop per server CPU
		}
	}
	if *quick {
		defaults := map[string]string{"runs": "1", "duration": "1s", "conns": "100", "sizes": "64", "pipeline": "1,16", "idle-conns": "1000"}
		for name, v := range quickScenarioDefaults {
			defaults[name] = v
		}
		for name, v := range quickWSDefaults {
			defaults[name] = v
		}
		for name, v := range quickPubSubDefaults {
			defaults[name] = v
		}
		for name, v := range defaults {
			if !set[name] {
				flag.Set(name, v)
			}
		}
		if !set["out"] { // a smoke run must not overwrite the committed results
			*out = filepath.Join("results", "quick", reportName(*scenario))
		}
	}
	o, err := parseOptions(*engines, *scenario, *conns, *sizes, *depths, *runs, *duration, *warmup, *loops, *idleConns, *out)
	o.charts, o.args = *charts, os.Args[1:]
	if err == nil {
		err = parseScenarioOptions(&o, sf)
	}
	if err == nil {
		err = parseHTTPOptions(&o, hf)
	}
	if err == nil {
		err = parseWSOptions(&o, wf)
	}
	if err == nil {
		err = parsePubSubOptions(&o, pf)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(orchestrate(o))
}

func parseOptions(engines, scenario, conns, sizes, depths string, runs int, duration, warmup time.Duration, loops, idleConns int, out string) (options, error) {
	o := options{scenario: scenario, runs: runs, duration: duration, warmup: warmup, loops: loops, idleConns: idleConns, out: out}
	for _, e := range strings.Split(engines, ",") {
		e = strings.TrimSpace(e)
		if !hasEchoServer(e) && !hasHTTPServer(e) {
			return o, fmt.Errorf("unknown engine %q (have %s)", e, engineNames())
		}
		o.engines = append(o.engines, e)
	}
	for _, name := range strings.Split(scenario, ",") {
		if name != "all" && scenarioNamed(name) == nil {
			return o, fmt.Errorf("unknown scenario %q", name)
		}
	}
	var err error
	if o.conns, err = parseInts("conns", conns, 1); err != nil {
		return o, err
	}
	if o.sizes, err = parseInts("sizes", sizes, stampSize); err != nil {
		return o, err
	}
	if o.depths, err = parseInts("pipeline", depths, 1); err != nil {
		return o, err
	}
	switch {
	case runs < 1:
		return o, fmt.Errorf("-runs must be at least 1")
	case duration <= 0 || warmup < 0:
		return o, fmt.Errorf("-duration must be positive and -warmup not negative")
	case loops < 1:
		return o, fmt.Errorf("-loops must be at least 1")
	case idleConns < 1:
		return o, fmt.Errorf("-idle-conns must be at least 1")
	}
	if o.out == "" {
		o.out = filepath.Join("results", reportName(scenario))
	}
	return o, nil
}

// reportName is the default file name of the report of -scenario:
// "echo.md", "ws-wsidle.md" for ws,wsidle.
func reportName(scenario string) string {
	return strings.ReplaceAll(scenario, ",", "-") + ".md"
}

func parseInts(name, s string, least int) ([]int, error) {
	var xs []int
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || x < least {
			return nil, fmt.Errorf("-%s: %q is not a number of at least %d", name, f, least)
		}
		xs = append(xs, x)
	}
	return xs, nil
}

// current is the server process of the run in progress, stopped if the
// orchestrator is interrupted.
var current struct {
	sync.Mutex
	p *serverProc
}

func track(p *serverProc) {
	current.Lock()
	current.p = p
	current.Unlock()
}

// orchestrate runs every scenario and case, engines alternated run by run,
// writes the report and returns the exit code (1 if anything failed).
func orchestrate(o options) int {
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	machine := readMachine()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		current.Lock()
		if current.p != nil {
			current.p.stop()
		}
		prog.interrupt()
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		os.Exit(130)
	}()

	var run []scenario
	for _, s := range scenarios {
		if o.has(s.name()) {
			run = append(run, s)
			s.plan(o)
		}
	}
	res := &results{engines: o.echoEngines()}
	failed := false
	for _, s := range run {
		failed = s.run(o, res) || failed
	}
	prog.finish()

	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	var charts []chart
	if o.charts {
		var err error
		if charts, err = writeCharts(o.out, o, res); err != nil {
			fmt.Fprintln(os.Stderr, "warning:", err)
		}
	}
	report := writeReport(o, machine, res, charts)
	fmt.Print(report)
	if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "report written to %s (%d charts)\n", o.out, len(charts))
	if failed {
		return 1
	}
	return 0
}
