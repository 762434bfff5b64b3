package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/shoalnet/shoal/bench/internal/chartspec"
)

// The charts of a report are PNG files next to it, named after it
// (results/full.md → results/full-echo-per-cpu.png), built from the same
// results as its tables and linked from the section they illustrate. This
// file decides what they show; the chart command (./chart) draws them, in
// a process of its own so that the plotting library never runs in this
// binary, which is also every server's.

// chart is one chart of the report and the section it belongs under.
type chart struct {
	section string // echo, open, idle, connect, http, ws, wsidle or pubsub
	name    string // the file name after the report's: "echo-per-cpu"
	title   string
	panels  []panel
	file    string // the file name once written, relative to the report
}

// panel is one grouped bar chart: for every group on the X axis, one bar
// per series, each the median over runs with a min–max whisker.
type panel struct {
	title  string
	ylabel string
	groups []string
	series []series
}

// series is one engine's bars in a panel.
type series struct {
	name string
	vals []spread // one per group; n == 0 draws no bar
}

// reportCharts returns the charts of res, in report order; a scenario that
// did not run has none.
func reportCharts(o options, res *results) []chart {
	var cs []chart
	cs = append(cs, echoCharts(res)...)
	if c, ok := openChart(res); ok {
		cs = append(cs, c)
	}
	if res.idle != nil {
		cs = append(cs, chart{
			section: "idle", name: "idle-per-conn",
			title: "idle: server memory per connection (KiB, lower is better)",
			panels: []panel{{
				title:  fmt.Sprintf("%d idle connections", res.idleN),
				ylabel: "KiB per connection",
				groups: []string{fmt.Sprintf("%d conns", res.idleN)},
				series: engineSeries(res.engines, 1, func(e string, _ int) spread {
					return rowOf(res.idle[e]).spread(func(r idleRun) float64 { return r.kibConn })
				}),
			}},
		})
	}
	if res.connect != nil {
		cs = append(cs, connectChart(o, res))
	}
	if res.http != nil {
		cs = append(cs, httpChart(o, res.http))
	}
	cs = append(cs, wsCharts(res)...)
	return append(cs, pubsubCharts(res)...)
}

// echoCharts returns the msgs per server CPU-s and the p99 charts of the
// closed-loop echo cases: one panel per pipeline depth, one group per
// connection count and message size.
func echoCharts(res *results) []chart {
	var depths []int
	byDepth := map[int][]echoCase{}
	for _, c := range res.cases {
		if c.rate > 0 {
			continue
		}
		if byDepth[c.depth] == nil {
			depths = append(depths, c.depth)
		}
		byDepth[c.depth] = append(byDepth[c.depth], c)
	}
	if len(depths) == 0 {
		return nil
	}
	panels := func(ylabel string, f func(echoRun) float64) []panel {
		var ps []panel
		for _, d := range depths {
			cases := byDepth[d]
			p := panel{title: fmt.Sprintf("pipeline depth %d", d), ylabel: ylabel}
			for _, c := range cases {
				p.groups = append(p.groups, fmt.Sprintf("%d conns, %s", c.conns, fmtSize(c.size)))
			}
			p.series = engineSeries(res.engines, len(cases), func(e string, i int) spread {
				return rowOf(res.echo[cases[i]][e]).spread(f)
			})
			ps = append(ps, p)
		}
		return ps
	}
	return []chart{
		{
			section: "echo", name: "echo-per-cpu",
			title:  "echo: messages per server CPU-second (higher is better)",
			panels: panels("msgs per server CPU-s", func(r echoRun) float64 { return r.perCPU }),
		},
		{
			section: "echo", name: "echo-p99",
			title:  "echo: p99 latency (µs, lower is better)",
			panels: panels("p99 (µs)", func(r echoRun) float64 { return r.p99us }),
		},
	}
}

// openChart returns the p99 chart of the open-loop cases: one group per
// scheduled rate.
func openChart(res *results) (chart, bool) {
	var cases []echoCase
	conns := map[int]bool{}
	for _, c := range res.cases {
		if c.rate > 0 {
			cases = append(cases, c)
			conns[c.conns] = true
		}
	}
	if len(cases) == 0 {
		return chart{}, false
	}
	p := panel{title: fmt.Sprintf("%s messages, fixed schedule", fmtSize(cases[0].size)), ylabel: "p99 (µs)"}
	for _, c := range cases {
		g := fmtCount(float64(c.rate)) + " msgs/s"
		if len(conns) > 1 {
			g = fmt.Sprintf("%d conns, %s", c.conns, g)
		}
		p.groups = append(p.groups, g)
	}
	p.series = engineSeries(res.engines, len(cases), func(e string, i int) spread {
		return rowOf(res.echo[cases[i]][e]).spread(func(r echoRun) float64 { return r.p99us })
	})
	return chart{
		section: "open", name: "open-p99",
		title:  "open loop: p99 latency from the due time (µs, lower is better)",
		panels: []panel{p},
	}, true
}

