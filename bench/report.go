package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
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

// writeReport renders the results as markdown.
func writeReport(o options, res *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Shoal benchmark\n\n")
	machineHeader(&b, o)
	var closed, open bool
	for _, c := range res.cases {
		if c.rate > 0 {
			open = true
			continue
		}
		closed = true
		fmt.Fprintf(&b, "\n## echo: %d connections, %d B messages, pipeline depth %d\n\n", c.conns, c.size, c.depth)
		echoTable(&b, res.engines, res.echo[c])
	}
	if closed {
		b.WriteString(echoLegend)
	}
	if open {
		openSection(&b, res)
	}
	if res.idle != nil {
		fmt.Fprintf(&b, "\n## idle: %d connections, one 64 B echo each, then %v idle\n\n", res.idleN, idleSettle)
		idleTable(&b, res.engines, res.idle)
		b.WriteString(idleLegend)
	}
	if res.connect != nil {
		connectSection(&b, o, res.engines, res.connect)
	}
	if res.push != nil {
		pushSection(&b, o, res.push)
	}
	if res.http != nil {
		httpSection(&b, o, res.http)
	}
	return b.String()
}

func echoTable(b *strings.Builder, engines []string, byEngine map[string][]echoRun) {
	b.WriteString("| engine | msgs/s | p50 (µs) | p99 (µs) | p999 (µs) | server CPU (s) | msgs per server CPU-s | vs stdnet | vs gnet | server RSS (MiB) | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
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
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", e,
			fmtSpread(spreadOf(collect(runs, func(r echoRun) float64 { return r.msgsSec })), fmtCount),
			fmtSpread(spreadOf(collect(runs, func(r echoRun) float64 { return r.p50us })), fmtFloat1),
			fmtSpread(spreadOf(collect(runs, func(r echoRun) float64 { return r.p99us })), fmtFloat1),
			fmtSpread(spreadOf(collect(runs, func(r echoRun) float64 { return r.p999us })), fmtFloat1),
			fmtSpread(spreadOf(collect(runs, func(r echoRun) float64 { return r.cpuSec })), fmtFloat2),
			fmtSpread(perCPU[e], fmtCount),
			ratio(perCPU[e], perCPU["stdnet"]),
			ratio(perCPU[e], perCPU["gnet"]),
			fmtSpread(spreadOf(collect(runs, func(r echoRun) float64 { return r.rssMiB })), fmtFloat1),
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

// machineHeader describes the machine, the toolchain, the peers' versions
// and the settings of the run.
func machineHeader(b *strings.Builder, o options) {
	fmt.Fprintf(b, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(b, "- CPU: %s, %d logical CPUs, GOMAXPROCS %d\n", cpuModel(), pinned.cpus(runtime.NumCPU()), runtime.GOMAXPROCS(0))
	fmt.Fprintf(b, "- kernel: %s\n", kernel())
	fmt.Fprintf(b, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(b, "- engines: %s\n", engineVersions(o.engines))
	fmt.Fprintf(b, "- settings: %d run(s) per engine and case, engines alternated run by run, each run in a fresh server process; ", o.runs)
	if o.has("echo") || o.has("open") || o.has("connect") {
		fmt.Fprintf(b, "echo, open loop, connect: warm-up %v, measured %v; ", o.warmup, o.duration)
	}
	fmt.Fprintf(b, "server loops %d; client and server on the same machine over loopback\n", o.loops)
	fmt.Fprintf(b, "- CPU pinning: %v\n", pinned)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	return cString(u.Sysname[:]) + " " + cString(u.Release[:]) + " " + cString(u.Machine[:])
}

// cString converts a NUL-terminated utsname field (int8 or uint8 depending
// on the architecture) to a string.
func cString[T int8 | uint8](a []T) string {
	var sb strings.Builder
	for _, c := range a {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

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
