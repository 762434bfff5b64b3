package main

import (
	"fmt"
	"strings"
)

// wsVersions names the WebSocket servers compared: shoal's commit and the
// pinned versions of the others' modules.
func wsVersions(engines []string) string {
	deps := moduleVersions()
	var parts []string
	for _, e := range engines {
		if m, ok := wsModules[e]; ok {
			parts = append(parts, fmt.Sprintf("%s (%s %s)", e, m, deps[m]))
		} else {
			parts = append(parts, e+" "+shoalRevision())
		}
	}
	return strings.Join(parts, ", ")
}

func (s wsScenario) section(b *strings.Builder, o options, res *results) {
	switch {
	case s.idle && res.wsIdle != nil:
		wsIdleSection(b, res.wsIdle)
	case !s.idle && res.ws != nil:
		wsSection(b, o, res.ws)
	}
}

// wsPeer returns the best WebSocket peer of shoal in perCPU, or "".
func wsPeer(engines []string, perCPU map[string]spread) string {
	return bestOf(engines, perCPU, "shoal", wsRawEngine)
}

func wsSection(b *strings.Builder, o options, r *wsResults) {
	fmt.Fprintf(b, "\n## WebSocket echo\n\n")
	fmt.Fprintf(b, "Binary messages, one frame each way, masked by the client; every echo checked. "+
		"%s is shoal's raw echo under the echo scenario's load with the same connections, sizes and depth. "+
		"Warm-up %v, measured %v.\n\n", wsRawEngine, o.warmup, o.duration)
	b.WriteString("| load | shoal msgs per server CPU-s | best peer | its msgs per server CPU-s | shoal ÷ best peer | " +
		wsRawEngine + " msgs per server CPU-s | shoal ÷ " + wsRawEngine + " |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|\n")
	for _, l := range r.loads {
		perCPU := spreads(r.engines, r.runs[l], func(x echoRun) float64 { return x.perCPU })
		peer := wsPeer(r.engines, perCPU)
		peerCell := "–"
		if peer != "" {
			peerCell = peer
		}
		fmt.Fprintf(b, "| %d conns, %s, depth %d | %s | %s | %s | %s | %s | %s |\n", l.conns, fmtSize(l.size), l.depth,
			fmtSpread(perCPU["shoal"], fmtCount), peerCell, fmtSpread(perCPU[peer], fmtCount),
			ratio(perCPU["shoal"], perCPU[peer]), fmtSpread(perCPU[wsRawEngine], fmtCount),
			ratio(perCPU["shoal"], perCPU[wsRawEngine]))
	}
	for _, l := range r.loads {
		fmt.Fprintf(b, "\n### WebSocket echo: %d connections, %s messages, depth %d\n\n", l.conns, fmtSize(l.size), l.depth)
		wsTable(b, r.engines, r.runs[l])
	}
	b.WriteString(wsLegend)
}

func wsTable(b *strings.Builder, engines []string, byEngine map[string][]echoRun) {
	perCPU := spreads(engines, byEngine, func(r echoRun) float64 { return r.perCPU })
	peer := wsPeer(engines, perCPU)
	fmt.Fprintf(b, "| engine | msgs/s | p50 (µs) | p99 (µs) | p999 (µs) | server CPU (s) | msgs per server CPU-s | vs best peer%s | vs %s | server RSS (MiB) | errors |\n",
		peerName(peer), wsRawEngine)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, e := range engines {
		row := rowOf(byEngine[e])
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", e,
			row.cell(func(r echoRun) float64 { return r.msgsSec }, fmtCount),
			row.cell(func(r echoRun) float64 { return r.p50us }, fmtFloat1),
			row.cell(func(r echoRun) float64 { return r.p99us }, fmtFloat1),
			row.cell(func(r echoRun) float64 { return r.p999us }, fmtFloat1),
			row.cell(func(r echoRun) float64 { return r.cpuSec }, fmtFloat2),
			against(perCPU, e, fmtCount, ratio, peer, wsRawEngine),
			row.cell(func(r echoRun) float64 { return r.rssMiB }, fmtFloat1),
			row.errs)
	}
}

