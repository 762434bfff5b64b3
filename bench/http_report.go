package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// httpSection renders the results of the HTTP scenario.
func httpSection(b *strings.Builder, o options, h *httpResults) {
	fmt.Fprintf(b, "\n## HTTP hello\n\n")
	fmt.Fprintf(b, "GET / answered with 200, `Content-Type: text/plain`, `Content-Length: 13`, `%s`; keep-alive. "+
		"Baseline %s: net/http of %s. Warm-up %v, measured %v.\n", helloBody, httpBaseline, runtime.Version(), o.warmup, o.duration)
	for _, c := range h.cases {
		fmt.Fprintf(b, "\n### HTTP hello: %d connections, pipeline depth %d\n\n", c.conns, c.depth)
		httpTable(b, h.engines, h.runs[c])
	}
	b.WriteString(httpLegend)
	if h.wrk == "" {
		b.WriteString("\n### HTTP hello with wrk\n\nwrk is not on PATH: skipped (`apt-get install wrk`).\n")
		return
	}
	for _, n := range o.httpConns {
		fmt.Fprintf(b, "\n### HTTP hello with wrk: `wrk -t1 -c%d -d%ds --latency`\n\n", n, wrkSeconds(o.duration))
		wrkTable(b, h.engines, h.wrkRuns[n])
	}
	b.WriteString(wrkLegend)
}

// bestPeer returns the engine other than shoal and the baseline with the
// highest median in perCPU, or "".
func bestPeer(engines []string, perCPU map[string]spread) string {
	return bestOf(engines, perCPU, "shoal", httpBaseline)
}

// bestOf returns the engine but those of skip with the highest median in
// perCPU, or "".
func bestOf(engines []string, perCPU map[string]spread, skip ...string) string {
	best := ""
	for _, e := range engines {
		if slices.Contains(skip, e) || perCPU[e].n == 0 {
			continue
		}
		if best == "" || perCPU[e].med > perCPU[best].med {
			best = e
		}
	}
	return best
}

func httpTable(b *strings.Builder, engines []string, byEngine map[string][]httpRun) {
	perCPU := spreads(engines, byEngine, func(r httpRun) float64 { return r.perCPU })
	peer := bestPeer(engines, perCPU)
	fmt.Fprintf(b, "| engine | requests/s | p50 (µs) | p99 (µs) | p999 (µs) | server CPU (s) | requests per server CPU-s | vs %s | vs best peer%s | server RSS (MiB) | errors |\n",
		httpBaseline, peerName(peer))
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, e := range engines {
		row := rowOf(byEngine[e])
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", e,
			row.cell(func(r httpRun) float64 { return r.reqSec }, fmtCount),
			row.cell(func(r httpRun) float64 { return r.p50us }, fmtFloat1),
			row.cell(func(r httpRun) float64 { return r.p99us }, fmtFloat1),
			row.cell(func(r httpRun) float64 { return r.p999us }, fmtFloat1),
			row.cell(func(r httpRun) float64 { return r.cpuSec }, fmtFloat2),
			against(perCPU, e, fmtCount, ratio, httpBaseline, peer),
			row.cell(func(r httpRun) float64 { return r.rssMiB }, fmtFloat1),
			row.errs)
	}
}

func wrkTable(b *strings.Builder, engines []string, byEngine map[string][]wrkRun) {
	perCPU := spreads(engines, byEngine, func(r wrkRun) float64 { return r.perCPU })
	peer := bestPeer(engines, perCPU)
	fmt.Fprintf(b, "| engine | requests/s | p50 (µs) | p90 (µs) | p99 (µs) | server CPU (s) | requests per server CPU-s | vs %s | vs best peer%s | errors |\n",
		httpBaseline, peerName(peer))
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, e := range engines {
		row := rowOf(byEngine[e])
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %d |\n", e,
			row.cell(func(r wrkRun) float64 { return r.reqSec }, fmtCount),
			row.cell(func(r wrkRun) float64 { return r.p50us }, fmtFloat1),
			row.cell(func(r wrkRun) float64 { return r.p90us }, fmtFloat1),
			row.cell(func(r wrkRun) float64 { return r.p99us }, fmtFloat1),
			row.cell(func(r wrkRun) float64 { return r.cpuSec }, fmtFloat2),
			against(perCPU, e, fmtCount, ratio, httpBaseline, peer),
			row.errs)
	}
}

func peerName(peer string) string {
	if peer == "" {
		return ""
	}
	return " (" + peer + ")"
}

const httpLegend = `
Our client: every connection keeps exactly "pipeline depth" requests in flight and writes one
more for each complete response; each response is checked (status 200, Content-Length 13, the
body). p50/p99/p999 run from writing a request to having read its whole response. server CPU
and requests per server CPU-s as in the echo tables. "vs" columns divide the medians of requests
per server CPU-s (above 1 is better than that engine); the best peer is the engine other than
shoal and nethttp with the highest median there. errors counts failed connections, wrong
responses and failed runs.
`

const wrkLegend = `
wrk: one thread, no pipelining; requests/s and its latency percentiles are wrk's own (it does not
check the body). server CPU is the server's CPU time while the measured wrk ran (after a wrk
warm-up of its own); requests per server CPU-s divides wrk's request count by it. errors are
wrk's non-2xx/3xx responses and socket errors, plus failed runs.
`
