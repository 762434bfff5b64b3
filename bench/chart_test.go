package main

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeResults is a small result of every charted scenario, three runs per
// engine, one of them failed.
func fakeResults() (options, *results) {
	o := options{runs: 3, connectWorkers: 16, httpConns: []int{100}}
	engines := []string{"shoal", "stdnet", "gnet"}
	res := &results{
		engines: engines,
		echo:    map[echoCase]map[string][]echoRun{},
		idleN:   1000,
		idle:    map[string][]idleRun{},
		connect: map[string][]connectRun{},
		http: &httpResults{
			engines: append([]string{httpBaseline}, engines...),
			cases:   []httpCase{{conns: 100, depth: 1}, {conns: 100, depth: 16}},
			runs:    map[httpCase]map[string][]httpRun{},
			wrk:     "/usr/bin/wrk",
			wrkRuns: map[int]map[string][]wrkRun{100: {}},
		},
	}
	for _, c := range []echoCase{{conns: 100, size: 64, depth: 1}, {conns: 100, size: 1024, depth: 16}, {conns: 100, size: 64, rate: 10000}} {
		res.cases = append(res.cases, c)
		res.echo[c] = map[string][]echoRun{}
	}
	for i, e := range engines {
		x := float64(i + 1)
		for _, c := range res.cases {
			res.echo[c][e] = []echoRun{
				{ok: true, perCPU: 100e3 * x, p99us: 500 * x},
				{ok: true, perCPU: 120e3 * x, p99us: 450 * x},
				{errors: 1},
			}
		}
		res.idle[e] = []idleRun{{ok: true, kibConn: 0.3 * x}, {ok: true, kibConn: 0.4 * x}}
		res.connect[e] = []connectRun{{ok: true, connsSec: 9000 / x, cpuPer1k: 80 * x}}
	}
	for _, e := range res.http.engines {
		for _, c := range res.http.cases {
			if res.http.runs[c] == nil {
				res.http.runs[c] = map[string][]httpRun{}
			}
			res.http.runs[c][e] = []httpRun{{ok: true, perCPU: 150e3}, {ok: true, perCPU: 170e3}}
		}
		res.http.wrkRuns[100][e] = []wrkRun{{ok: true, perCPU: 140e3}}
	}
	return o, res
}

func TestReportCharts(t *testing.T) {
	o, res := fakeResults()
	charts := reportCharts(o, res)
	var names []string
	for _, c := range charts {
		names = append(names, c.name)
	}
	want := []string{"echo-per-cpu", "echo-p99", "open-p99", "idle-per-conn", "connect", "http-per-cpu"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("charts %v, want %v", names, want)
	}
	// echo-per-cpu: a panel per pipeline depth, the failed run left out.
	perCPU := charts[0]
	if len(perCPU.panels) != 2 || perCPU.panels[1].title != "pipeline depth 16" || perCPU.panels[1].groups[0] != "100 conns, 1 KiB" {
		t.Fatalf("echo panels %+v", perCPU.panels)
	}
	if got := perCPU.panels[0].series[1].vals[0]; got.n != 2 || got.med != 220e3 || got.lo != 200e3 || got.hi != 240e3 {
		t.Errorf("stdnet at pipeline 1: %+v, want median 220k of 2 runs, 200k–240k", got)
	}
	// http: the baseline first, a panel per depth of our client and one of wrk.
	h := charts[5]
	if len(h.panels) != 3 || h.panels[2].title != "wrk, no pipelining" || h.panels[0].series[0].name != httpBaseline {
		t.Errorf("http panels %+v", h.panels)
	}
}

func TestChartFile(t *testing.T) {
	tests := []struct{ base, name, want string }{
		{"full", "echo-per-cpu", "full-echo-per-cpu.png"},
		{"idle", "idle-per-conn", "idle-per-conn.png"},
		{"echo-10k", "echo-p99", "echo-10k-echo-p99.png"},
	}
	for _, tt := range tests {
		if got := chartFile(tt.base, tt.name); got != tt.want {
			t.Errorf("chartFile(%q, %q) = %q, want %q", tt.base, tt.name, got, tt.want)
		}
	}
}

// TestWriteChartsPNG runs the chart command (go run ./chart) on a small
// fake result and decodes every PNG it wrote.
func TestWriteChartsPNG(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	o, res := fakeResults()
	out := filepath.Join(t.TempDir(), "fake.md")
	charts, err := writeCharts(out, o, res)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fake-echo-per-cpu.png", "fake-echo-p99.png", "fake-open-p99.png", "fake-idle-per-conn.png", "fake-connect.png", "fake-http-per-cpu.png"}
	if len(charts) != len(want) {
		t.Fatalf("wrote %d charts, want %d", len(charts), len(want))
	}
	for i, c := range charts {
		if c.file != want[i] {
			t.Errorf("chart %d is %s, want %s", i, c.file, want[i])
		}
		f, err := os.Open(filepath.Join(filepath.Dir(out), c.file))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 300 {
			t.Errorf("%s is %v, too small", c.file, b)
		}
	}
}

func TestReportLinksCharts(t *testing.T) {
	o, res := fakeResults()
	charts, err := writeCharts(filepath.Join(t.TempDir(), "fake.md"), o, res)
	if err != nil {
		t.Fatal(err)
	}
	report := writeReport(o, machine{}, res, charts)
	for _, c := range charts {
		if link := "](" + c.file + ")"; !strings.Contains(report, link) {
			t.Errorf("report has no link to %s", c.file)
		}
	}
	if none := writeReport(o, machine{}, res, nil); strings.Contains(none, ".png") {
		t.Error("report without charts links a PNG")
	}
}
