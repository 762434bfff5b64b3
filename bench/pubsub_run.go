package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The pubsub scenario: fan-out over WebSocket. Each run starts a fan-out
// server (pubsub_servers.go), connects and subscribes the load's
// subscribers (pubsub_load.go), samples the server's memory, tells it to
// publish at the load's rate (SIGUSR1), and measures deliveries, latency
// and the server's CPU over the window after a warm-up.

// pubsubOpts are the flags of the pubsub scenario, and -publish-rate.
type pubsubOpts struct {
	engines     *string
	loads       *string
	warmup      *time.Duration
	duration    *time.Duration
	publishRate *float64
}

// pubsubFlags defines the flags of the pubsub scenario.
func pubsubFlags() pubsubOpts {
	return pubsubOpts{
		engines:     flag.String("pubsub-engines", "shoal,centrifuge,gorilla", "pubsub: fan-out servers, from "+strings.Join(sortedNames(pubsubServers), ",")),
		loads:       flag.String("pubsub-loads", "1k@100,10k@20", "pubsub: loads, each SUBS@RATE: subscribers of the one topic (1k = 1000) and publications per second"),
		warmup:      flag.Duration("pubsub-warmup", 2*time.Second, "pubsub: publishing before the measured window"),
		duration:    flag.Duration("pubsub-duration", 10*time.Second, "pubsub: measured window"),
		publishRate: flag.Float64("publish-rate", 0, "with -serve ENGINE -proto pubsub: publications per second once SIGUSR1 arrives (used by the orchestrator)"),
	}
}

// quickPubSubDefaults are the -quick settings of these flags.
var quickPubSubDefaults = map[string]string{"pubsub-loads": "100@50", "pubsub-warmup": "500ms", "pubsub-duration": "1s"}

// pubsubLoad is one load of the pubsub scenario.
type pubsubLoad struct {
	subs int
	rate float64
}

// String is the load as -pubsub-loads writes it: "10k@20".
func (l pubsubLoad) String() string {
	n := strconv.Itoa(l.subs)
	if l.subs >= 1000 && l.subs%1000 == 0 {
		n = strconv.Itoa(l.subs/1000) + "k"
	}
	return n + "@" + strconv.FormatFloat(l.rate, 'g', -1, 64)
}

// title is the load in the report: "10,000 subscribers, 20 publications/s".
func (l pubsubLoad) title() string {
	return fmt.Sprintf("%s subscribers, %s publications/s", fmtThousands(l.subs), strconv.FormatFloat(l.rate, 'g', -1, 64))
}

// asked is the deliveries per second the load asks for.
func (l pubsubLoad) asked() float64 { return float64(l.subs) * l.rate }

// fmtThousands writes n with commas: 10,000.
func fmtThousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// parsePubSubLoad parses SUBS@RATE; SUBS may end in k (thousands).
func parsePubSubLoad(s string) (pubsubLoad, error) {
	bad := fmt.Errorf("-pubsub-loads: %q is not SUBS@RATE (subscribers ≥ 1, 1k = 1000; publications per second > 0)", s)
	subs, rate, ok := strings.Cut(s, "@")
	if !ok {
		return pubsubLoad{}, bad
	}
	mult := 1
	if n, ok := strings.CutSuffix(subs, "k"); ok {
		subs, mult = n, 1000
	}
	n, err := strconv.Atoi(subs)
	if err != nil || n < 1 {
		return pubsubLoad{}, bad
	}
	r, err := strconv.ParseFloat(rate, 64)
	if err != nil || r <= 0 || r > 1e6 {
		return pubsubLoad{}, bad
	}
	return pubsubLoad{subs: n * mult, rate: r}, nil
}

