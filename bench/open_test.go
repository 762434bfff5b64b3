package main

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestSchedulesSpreadEvenly(t *testing.T) {
	for _, tc := range []struct {
		conns int
		rate  float64
	}{{1, 1000}, {4, 1000}, {7, 3000}, {100, 50000}} {
		const start = 1000
		scheds := schedules(start, tc.conns, tc.rate)
		var times []int64
		for _, s := range scheds {
			for k := int64(0); s.at(k) < start+int64(time.Second); k++ {
				times = append(times, s.at(k))
			}
		}
		slices.Sort(times)
		gap := float64(time.Second) / tc.rate
		if got := float64(len(times)); math.Abs(got-tc.rate) > 1 {
			t.Errorf("%d conns at %v/s: %v sends in the first second", tc.conns, tc.rate, got)
		}
		if times[0] != start {
			t.Errorf("%d conns at %v/s: first send at %d, want %d", tc.conns, tc.rate, times[0], start)
		}
		worst := 0.0
		for i := 1; i < len(times); i++ {
			worst = max(worst, math.Abs(float64(times[i]-times[i-1])-gap))
		}
		if worst > 1 {
			t.Errorf("%d conns at %v/s: a gap between sends is off by %v ns from %v", tc.conns, tc.rate, worst, gap)
		}
	}
}

func TestScheduleDue(t *testing.T) {
	s := schedule{first: 500, interval: 1e6 / 3.0}
	for _, tc := range []struct {
		now  int64
		want int64
	}{
		{0, 0},
		{499, 0},
		{500, 1},
		{s.at(1) - 1, 1},
		{s.at(1), 2},
		{s.at(999), 1000},
		{s.at(1000) - 1, 1000},
	} {
		if got := s.due(tc.now); got != tc.want {
			t.Errorf("due(%d) = %d, want %d", tc.now, got, tc.want)
		}
	}
}

func TestOpenLoopCountsEchoes(t *testing.T) {
	cfg := openConfig{addr: echoListener(t, false), conns: 3, size: 64, rate: 600, duration: 200 * time.Millisecond}
	windows := 0
	res, err := runOpen(cfg, func(bool) { windows++ })
	if err != nil {
		t.Fatal(err)
	}
	if res.msgs == 0 || res.hist.TotalCount() != res.msgs || res.lag.TotalCount() == 0 {
		t.Errorf("%d messages, %d latencies, %d send lags", res.msgs, res.hist.TotalCount(), res.lag.TotalCount())
	}
	if res.errors != 0 || res.mismatch != 0 || windows != 2 {
		t.Errorf("errors %d, mismatches %d, window hooks %d (first error %v)", res.errors, res.mismatch, windows, res.firstErr)
	}
}

func TestOpenLoopDetectsCorruptEcho(t *testing.T) {
	cfg := openConfig{addr: echoListener(t, true), conns: 2, size: 64, rate: 200, duration: 200 * time.Millisecond}
	res, err := runOpen(cfg, func(bool) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.mismatch != 2 {
		t.Errorf("mismatches = %d, want 2 (first error %v)", res.mismatch, res.firstErr)
	}
}

func TestConnectCountsConnections(t *testing.T) {
	windows := 0
	res := runConnect(echoListener(t, false), 4, 0, 200*time.Millisecond, func(bool) { windows++ })
	if res.conns == 0 || res.hist.TotalCount() != res.conns {
		t.Errorf("%d connections, %d latencies", res.conns, res.hist.TotalCount())
	}
	if res.errors != 0 || windows != 2 {
		t.Errorf("errors %d, window hooks %d (first error %v)", res.errors, windows, res.firstErr)
	}
}

func TestConnectDetectsCorruptEcho(t *testing.T) {
	res := runConnect(echoListener(t, true), 2, 0, 100*time.Millisecond, func(bool) {})
	if res.conns != 0 || res.errors == 0 {
		t.Errorf("%d connections counted, %d errors: want none and some", res.conns, res.errors)
	}
}
