package main

import (
	"strings"
	"testing"
)

// TestTLSSection: the TLS report has each load's table with the ratio to
// its baseline, and the idle table.
func TestTLSSection(t *testing.T) {
	run := func(perCPU float64) []tlsRun { return []tlsRun{{ok: true, perSec: perCPU, cpuSec: 1, perCPU: perCPU}} }
	r := &tlsResults{
		handshakes: map[string][]tlsRun{"nethttp": run(1000), "shoal": run(1100), "nbio": run(900)},
		requests:   map[string][]tlsRun{"nethttp": run(40000), "shoal": run(80000), "nbio": run(40000)},
		wss:        map[string][]tlsRun{"gorilla": run(50000), "shoal": run(75000), "nbio": run(40000)},
		idle: map[string][]idleRun{"nethttp": {{ok: true, kibConn: 40, conns: 10}}, "shoal": {{ok: true, kibConn: 10, conns: 10}},
			"nbio": {{ok: true, kibConn: 12, conns: 10}}},
		idleN: 10,
	}
	var b strings.Builder
	tlsScenario{}.section(&b, options{}, &results{tls: r})
	for _, want := range []string{
		"| shoal | 1100 | 1.00 | 1100 | 1.10× |",
		"| shoal | 80.0k | 1.00 | 80.0k | 2.00× |",
		"| shoal | 75.0k | 1.00 | 75.0k | 1.50× |",
		"| msgs per server CPU-s | vs gorilla |",
		"shoal ÷ nethttp in KiB per connection: 0.25×.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