// parsePubSubOptions checks the flags of pubsubFlags and sets them in o.
func parsePubSubOptions(o *options, f pubsubOpts) error {
	o.pubsubEngines = nil
	for _, e := range strings.Split(*f.engines, ",") {
		e = strings.TrimSpace(e)
		if _, ok := pubsubServers[e]; !ok {
			return fmt.Errorf("-pubsub-engines: unknown fan-out server %q (have %s)", e, strings.Join(sortedNames(pubsubServers), ","))
		}
		o.pubsubEngines = append(o.pubsubEngines, e)
	}
	o.pubsubLoads = nil
	for _, s := range strings.Split(*f.loads, ",") {
		l, err := parsePubSubLoad(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		o.pubsubLoads = append(o.pubsubLoads, l)
	}
	o.pubsubWarmup, o.pubsubDuration = *f.warmup, *f.duration
	if o.pubsubWarmup < 0 || o.pubsubDuration <= 0 {
		return fmt.Errorf("-pubsub-warmup must not be negative and -pubsub-duration must be positive")
	}
	return nil
}

// pubsubRun is the outcome of one run of one server at one load.
type pubsubRun struct {
	ok                   bool
	subs                 float64 // subscribed
	perSec               float64 // deliveries per second in the window
	made                 float64 // perSec ÷ the deliveries per second asked for
	p50ms, p99ms, p999ms float64 // from the due time
	maxms                float64
	sentP50ms, sentP99ms float64 // from the send time
	cpuSec               float64 // server CPU in the window
	perCPU               float64 // deliveries per server CPU-second
	clientCPU            float64 // the load generator's CPU in the window
	rssSubMiB, rssEndMiB float64 // server RSS once subscribed, and at the end of the window
	kibSub, kibSubEnd    float64 // (RSS − RSS before the subscribers) ÷ subscribers, subscribed and at the end
	missing              float64 // publications skipped in subscribers' sequences
	dropped              float64 // subscribers whose connection ended early
	errors               int64   // failed subscribes, damaged or out-of-order messages
}

func (r pubsubRun) status() (bool, int64) { return r.ok, r.errors }

// pubsubResults holds every run of the pubsub scenario, in run order.
type pubsubResults struct {
	engines []string
	loads   []pubsubLoad
	runs    map[pubsubLoad]map[string][]pubsubRun
}

// pubsubScenario is the pubsub scenario.
type pubsubScenario struct{}

func (pubsubScenario) name() string { return "pubsub" }

// pubsubEstimate is the expected time of one run of l.
func pubsubEstimate(o options, l pubsubLoad) time.Duration {
	return time.Second + time.Duration(l.subs)*150*time.Microsecond + idleSettle + o.pubsubWarmup + o.pubsubDuration
}

func (pubsubScenario) plan(o options) {
	for _, l := range o.pubsubLoads {
		prog.plan(o.runs*len(o.pubsubEngines), pubsubEstimate(o, l))
	}
}

func (pubsubScenario) run(o options, res *results) (failed bool) {
	most := 0
	for _, l := range o.pubsubLoads {
		most = max(most, l.subs)
	}
	if lim := fileLimit(); lim < uint64(most)+64 {
		prog.line("warning: RLIMIT_NOFILE is %d, too low for %d subscribers; raise it with ulimit -n", lim, most)
	}
	r := &pubsubResults{engines: o.pubsubEngines, loads: o.pubsubLoads, runs: map[pubsubLoad]map[string][]pubsubRun{}}
	res.pubsub = r
	for _, l := range r.loads {
		r.runs[l] = map[string][]pubsubRun{}
		failed = alternate(o, r.engines, "pubsub "+l.String(), pubsubEstimate(o, l), r.runs[l],
			func(e string) (pubsubRun, error) { return pubsubOnce(o, e, l) },
			func(r *pubsubRun) (*int64, string) {
				return &r.errors, fmt.Sprintf("%s deliveries/s (%.1f%% of asked), %s per server CPU-s, p99 %.1f ms, %.1f KiB/sub, %.0f missing, %.0f dropped, %d errors",
					fmtCount(r.perSec), 100*r.made, fmtCount(r.perCPU), r.p99ms, r.kibSub, r.missing, r.dropped, r.errors)
			}) || failed
	}
	return failed
}

// pubsubOnce runs load l against a fresh fan-out server process of engine.
func pubsubOnce(o options, engine string, l pubsubLoad) (pubsubRun, error) {
	start := func() (*serverProc, error) {
		return startServeFlags(engine, o.loops, "-proto", "pubsub", "-publish-rate", strconv.FormatFloat(l.rate, 'g', -1, 64))
	}
	var lr pubsubResult
	var rssBefore, rssSub int64
	w, err := withServer(start, func(p *serverProc, onWindow func(bool)) error {
		time.Sleep(200 * time.Millisecond) // let the fresh server settle
		var err, subErr error
		if rssBefore, err = processRSS(p.pid()); err != nil {
			return err
		}
		cfg := pubsubLoadConfig{addr: p.addr, centrifuge: engine == "centrifuge", subs: l.subs, rate: l.rate,
			warmup: o.pubsubWarmup, duration: o.pubsubDuration}
		lr, err = runPubSubLoad(cfg, pubsubHooks{
			subscribed: func() {
				time.Sleep(idleSettle)
				rssSub, subErr = processRSS(p.pid())
			},
			publish:  func() error { return p.cmd.Process.Signal(syscall.SIGUSR1) },
			onWindow: onWindow,
		})
		if err != nil {
			return err
		}
		return subErr
	})
	if err != nil {
		return pubsubRun{}, err
	}
	if lr.firstErr != nil {
		prog.note("first error: %v", lr.firstErr)
	}
	return pubsubRunOf(l, lr, w, rssBefore, rssSub), nil
}

// pubsubRunOf makes the figures of a run from what the load measured, the
// server's window and its RSS before the subscribers and once subscribed.
func pubsubRunOf(l pubsubLoad, lr pubsubResult, w window, rssBefore, rssSub int64) pubsubRun {
	ms := func(q float64) float64 { return float64(lr.hist.ValueAtQuantile(q)) / 1e6 }
	perSub := func(rss int64) float64 {
		if lr.subs == 0 {
			return 0
		}
		return float64(rss-rssBefore) / float64(lr.subs) / 1024
	}
	r := pubsubRun{
		ok:        lr.subs > 0 && lr.window > 0,
		subs:      float64(lr.subs),
		perSec:    float64(lr.delivered) / lr.window.Seconds(),
		p50ms:     ms(50),
		p99ms:     ms(99),
		p999ms:    ms(99.9),
		maxms:     float64(lr.hist.Max()) / 1e6,
		sentP50ms: float64(lr.sentHist.ValueAtQuantile(50)) / 1e6,
		sentP99ms: float64(lr.sentHist.ValueAtQuantile(99)) / 1e6,
		cpuSec:    w.cpuSec,
		clientCPU: lr.clientCPU,
		rssSubMiB: float64(rssSub) / (1 << 20),
		rssEndMiB: float64(w.rss) / (1 << 20),
		kibSub:    perSub(rssSub),
		kibSubEnd: perSub(w.rss),
		missing:   float64(lr.missing + lr.silent*int64(lr.published)),
		dropped:   float64(lr.dropped),
		errors:    int64(lr.failed) + lr.bad,
	}
	r.made = r.perSec / l.asked()
	if r.cpuSec > 0 {
		r.perCPU = float64(lr.delivered) / r.cpuSec
	}
	return r
}
