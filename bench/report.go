package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
)

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

// idleRun is the outcome of one idle-memory run of one engine.
type idleRun struct {
	ok        bool
	kibConn   float64
	beforeMiB float64
	afterMiB  float64
	conns     float64
	errors    int64
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

// results holds every run, per case and engine, in run order.
type results struct {
	engines []string
	cases   []echoCase
	echo    map[echoCase]map[string][]echoRun
	idleN   int
	idle    map[string][]idleRun
	connect map[string][]connectRun
	push    []pushRun
	http    *httpResults
}

func okRuns[T any](runs []T, ok func(T) bool) []T {
	var out []T
	for _, r := range runs {
		if ok(r) {
			out = append(out, r)
		}
	}
	return out
}

// writeReport renders the results as markdown, with the image links of
// charts (written next to the report) under their sections.
func writeReport(o options, m machine, res *results, charts []chart) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Shoal benchmark\n\n")
	machineHeader(&b, o, m)
	var closed, open bool
	for _, c := range res.cases {
		if c.rate > 0 {
			open = true
			continue
		}
		closed = true
		fmt.Fprintf(&b, "\n## echo: %d connections, %d B messages, pipeline depth %d\n\n", c.conns, c.size, c.depth)
		echoTable(&b, res.engines, res.echo[c], false)
	}
	if closed {
		b.WriteString(echoLegend)
		embedCharts(&b, charts, "echo")
	}
	if open {
		openSection(&b, res)
		embedCharts(&b, charts, "open")
	}
	if res.idle != nil {
		fmt.Fprintf(&b, "\n## idle: %d connections, one 64 B echo each, then %v idle\n\n", res.idleN, idleSettle)
		idleTable(&b, res.engines, res.idle)
		b.WriteString(idleLegend)
		embedCharts(&b, charts, "idle")
	}
	if res.connect != nil {
		connectSection(&b, o, res.engines, res.connect)
		embedCharts(&b, charts, "connect")
	}
	if res.push != nil {
		pushSection(&b, o, res.push)
	}
	if res.http != nil {
		httpSection(&b, o, res.http)
		embedCharts(&b, charts, "http")
	}
	return b.String()
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
	perCPU := map[string]spread{}
	for _, e := range engines {
		runs := okRuns(byEngine[e], func(r echoRun) bool { return r.ok })
		perCPU[e] = spreadOf(collect(runs, func(r echoRun) float64 { return r.perCPU }))
	}
	for _, e := range engines {
		all := byEngine[e]
		runs := okRuns(all, func(r echoRun) bool { return r.ok })
		var errs int64
		for _, r := range all {
			errs += r.errors
		}
		f := func(g func(echoRun) float64, fm func(float64) string) string {
			return fmtSpread(spreadOf(collect(runs, g)), fm)
		}
		lagCell := ""
		if lag {
			lagCell = " " + f(func(r echoRun) float64 { return r.lagus }, fmtFloat1) + " |"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |%s %s | %s | %s | %s | %s | %d |\n", e,
			f(func(r echoRun) float64 { return r.msgsSec }, fmtCount),
			f(func(r echoRun) float64 { return r.p50us }, fmtFloat1),
			f(func(r echoRun) float64 { return r.p99us }, fmtFloat1),
			f(func(r echoRun) float64 { return r.p999us }, fmtFloat1),
			lagCell,
			f(func(r echoRun) float64 { return r.cpuSec }, fmtFloat2),
			fmtSpread(perCPU[e], fmtCount),
			ratio(perCPU[e], perCPU["stdnet"]),
			ratio(perCPU[e], perCPU["gnet"]),
			f(func(r echoRun) float64 { return r.rssMiB }, fmtFloat1),
			errs)
	}
}

func idleTable(b *strings.Builder, engines []string, byEngine map[string][]idleRun) {
	b.WriteString("| engine | KiB per connection | server RSS before (MiB) | server RSS after (MiB) | connections | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, e := range engines {
		all := byEngine[e]
		runs := okRuns(all, func(r idleRun) bool { return r.ok })
		var errs int64
		for _, r := range all {
			errs += r.errors
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %d |\n", e,
			fmtSpread(spreadOf(collect(runs, func(r idleRun) float64 { return r.kibConn })), fmtFloat1),
			fmtSpread(spreadOf(collect(runs, func(r idleRun) float64 { return r.beforeMiB })), fmtFloat1),
			fmtSpread(spreadOf(collect(runs, func(r idleRun) float64 { return r.afterMiB })), fmtFloat1),
			fmtSpread(spreadOf(collect(runs, func(r idleRun) float64 { return r.conns })), fmtInt),
			errs)
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

const idleLegend = `
KiB per connection is (server RSS with the connections open − server RSS before) ÷ connections,
median over runs, min–max in parentheses. It counts the server process's own memory: socket
buffers live in the kernel and are not part of its RSS.
`

func fmtSpread(s spread, f func(float64) string) string {
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 || s.lo == s.hi {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), f(s.lo), f(s.hi))
}

func ratio(a, b spread) string {
	if a.n == 0 || b.n == 0 || b.med == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a.med/b.med)
}

func fmtCount(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}

func fmtFloat1(x float64) string { return fmt.Sprintf("%.1f", x) }
func fmtFloat2(x float64) string { return fmt.Sprintf("%.2f", x) }

// engineModules maps the peer engines to their modules, whose pinned
// versions the report takes from the build information.
var engineModules = map[string]string{
	"gnet":    "github.com/panjf2000/gnet/v2",
	"netpoll": "github.com/cloudwego/netpoll",
	"nbio":    "github.com/lesismal/nbio",
}

// engineVersions names the version of every engine compared: the peers'
// pinned modules, the Go release behind stdnet, the commit of the local
// shoal, and the histogram library of the load generator.
func engineVersions(engines []string) string {
	deps := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			deps[d.Path] = d.Version
		}
	}
	var parts []string
	for _, e := range engines {
		switch e {
		case "shoal":
			parts = append(parts, "shoal "+shoalRevision())
		case "stdnet":
			parts = append(parts, "stdnet "+runtime.Version())
		case cEngine:
			parts = append(parts, cEngine+" ("+ccVersion()+" -O2)")
		default:
			m := engineModules[e]
			parts = append(parts, e+" "+deps[m])
		}
	}
	const hdr = "github.com/HdrHistogram/hdrhistogram-go"
	return strings.Join(parts, ", ") + "; latency histograms: hdrhistogram-go " + deps[hdr]
}

// shoalRevision is the commit of the working tree the bench module replaces
// shoal with (read-only git query; "local" if git is unavailable).
func shoalRevision() string {
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "(local ../)"
	}
	return "(local ../ at " + strings.TrimSpace(string(out)) + ")"
}

func fmtInt(x float64) string { return fmt.Sprintf("%.0f", x) }
