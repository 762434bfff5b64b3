package main

import (
	"fmt"
	"strings"
)

// pubsubVersions names the fan-out servers compared: shoal's commit and
// the pinned versions of the others' modules.
func pubsubVersions(engines []string) string {
	deps := moduleVersions()
	var parts []string
	for _, e := range engines {
		if m, ok := pubsubModules[e]; ok {
			parts = append(parts, fmt.Sprintf("%s (%s %s)", e, m, deps[m]))
		} else {
			parts = append(parts, e+" "+shoalRevision())
		}
	}
	return strings.Join(parts, ", ")
}

func (pubsubScenario) section(b *strings.Builder, o options, res *results) {
	if res.pubsub != nil {
		pubsubSection(b, o, res.pubsub)
	}
}

// pubsubPeers are the engines other than shoal, which the "vs" columns
// divide by.
func pubsubPeers(engines []string) []string {
	var peers []string
	for _, e := range engines {
		if e != "shoal" {
			peers = append(peers, e)
		}
	}
	return peers
}

func pubsubSection(b *strings.Builder, o options, r *pubsubResults) {
	fmt.Fprintf(b, "\n## pubsub: fan-out over WebSocket\n\n")
	fmt.Fprintf(b, "One topic, every subscriber on it; the server publishes %d B JSON messages at a fixed rate. "+
		"Warm-up %v of publishing, measured %v.\n\n", pubsubMsgSize, o.pubsubWarmup, o.pubsubDuration)
	peers := pubsubPeers(r.engines)
	b.WriteString("| load |")
	align := "|---|"
	for _, e := range r.engines {
		fmt.Fprintf(b, " %s deliveries per server CPU-s |", e)
		align += "---:|"
	}
	if has(r.engines, "shoal") {
		for _, p := range peers {
			fmt.Fprintf(b, " shoal ÷ %s |", p)
			align += "---:|"
		}
	}
	for _, e := range r.engines {
		fmt.Fprintf(b, " %s p99 (ms) |", e)
		align += "---:|"
	}
	for _, e := range r.engines {
		fmt.Fprintf(b, " %s p99 from send (ms) |", e)
		align += "---:|"
	}
	for _, e := range r.engines {
		fmt.Fprintf(b, " %s made |", e)
		align += "---:|"
	}
	for _, e := range r.engines {
		fmt.Fprintf(b, " %s KiB per subscriber |", e)
		align += "---:|"
	}
	b.WriteString("\n" + align + "\n")
	for _, l := range r.loads {
		byEngine := r.runs[l]
		perCPU := spreads(r.engines, byEngine, func(x pubsubRun) float64 { return x.perCPU })
		b.WriteString("| " + l.title() + " |")
		for _, e := range r.engines {
			b.WriteString(" " + fmtSpread(perCPU[e], fmtCount) + " |")
		}
		if has(r.engines, "shoal") {
			for _, p := range peers {
				b.WriteString(" " + ratio(perCPU["shoal"], perCPU[p]) + " |")
			}
		}
		for _, f := range []struct {
			get    func(pubsubRun) float64
			format func(float64) string
		}{
			{func(x pubsubRun) float64 { return x.p99ms }, fmtFloat1},
			{func(x pubsubRun) float64 { return x.sentP99ms }, fmtFloat1},
			{func(x pubsubRun) float64 { return x.made }, fmtPct},
			{func(x pubsubRun) float64 { return x.kibSub }, fmtFloat1},
		} {
			for _, e := range r.engines {
				b.WriteString(" " + fmtSpread(rowOf(byEngine[e]).spread(f.get), f.format) + " |")
			}
		}
		b.WriteString("\n")
	}
	for _, l := range r.loads {
		fmt.Fprintf(b, "\n### pubsub: %s (%s deliveries/s asked)\n\n", l.title(), fmtCount(l.asked()))
		pubsubTable(b, r.engines, r.runs[l])
	}
	b.WriteString(pubsubLegend)
}

