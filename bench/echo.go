package main

import (
	"fmt"
	"strings"
)

// echoScenario is the echo scenario, the closed loop of load.go over the
// cases of -conns, -sizes and -pipeline, or with open the open loop of
// open.go over those of -open-conns and -rates. Both keep their runs in
// res.cases and res.echo.
type echoScenario struct{ open bool }

func (s echoScenario) name() string {
	if s.open {
		return "open"
	}
	return "echo"
}

// cases returns the cases of the scenario, in the order they run.
func (s echoScenario) cases(o options) []echoCase {
	var cs []echoCase
	if s.open {
		for _, c := range o.openConns {
			for _, r := range o.rates {
				cs = append(cs, echoCase{conns: c, size: o.openSize, rate: r})
			}
		}
		return cs
	}
	for _, c := range o.conns {
		for _, size := range o.sizes {
			for _, d := range o.depths {
				cs = append(cs, echoCase{conns: c, size: size, depth: d})
			}
		}
	}
	return cs
}

func (s echoScenario) plan(o options) {
	prog.plan(len(s.cases(o))*o.runs*len(o.echoEngines()), loadEstimate(o))
}

func (s echoScenario) run(o options, res *results) (failed bool) {
	if res.echo == nil {
		res.echo = map[echoCase]map[string][]echoRun{}
	}
	noteLeftOut(o, s.name(), "echo", hasEchoServer)
	for _, c := range s.cases(o) {
		res.cases = append(res.cases, c)
		res.echo[c] = map[string][]echoRun{}
		failed = alternate(o, o.echoEngines(), c.label(), loadEstimate(o), res.echo[c],
			func(e string) (echoRun, error) { return echoOnce(o, e, c) },
			func(r *echoRun) (*int64, string) {
				return &r.errors, fmt.Sprintf("%.0f msg/s, p99 %.1f µs, server %.2f CPU-s, %d errors",
					r.msgsSec, r.p99us, r.cpuSec, r.errors)
			}) || failed
	}
	return failed
}

// section writes a table for every case of the scenario, then its legend.
func (s echoScenario) section(b *strings.Builder, _ options, res *results) {
	ran := false
	for _, c := range res.cases {
		if (c.rate > 0) != s.open {
			continue
		}
		ran = true
		if s.open {
			fmt.Fprintf(b, "\n## open loop: %d connections, %d B messages, %d msgs/s scheduled\n\n", c.conns, c.size, c.rate)
		} else {
			fmt.Fprintf(b, "\n## echo: %d connections, %d B messages, pipeline depth %d\n\n", c.conns, c.size, c.depth)
		}
		echoTable(b, res.engines, res.echo[c], s.open)
	}
	switch {
	case !ran:
	case s.open:
		b.WriteString(openLegend)
	default:
		b.WriteString(echoLegend)
	}
}

// echoOnce runs one echo case against a fresh server process of engine.
func echoOnce(o options, engine string, c echoCase) (echoRun, error) {
	start := func() (*serverProc, error) { return startServer(engine, o.loops) }
	f, err := measureLoad(start, func(addr string, onWindow func(bool)) (loadResult, error) {
		if c.rate > 0 {
			return runOpen(openConfig{
				addr: addr, conns: c.conns, size: c.size, rate: float64(c.rate),
				warmup: o.warmup, duration: o.duration,
			}, onWindow)
		}
		return runLoad(loadConfig{
			addr: addr, conns: c.conns, size: c.size, depth: c.depth,
			warmup: o.warmup, duration: o.duration,
		}, onWindow)
	})
	return echoRunOf(f, err)
}

// echoRunOf is the echoRun of a run's figures, or of its error.
func echoRunOf(f loadFigures, err error) (echoRun, error) {
	if err != nil {
		return echoRun{}, err
	}
	return echoRun{ok: true, msgsSec: f.perSec, p50us: f.p50us, p99us: f.p99us, p999us: f.p999us, lagus: f.lagus,
		cpuSec: f.cpuSec, perCPU: f.perCPU, rssMiB: f.rssMiB, errors: f.errors}, nil
}

// echoRun is the outcome of one echo run of one engine.
type echoRun struct {
	ok      bool // false: the run failed and has no numbers
	msgsSec float64
	p50us   float64
	p99us   float64
	p999us  float64
	lagus   float64 // open loop: p99 of how late the sender wrote
	cpuSec  float64 // server CPU time in the measured window
	perCPU  float64 // messages per server CPU-second
	rssMiB  float64 // server RSS at the end of the window
	errors  int64   // failed connections, echo mismatches, failed runs
}

// echoCase is one combination of the echo parameters. With a rate above 0
// it is an open-loop case: rate messages per second over all connections,
// on a fixed schedule (depth is unused).
type echoCase struct{ conns, size, depth, rate int }

// label names the case in the progress display: "echo 100c 64B d16",
// "open 100c 64B 10000/s".
func (c echoCase) label() string {
	if c.rate > 0 {
		return fmt.Sprintf("open %dc %dB %d/s", c.conns, c.size, c.rate)
	}
	return fmt.Sprintf("echo %dc %dB d%d", c.conns, c.size, c.depth)
}

// echoTable writes one echo case, closed loop or (lag: with the send lag
// column) open loop.
func echoTable(b *strings.Builder, engines []string, byEngine map[string][]echoRun, lag bool) {
	rate, lagHead, lagAlign := "msgs/s", "", ""
	if lag {
		rate, lagHead, lagAlign = "msgs/s achieved", " send lag p99 (µs) |", "---:|"
	}
	fmt.Fprintf(b, "| engine | %s | p50 (µs) | p99 (µs) | p999 (µs) |%s server CPU (s) | msgs per server CPU-s | vs stdnet | vs gnet | server RSS (MiB) | errors |\n", rate, lagHead)
	fmt.Fprintf(b, "|---|---:|---:|---:|---:|%s---:|---:|---:|---:|---:|---:|\n", lagAlign)
	perCPU := spreads(engines, byEngine, func(r echoRun) float64 { return r.perCPU })
	for _, e := range engines {
		row := rowOf(byEngine[e])
		lagCell := ""
		if lag {
			lagCell = " " + row.cell(func(r echoRun) float64 { return r.lagus }, fmtFloat1) + " |"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |%s %s | %s | %s | %d |\n", e,
			row.cell(func(r echoRun) float64 { return r.msgsSec }, fmtCount),
			row.cell(func(r echoRun) float64 { return r.p50us }, fmtFloat1),
			row.cell(func(r echoRun) float64 { return r.p99us }, fmtFloat1),
			row.cell(func(r echoRun) float64 { return r.p999us }, fmtFloat1),
			lagCell,
			row.cell(func(r echoRun) float64 { return r.cpuSec }, fmtFloat2),
			against(perCPU, e, fmtCount, ratio, "stdnet", "gnet"),
			row.cell(func(r echoRun) float64 { return r.rssMiB }, fmtFloat1),
			row.errs)
	}
}

const echoLegend = `
Each cell is the median over runs, with the minimum–maximum in parentheses.
msgs/s counts echoes fully read back by the client in the measured window. p50/p99/p999 are the
time from writing a message to having read its whole echo, including time queued behind the
other messages in flight on its connection. server CPU is user+system time of the server
process in the window (from /proc, 10 ms resolution); msgs per server CPU-s is the efficiency
that matters when the client, which shares the machine, is the bottleneck. "vs" columns divide
the medians of msgs per server CPU-s. errors counts failed connections, echo mismatches and
failed runs over all runs; any nonzero value makes the numbers of that row suspect.
`
