package main

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// scenario is one part of the benchmark, named by -scenario: it plans its
// runs in the progress display, runs them into res (every run against a
// fresh server process through withServer, engines alternated run by run)
// and writes its section of the report. A new scenario is a file with its
// load, its type and its section, and an entry in scenarios.
type scenario interface {
	name() string
	// plan adds the runs of the scenario to the progress display.
	plan(o options)
	// run runs the scenario into res; it reports whether any run failed
	// or counted errors.
	run(o options, res *results) (failed bool)
	// section writes the scenario's part of the report from res, nothing
	// if it did not run.
	section(b *strings.Builder, o options, res *results)
}

// scenarios are every scenario, in the order they run and are reported.
var scenarios = []scenario{
	echoScenario{},
	echoScenario{open: true},
	idleScenario{},
	connectScenario{},
	pushScenario{},
	httpScenario{},
	idleScenario{http: true},
	wsScenario{},
	wsScenario{idle: true},
	pubsubScenario{},
	tlsScenario{},
}

// scenarioNamed returns the scenario called name, or nil.
func scenarioNamed(name string) scenario {
	for _, s := range scenarios {
		if s.name() == name {
			return s
		}
	}
	return nil
}

// scenarioNames lists the scenarios for -scenario's help: "echo, open, …
// or all, or several of them separated by commas".
func scenarioNames() string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name())
	}
	return strings.Join(names, ", ") + " or all, or several of them separated by commas (ws,wsidle)"
}

// alternate runs once o.runs times for each of engines, engines alternated
// run by run (A B C A B C …), and appends every run to its engine's in
// byEngine. Each run is a step of the progress display, named label and
// the engine and expected to take est; outcome says where a failed run is
// counted as an error, and the summary of a run that did not fail. It
// reports whether any run failed or counted errors.
func alternate[R any](o options, engines []string, label string, est time.Duration, byEngine map[string][]R,
	once func(engine string) (R, error), outcome func(r *R) (errs *int64, summary string)) (failed bool) {
	for range o.runs {
		for _, e := range engines {
			prog.begin(label+" "+e, est)
			r, err := once(e)
			errs, summary := outcome(&r)
			failed = prog.settle(err, errs, summary) || failed
			byEngine[e] = append(byEngine[e], r)
		}
	}
	return failed
}

// noteLeftOut says in the progress display which engines of -engines
// scenario leaves out, those that has rejects for having no server of
// kind.
func noteLeftOut(o options, scenario, kind string, has func(engine string) bool) {
	for _, e := range o.engines {
		if !has(e) {
			prog.line("%s: %s has no %s server, left out", scenario, e, kind)
		}
	}
}

// loadEstimate is the expected time of one run of a load with a warm-up
// and a measured window, for the progress display.
func loadEstimate(o options) time.Duration {
	return o.warmup + o.duration + 300*time.Millisecond
}

// scenarioOpts are the flags of the open, connect and push scenarios and
// of CPU pinning.
type scenarioOpts struct {
	rates          *string
	openConns      *string
	openSize       *int
	connectWorkers *int
	pushSubs       *int
	pushRate       *float64
	pushSize       *int
	pushDuration   *time.Duration
	pin            *bool
}

// scenarioFlags defines the flags of the open, connect and push scenarios
// and -pin.
func scenarioFlags() scenarioOpts {
	return scenarioOpts{
		rates:          flag.String("rates", "10000,50000", "open loop: messages per second over all connections, on a fixed schedule"),
		openConns:      flag.String("open-conns", "100", "open loop: connection counts"),
		openSize:       flag.Int("open-size", 64, "open loop: message size in bytes, at least 8"),
		connectWorkers: flag.Int("connect-workers", 16, "connect: goroutines each dialing, echoing once and closing in a loop"),
		pushSubs:       flag.Int("push-subs", 10000, "push: subscribers of the one topic"),
		pushRate:       flag.Float64("push-rate", 100, "push: messages per second from the one publisher"),
		pushSize:       flag.Int("push-size", 128, "push: payload bytes, at least 16"),
		pushDuration:   flag.Duration("push-duration", 10*time.Second, "push: how long the publisher publishes"),
		pin:            flag.Bool("pin", false, "run the servers on the first half of the CPUs and the load generator on the rest (taskset)"),
	}
}

// quickScenarioDefaults are the -quick settings of these flags.
var quickScenarioDefaults = map[string]string{"warmup": "500ms", "rates": "2000", "push-subs": "1000", "push-duration": "3s"}

// parseScenarioOptions checks the flags of scenarioFlags and sets them in o.
func parseScenarioOptions(o *options, f scenarioOpts) error {
	var err error
	if o.rates, err = parseInts("rates", *f.rates, 1); err != nil {
		return err
	}
	if o.openConns, err = parseInts("open-conns", *f.openConns, 1); err != nil {
		return err
	}
	o.openSize, o.connectWorkers = *f.openSize, *f.connectWorkers
	o.pushSubs, o.pushRate, o.pushSize, o.pushDuration = *f.pushSubs, *f.pushRate, *f.pushSize, *f.pushDuration
	switch {
	case o.openSize < stampSize:
		return fmt.Errorf("-open-size must be at least %d", stampSize)
	case o.connectWorkers < 1:
		return fmt.Errorf("-connect-workers must be at least 1")
	case o.pushSubs < 1 || o.pushRate <= 0 || o.pushDuration <= 0:
		return fmt.Errorf("-push-subs must be at least 1, -push-rate and -push-duration positive")
	case o.pushSize < pushHeader:
		return fmt.Errorf("-push-size must be at least %d", pushHeader)
	}
	return nil
}
