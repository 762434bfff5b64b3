package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBarLine(t *testing.T) {
	for _, tc := range []struct {
		step, total   int
		done, planned time.Duration
		want          string
	}{
		{1, 4, 0, 40 * time.Second, "[>                             ] 1/4 echo 100c 64B d16 gnet  ETA 3m10s"},
		{3, 4, 20 * time.Second, 40 * time.Second, "[===============>              ] 3/4 echo 100c 64B d16 gnet  ETA 3m10s"},
		{4, 4, 40 * time.Second, 40 * time.Second, "[==============================] 4/4 echo 100c 64B d16 gnet  ETA 3m10s"},
		{1, 1, 0, 0, "[>                             ] 1/1 echo 100c 64B d16 gnet  ETA 3m10s"},
	} {
		got := barLine(tc.step, tc.total, tc.done, tc.planned, "echo 100c 64B d16 gnet", 190*time.Second)
		if got != tc.want {
			t.Errorf("barLine(%d/%d, %v of %v)\n got %q\nwant %q", tc.step, tc.total, tc.done, tc.planned, got, tc.want)
		}
	}
}

func TestETA(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name                                      string
		planned, doneEst, curEst, doneTook, inCur time.Duration
		want                                      time.Duration
	}{
		{"nothing done yet", 100 * s, 0, 10 * s, 0, 4 * s, 96 * s},
		{"runs took twice the estimate", 100 * s, 50 * s, 10 * s, 100 * s, 5 * s, 95 * s},
		{"current run overdue", 100 * s, 50 * s, 10 * s, 100 * s, 30 * s, 80 * s},
		{"last run overdue", 100 * s, 90 * s, 10 * s, 90 * s, 20 * s, 0},
	} {
		if got := eta(tc.planned, tc.doneEst, tc.curEst, tc.doneTook, tc.inCur); got != tc.want {
			t.Errorf("%s: eta = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFmtETA(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1400 * time.Millisecond, "1s"},
		{45 * time.Second, "45s"},
		{190 * time.Second, "3m10s"},
		{62 * time.Minute, "1h02m"},
	} {
		if got := fmtETA(tc.d); got != tc.want {
			t.Errorf("fmtETA(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestProgressPlainLines(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, false)
	p.plan(2, time.Second)
	p.begin("echo 100c 64B d1 shoal", time.Second)
	p.note("first error: %v", errors.New("boom"))
	p.end("1000 msg/s")
	p.begin("echo 100c 64B d1 gnet", time.Second)
	p.fail(errors.New("server exited"))
	const want = "[1/2] echo 100c 64B d1 shoal ... (first error: boom) 1000 msg/s\n" +
		"[2/2] echo 100c 64B d1 gnet ... ERROR: server exited\n"
	if got, _, _ := strings.Cut(b.String(), "2 runs in"); got != want {
		t.Errorf("plain output\n got %q\nwant %q", got, want)
	}
	p.finish()
}

func TestProgressTerminalRedrawsInPlace(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, true)
	p.plan(2, time.Second)
	p.begin("connect 16w shoal", time.Second)
	p.end("summary not shown")
	p.begin("connect 16w gnet", time.Second)
	p.fail(errors.New("server exited"))
	p.finish()
	out := b.String()
	for _, want := range []string{"\r[>", "] 1/2 connect 16w shoal  ETA ", "] 2/2 connect 16w gnet  ETA ",
		"\r\x1b[K[2/2] connect 16w gnet: ERROR: server exited\n", "2 runs in "} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "summary not shown") {
		t.Errorf("terminal output %q shows a run's summary", out)
	}
}
