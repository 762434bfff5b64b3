package main

import (
	"fmt"
	"io"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// result is what a load run measured.
type result struct {
	nofileSoft, nofileHard uint64

	setup        time.Duration // connecting and subscribing every subscriber
	publishTime  time.Duration // from the first publish until the last was sent
	lastDelivery time.Duration // first publish until the last delivery

	subsPerTopic []int
	subs         []*subscriber
	published    uint64 // PUB frames sent
	expected     uint64 // sum over topics of published × subscribers
	acked        uint64 // sum of the PUB ACK counts
	errs         uint64 // PUBs that failed
	dropped      int    // subscribers the server closed during the run
	incomplete   int    // subscribers that did not get every message of their topic
	disorder     uint64 // messages out of order or duplicated
	foreign      uint64 // messages without the load tool's header

	e2e, server *hdrhistogram.Histogram // µs

	loadRSS, serverRSS, heapSys uint64
	goroutines                  int
}

// delivered returns the messages the subscribers have received so far.
func (r *result) delivered() uint64 {
	var n uint64
	for _, s := range r.subs {
		n += s.got.Load()
	}
	return n
}

// ok reports whether every message reached every subscriber once, in
// order.
func (r *result) ok() bool {
	return r.delivered() == r.expected && r.acked == r.expected && r.errs == 0 && r.dropped == 0 &&
		r.incomplete == 0 && r.disorder == 0 && r.foreign == 0
}

// print writes the result as a Markdown table.
func (r *result) print(w io.Writer, cfg config) {
	delivered := r.delivered()
	verdict := "PASS: every message delivered to every subscriber, once, in order"
	if !r.ok() {
		verdict = "FAIL"
	}
	rate := 0.0
	if r.lastDelivery > 0 {
		rate = float64(delivered) / r.lastDelivery.Seconds()
	}
	rows := [][2]string{
		{"subscribers / publishers / topics", fmt.Sprintf("%s / %d / %d", grouped(uint64(cfg.subs)), cfg.pubs, cfg.topics)},
		{"publish rate, payload, duration", fmt.Sprintf("%g msg/s per publisher, %d B, %v", cfg.rate, cfg.size, cfg.duration)},
		{"setup (connect + SUB, all subscribers)", r.setup.Round(time.Millisecond).String()},
		{"published (time taken)", fmt.Sprintf("%s (%v)", grouped(r.published), r.publishTime.Round(time.Millisecond))},
		{"expected deliveries (published × subscribers of the topic)", grouped(r.expected)},
		{"handed to subscribers (sum of PUB ACK counts)", grouped(r.acked)},
		{"delivered", grouped(delivered)},
		{"missing", grouped(r.expected - min(delivered, r.expected))},
		{"out of order or duplicate / failed PUBs", fmt.Sprintf("%d / %d", r.disorder, r.errs)},
		{"subscribers incomplete / closed by the server", fmt.Sprintf("%d / %d", r.incomplete, r.dropped)},
		{"delivery rate (first publish to last delivery)", fmt.Sprintf("%s msg/s over %v", grouped(uint64(rate)), r.lastDelivery.Round(time.Millisecond))},
		{"latency publish → delivery p50 / p90 / p99 / p99.9 / max", percentiles(r.e2e)},
		{"latency server stamp → delivery p50 / p90 / p99 / p99.9 / max", percentiles(r.server)},
		{"load tool: peak RSS, heap, goroutines", fmt.Sprintf("%s, %s, %s", mib(r.loadRSS), mib(r.heapSys), grouped(uint64(r.goroutines)))},
		{"descriptor limit (soft / hard)", fmt.Sprintf("%d / %d", r.nofileSoft, r.nofileHard)},
	}
	if cfg.serverPID > 0 {
		rows = append(rows, [2]string{"server: peak RSS", mib(r.serverRSS)})
	}
	fmt.Fprintf(w, "| measure | value |\n|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s |\n", row[0], row[1])
	}
	fmt.Fprintf(w, "\n%s\n", verdict)
}

func percentiles(h *hdrhistogram.Histogram) string {
	if h == nil || h.TotalCount() == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s / %s / %s / %s", us(h.ValueAtQuantile(50)), us(h.ValueAtQuantile(90)),
		us(h.ValueAtQuantile(99)), us(h.ValueAtQuantile(99.9)), us(h.Max()))
}

// us formats microseconds.
func us(v int64) string {
	return (time.Duration(v) * time.Microsecond).Round(10 * time.Microsecond).String()
}

func mib(b uint64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// grouped formats n with thousands separators.
func grouped(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