func has(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func pubsubTable(b *strings.Builder, engines []string, byEngine map[string][]pubsubRun) {
	perCPU := spreads(engines, byEngine, func(r pubsubRun) float64 { return r.perCPU })
	peers := pubsubPeers(engines)
	b.WriteString("| server | deliveries/s | made | p50 (ms) | p99 (ms) | p999 (ms) | max (ms) | p50 from send (ms) | p99 from send (ms) | server CPU (s) | deliveries per server CPU-s |")
	align := "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for _, p := range peers {
		b.WriteString(" vs " + p + " |")
		align += "---:|"
	}
	b.WriteString(" client CPU (s) | server RSS subscribed (MiB) | KiB per subscriber | server RSS at the end (MiB) | KiB per subscriber at the end | missing | dropped | errors |\n")
	b.WriteString(align + "---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, e := range engines {
		row := rowOf(byEngine[e])
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", e,
			row.cell(func(r pubsubRun) float64 { return r.perSec }, fmtCount),
			row.cell(func(r pubsubRun) float64 { return r.made }, fmtPct),
			row.cell(func(r pubsubRun) float64 { return r.p50ms }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.p99ms }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.p999ms }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.maxms }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.sentP50ms }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.sentP99ms }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.cpuSec }, fmtFloat2),
			against(perCPU, e, fmtCount, ratio, peers...),
			row.cell(func(r pubsubRun) float64 { return r.clientCPU }, fmtFloat2),
			row.cell(func(r pubsubRun) float64 { return r.rssSubMiB }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.kibSub }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.rssEndMiB }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.kibSubEnd }, fmtFloat1),
			row.cell(func(r pubsubRun) float64 { return r.missing }, fmtInt),
			row.cell(func(r pubsubRun) float64 { return r.dropped }, fmtInt),
			row.errs)
	}
}

func fmtPct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

const pubsubLegend = `
Every subscriber is a WebSocket connection of the load generator (this process, the same
machine), from source addresses 127.0.0.1-8. shoal: package pubsub's Node on its Memory broker
(defaults), behind http1 and ws on the loops; each connection subscribes on open, and a
publication's frame is one ws.PreparedMessage queued by reference on every subscriber.
centrifuge: its Node with the in-memory broker and its own WebSocket handler, JSON protocol,
defaults; each client sends connect and subscribe, as its SDKs do. gorilla: the hub of
gorilla/websocket's chat example (a hub goroutine handing each message to every client's
buffered channel of 256, dropping a client whose channel is full; a reader and a writer
goroutine per connection, the writer joining the messages already queued into one frame with
newlines; 1 KiB buffers). In each server a publisher goroutine publishes (shoal: Node.Publish,
centrifuge: Node.Publish, gorilla: the hub's broadcast channel) on a fixed schedule, and each
message carries the time it was due, the time it was handed to the library and its sequence
number; a publisher that is held back (a publish that blocks while the library fans out)
publishes at once when it can, so the due time shows the delay and the send time does not.

deliveries/s: publications read whole by all subscribers in the measured window, per second;
made: that ÷ subscribers × rate, the deliveries asked for (a server that falls behind or drops
subscribers makes less). p50-max: from the due time in the message to when the subscriber
had read its frame (one machine, one clock); "from send": from the time the publisher handed it
to the library, which leaves out how long the publisher was held back. server CPU: user+system of the server process
in the window; deliveries per server CPU-s divides the deliveries by it, and "vs" columns
divide its medians. client CPU: the load generator's, for scale: the machine is shared by
both. server RSS subscribed: once every subscriber is subscribed and has been idle for
2s, before any publication; KiB per subscriber: (that − the fresh server's RSS) ÷ subscribers,
and the same at the end of the window, with the queues of the fan-out in it. missing:
publications a subscriber skipped (gaps in its sequence), and every publication for a subscriber
that read none; dropped: subscribers whose connection ended before the end of the run (a
slow-subscriber close); errors: failed subscribes and lines that were no publication or out of
order.
`

// pubsubCharts returns the charts of the pubsub scenario, if it ran.
func pubsubCharts(res *results) []chart {
	r := res.pubsub
	if r == nil {
		return nil
	}
	var groups []string
	for _, l := range r.loads {
		groups = append(groups, l.title())
	}
	panel := func(ylabel string, f func(pubsubRun) float64) []panel {
		return []panel{{
			title: fmt.Sprintf("one topic, %d B JSON messages over WebSocket", pubsubMsgSize), ylabel: ylabel, groups: groups,
			series: engineSeries(r.engines, len(r.loads), func(e string, i int) spread {
				return rowOf(r.runs[r.loads[i]][e]).spread(f)
			}),
		}}
	}
	return []chart{
		{section: "pubsub", name: "pubsub-per-cpu", title: "pubsub: deliveries per server CPU-second (higher is better)",
			panels: panel("deliveries per server CPU-s", func(x pubsubRun) float64 { return x.perCPU })},
		{section: "pubsub", name: "pubsub-p99", title: "pubsub: p99 latency from the due time (ms, lower is better)",
			panels: panel("p99 (ms)", func(x pubsubRun) float64 { return x.p99ms })},
		{section: "pubsub", name: "pubsub-per-sub", title: "pubsub: server memory per subscriber, subscribed (KiB, lower is better)",
			panels: panel("KiB per subscriber", func(x pubsubRun) float64 { return x.kibSub })},
	}
}
