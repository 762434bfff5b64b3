package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
)

// results holds every run, per case and engine, in run order.
type results struct {
	engines  []string
	cases    []echoCase
	echo     map[echoCase]map[string][]echoRun
	idleN    int
	idle     map[string][]idleRun
	httpIdle map[string][]idleRun
	connect  map[string][]connectRun
	push     []pushRun
	http     *httpResults
	ws       *wsResults
	wsIdle   *wsIdleResults
	pubsub   *pubsubResults
	tls      *tlsResults
}

// outcome is what the run of every scenario has: whether it produced
// numbers (a failed run has none) and the errors it counted.
type outcome interface {
	status() (ok bool, errors int64)
}

func (r echoRun) status() (bool, int64)    { return r.ok, r.errors }
func (r idleRun) status() (bool, int64)    { return r.ok, r.errors }
func (r connectRun) status() (bool, int64) { return r.ok, r.errors }
func (r pushRun) status() (bool, int64)    { return r.ok, r.errors }
func (r httpRun) status() (bool, int64)    { return r.ok, r.errors }
func (r wrkRun) status() (bool, int64)     { return r.ok, r.errors }

// row is one engine's runs in a table: ok, those that produced numbers,
// and errs, the errors of all of them.
type row[R outcome] struct {
	ok   []R
	errs int64
}

func rowOf[R outcome](runs []R) row[R] {
	var r row[R]
	for _, x := range runs {
		ok, errs := x.status()
		r.errs += errs
		if ok {
			r.ok = append(r.ok, x)
		}
	}
	return r
}

// spread is the median, minimum and maximum of f over the runs with numbers.
func (r row[R]) spread(f func(R) float64) spread { return spreadOf(collect(r.ok, f)) }

// cell is that spread as a table cell, its numbers written with format.
func (r row[R]) cell(f func(R) float64, format func(float64) string) string {
	return fmtSpread(r.spread(f), format)
}

// spreads returns the spread of f over each engine's runs with numbers.
func spreads[R outcome](engines []string, byEngine map[string][]R, f func(R) float64) map[string]spread {
	m := map[string]spread{}
	for _, e := range engines {
		m[e] = rowOf(byEngine[e]).spread(f)
	}
	return m
}

// writeReport renders the results as markdown, with the image links of
// charts (written next to the report) under their sections.
func writeReport(o options, m machine, res *results, charts []chart) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Shoal benchmark\n\n")
	machineHeader(&b, o, m)
	for _, s := range scenarios {
		s.section(&b, o, res)
		embedCharts(&b, charts, s.name())
	}
	return b.String()
}

func fmtSpread(s spread, f func(float64) string) string {
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 || s.lo == s.hi {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), f(s.lo), f(s.hi))
}

// against is the cells of engine e's spread in by, its numbers written
// with format, and of its ratio vs (ratio, or inverseRatio for a cost) to
// each of others: "x | r1 | r2".
func against(by map[string]spread, e string, format func(float64) string, vs func(a, b spread) string, others ...string) string {
	cells := []string{fmtSpread(by[e], format)}
	for _, o := range others {
		cells = append(cells, vs(by[e], by[o]))
	}
	return strings.Join(cells, " | ")
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
	"gnet":     "github.com/panjf2000/gnet/v2",
	"netpoll":  "github.com/cloudwego/netpoll",
	"nbio":     "github.com/lesismal/nbio",
	"fasthttp": "github.com/valyala/fasthttp",
}

// engineVersions names the version of every engine compared: the peers'
// pinned modules, the Go release behind stdnet, the commit of the local
// shoal, and the histogram library of the load generator.
func engineVersions(engines []string) string {
	deps := moduleVersions()
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

// moduleVersions maps the bench binary's module dependencies to their
// versions (from its build information).
func moduleVersions() map[string]string {
	deps := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			deps[d.Path] = d.Version
		}
	}
	return deps
}