// connectChart returns the connection rate and the server CPU per 1,000
// connections side by side.
func connectChart(o options, res *results) chart {
	group := []string{fmt.Sprintf("%d workers", o.connectWorkers)}
	col := func(f func(connectRun) float64) []series {
		return engineSeries(res.engines, 1, func(e string, _ int) spread {
			return rowOf(res.connect[e]).spread(f)
		})
	}
	return chart{
		section: "connect", name: "connect",
		title: "connect: dial, one echo, close",
		panels: []panel{
			{title: "connections/s (higher is better)", ylabel: "connections/s", groups: group,
				series: col(func(r connectRun) float64 { return r.connsSec })},
			{title: "server CPU per 1,000 connections (lower is better)", ylabel: "server CPU-ms per 1,000 conns", groups: group,
				series: col(func(r connectRun) float64 { return r.cpuPer1k })},
		},
	}
}

// httpChart returns requests per server CPU-s: one panel per pipeline
// depth of our client, one for wrk, one group per connection count.
func httpChart(o options, h *httpResults) chart {
	c := chart{
		section: "http", name: "http-per-cpu",
		title: "HTTP hello: requests per server CPU-second (higher is better)",
	}
	var depths []int
	byDepth := map[int][]httpCase{}
	for _, hc := range h.cases {
		if byDepth[hc.depth] == nil {
			depths = append(depths, hc.depth)
		}
		byDepth[hc.depth] = append(byDepth[hc.depth], hc)
	}
	for _, d := range depths {
		cases := byDepth[d]
		p := panel{title: fmt.Sprintf("our client, pipeline depth %d", d), ylabel: "requests per server CPU-s"}
		for _, hc := range cases {
			p.groups = append(p.groups, fmt.Sprintf("%d conns", hc.conns))
		}
		p.series = engineSeries(h.engines, len(cases), func(e string, i int) spread {
			return rowOf(h.runs[cases[i]][e]).spread(func(r httpRun) float64 { return r.perCPU })
		})
		c.panels = append(c.panels, p)
	}
	if h.wrk != "" && len(o.httpConns) > 0 {
		p := panel{title: "wrk, no pipelining", ylabel: "requests per server CPU-s"}
		for _, n := range o.httpConns {
			p.groups = append(p.groups, fmt.Sprintf("%d conns", n))
		}
		p.series = engineSeries(h.engines, len(o.httpConns), func(e string, i int) spread {
			return rowOf(h.wrkRuns[o.httpConns[i]][e]).spread(func(r wrkRun) float64 { return r.perCPU })
		})
		c.panels = append(c.panels, p)
	}
	return c
}

// engineSeries returns one series per engine with groups values from f.
func engineSeries(engines []string, groups int, f func(engine string, group int) spread) []series {
	ss := make([]series, 0, len(engines))
	for _, e := range engines {
		s := series{name: e, vals: make([]spread, groups)}
		for i := range groups {
			s.vals[i] = f(e, i)
		}
		ss = append(ss, s)
	}
	return ss
}

func fmtSize(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// writeCharts has the chart command draw the charts of res as PNG files
// next to the report file out, and returns those written, each with its
// file name set.
func writeCharts(out string, o options, res *results) ([]chart, error) {
	base := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
	charts := reportCharts(o, res)
	specs := make([]chartspec.Chart, len(charts))
	for i := range charts {
		charts[i].file = chartFile(base, charts[i].name)
		specs[i] = charts[i].spec()
	}
	if len(specs) == 0 {
		return nil, nil
	}
	in, err := json.Marshal(specs)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(out))
	if err != nil {
		return nil, err
	}
	// Like the push server, the chart command is built from the bench
	// directory, the working directory of every run.
	cmd := exec.Command("go", "run", "./chart", "-dir", dir)
	cmd.Stdin = bytes.NewReader(in)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("charts: go run ./chart: %w\n%s", err, msg)
	}
	return charts, nil
}

// chartFile names the PNG of chart name after the report base name,
// without saying the same thing twice: full + echo-per-cpu →
// full-echo-per-cpu.png, idle + idle-per-conn → idle-per-conn.png.
func chartFile(base, name string) string {
	if strings.HasPrefix(name, base+"-") {
		return name + ".png"
	}
	return base + "-" + name + ".png"
}

// spec returns c as the chart command reads it.
func (c chart) spec() chartspec.Chart {
	s := chartspec.Chart{File: c.file, Title: c.title}
	for _, p := range c.panels {
		sp := chartspec.Panel{Title: p.title, YLabel: p.ylabel, Groups: p.groups}
		for _, se := range p.series {
			ss := chartspec.Series{Name: se.name}
			for _, v := range se.vals {
				ss.Bars = append(ss.Bars, chartspec.Bar{Median: v.med, Min: v.lo, Max: v.hi, Runs: v.n})
			}
			sp.Series = append(sp.Series, ss)
		}
		s.Panels = append(s.Panels, sp)
	}
	return s
}

// embedCharts writes the markdown image links of the charts of section.
func embedCharts(b *strings.Builder, charts []chart, section string) {
	for _, c := range charts {
		if c.section == section {
			fmt.Fprintf(b, "\n![%s](%s)\n", c.title, c.file)
		}
	}
}
