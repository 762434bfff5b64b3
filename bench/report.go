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