const wsLegend = `
Each connection keeps "depth" binary messages in flight, each starting with its send stamp, and
writes one more for every echo read back whole; an echo must be one unmasked binary frame with
the payload sent. The client's frame is built once per connection (fixed mask), so a message
costs it a copy and 8 masked bytes. msgs/s, p50/p99/p999, server CPU, RSS and errors as in the
echo tables (the handshakes are done before the warm-up). "vs" columns divide the medians of msgs
per server CPU-s: "vs best peer" by the WebSocket server other than shoal with the highest median,
"vs shoal-raw" by shoal's raw echo of the same load (below 1: what the WebSocket layer costs);
shoal ÷ shoal-raw in the first table is the same ratio for shoal's row.
`

func wsIdleSection(b *strings.Builder, r *wsIdleResults) {
	fmt.Fprintf(b, "\n## wsidle: memory per idle WebSocket connection\n\n")
	fmt.Fprintf(b, "Each connection is upgraded, makes one checked %d B binary echo, then sits idle for %v.\n\n", idleMsgSize, idleSettle)
	b.WriteString("| engine |")
	align := "|---|"
	for _, n := range r.counts {
		fmt.Fprintf(b, " KiB per connection, %d conns |", n)
		align += "---:|"
	}
	b.WriteString("\n" + align + "\n")
	for _, e := range r.engines {
		b.WriteString("| " + e + " |")
		for _, n := range r.counts {
			b.WriteString(" " + rowOf(r.runs[n][e]).cell(func(x idleRun) float64 { return x.kibConn }, fmtFloat1) + " |")
		}
		b.WriteString("\n")
	}
	for _, n := range r.counts {
		fmt.Fprintf(b, "\n### wsidle: %d connections\n\n", n)
		idleTable(b, r.engines, r.runs[n])
	}
	b.WriteString(idleLegend)
}

// wsCharts returns the charts of the WebSocket scenarios that ran.
func wsCharts(res *results) []chart {
	var cs []chart
	if r := res.ws; r != nil {
		var groups []string
		for _, l := range r.loads {
			groups = append(groups, fmt.Sprintf("%d conns, %s, depth %d", l.conns, fmtSize(l.size), l.depth))
		}
		panel := func(ylabel string, f func(echoRun) float64) []panel {
			return []panel{{
				title: "binary messages, one frame each way", ylabel: ylabel, groups: groups,
				series: engineSeries(r.engines, len(r.loads), func(e string, i int) spread {
					return rowOf(r.runs[r.loads[i]][e]).spread(f)
				}),
			}}
		}
		cs = append(cs,
			chart{section: "ws", name: "ws-per-cpu", title: "WebSocket echo: messages per server CPU-second (higher is better)",
				panels: panel("msgs per server CPU-s", func(x echoRun) float64 { return x.perCPU })},
			chart{section: "ws", name: "ws-p99", title: "WebSocket echo: p99 latency (µs, lower is better)",
				panels: panel("p99 (µs)", func(x echoRun) float64 { return x.p99us })})
	}
	if r := res.wsIdle; r != nil {
		var groups []string
		for _, n := range r.counts {
			groups = append(groups, fmt.Sprintf("%d conns", n))
		}
		cs = append(cs, chart{
			section: "wsidle", name: "wsidle-per-conn",
			title: "wsidle: server memory per idle WebSocket connection (KiB, lower is better)",
			panels: []panel{{
				title: "upgraded, one echo, idle", ylabel: "KiB per connection", groups: groups,
				series: engineSeries(r.engines, len(r.counts), func(e string, i int) spread {
					return rowOf(r.runs[r.counts[i]][e]).spread(func(x idleRun) float64 { return x.kibConn })
				}),
			}},
		})
	}
	return cs
}
