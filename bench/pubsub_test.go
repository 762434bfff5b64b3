package main

import (
	"strings"
	"testing"
	"time"
)

// TestPubSubServers runs every fan-out server in this process at a tiny
// load and checks that every subscriber subscribed and read every
// publication from the first on, in order, none damaged, none dropped.
func TestPubSubServers(t *testing.T) {
	for _, name := range sortedNames(pubsubServers) {
		t.Run(name, func(t *testing.T) {
			srv := pubsubServers[name]().(pubsubServer)
			addr := startInProcess(t, func() echoServer { return srv })
			const subs, rate = 20, 50
			subscribed := false
			res, err := runPubSubLoad(pubsubLoadConfig{addr: addr, centrifuge: name == "centrifuge", subs: subs, rate: rate,
				warmup: 200 * time.Millisecond, duration: time.Second}, pubsubHooks{
				subscribed: func() { subscribed = true },
				publish:    func() error { srv.startPublishing(rate); return nil },
				onWindow:   func(bool) {},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !subscribed || res.subs != subs || res.failed != 0 {
				t.Fatalf("subscribed hook %v, %d subscribed, %d failed (first error %v)", subscribed, res.subs, res.failed, res.firstErr)
			}
			if res.delivered == 0 || res.published == 0 || res.hist.TotalCount() != res.delivered {
				t.Errorf("%d delivered in the window, %d latencies, %d published", res.delivered, res.hist.TotalCount(), res.published)
			}
			t.Logf("%d delivered in the window, %d published, p50 %v, p99 %v", res.delivered, res.published, time.Duration(res.hist.ValueAtQuantile(50)), time.Duration(res.hist.ValueAtQuantile(99)))
			if res.missing != 0 || res.bad != 0 || res.dropped != 0 || res.silent != 0 {
				t.Errorf("missing %d, bad %d, dropped %d, silent %d (first error %v)", res.missing, res.bad, res.dropped, res.silent, res.firstErr)
			}
		})
	}
}

func TestPubSubMessage(t *testing.T) {
	m := pubsubMessage(1700000000123456789, 1700000000123459999, 42)
	if len(m) != pubsubMsgSize {
		t.Fatalf("%d bytes: %s", len(m), m)
	}
	push := `{"push":{"channel":"bench","pub":{"data":` + string(m) + `}}}`
	for _, line := range []string{string(m), push} {
		ts, sent, seq, ok := parsePubsubLine([]byte(line))
		if !ok || ts != 1700000000123456789 || sent != 1700000000123459999 || seq != 42 {
			t.Errorf("%s: %d %d %d %v", line, ts, sent, seq, ok)
		}
	}
	for _, bad := range []string{
		string(m[:len(m)-1]),
		strings.Replace(string(m), "xx", "xy", 1),
		strings.Replace(string(m), `"seq":42`, `"seq":4a`, 1),
		strings.Replace(string(m), `"seq"`, `"sq"`, 1) + "x",
		`{"subscribed":"bench"}`,
	} {
		if _, _, _, ok := parsePubsubLine([]byte(bad)); ok {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestPubSubSequence(t *testing.T) {
	line := func(seq uint64) []byte { now := time.Now().UnixNano(); return pubsubMessage(now, now, seq) }
	for _, tc := range []struct {
		name                string
		seqs                []uint64
		wantMissing, wanBad int64
	}{
		{"in order", []uint64{1, 2, 3}, 0, 0},
		{"gap", []uint64{1, 2, 5}, 2, 0},
		{"late start", []uint64{3, 4}, 2, 0},
		{"duplicate", []uint64{1, 2, 2, 3}, 0, 1},
	} {
		s := newPSSub(0, nil)
		s.hist, s.sentHist = newHist(), newHist()
		for _, k := range tc.seqs {
			s.line(line(k), time.Now().UnixNano(), true)
		}
		if s.missing != tc.wantMissing || s.bad != tc.wanBad {
			t.Errorf("%s: missing %d, bad %d; want %d, %d", tc.name, s.missing, s.bad, tc.wantMissing, tc.wanBad)
		}
	}
	s := newPSSub(0, nil)
	s.line([]byte("{}"), 0, false)
	if len(s.out) == 0 || s.bad != 0 {
		t.Errorf("centrifuge ping: %d bytes to write, %d bad", len(s.out), s.bad)
	}
}

func TestParsePubSubLoad(t *testing.T) {
	for in, want := range map[string]pubsubLoad{"1k@100": {1000, 100}, "10k@20": {10000, 20}, "20@50": {20, 50}, "5@0.5": {5, 0.5}} {
		if l, err := parsePubSubLoad(in); err != nil || l != want {
			t.Errorf("%s: %+v, %v", in, l, err)
		} else if l.String() != in {
			t.Errorf("%s: String %q", in, l.String())
		}
	}
	for _, bad := range []string{"1000", "0@10", "10@0", "k@10", "10@x", "-1@5"} {
		if _, err := parsePubSubLoad(bad); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestPubSubSection(t *testing.T) {
	l := pubsubLoad{subs: 10000, rate: 20}
	run := func(perCPU, p99 float64) []pubsubRun {
		return []pubsubRun{{ok: true, perCPU: perCPU, p99ms: p99, sentP99ms: p99 / 2, made: 1, kibSub: 1.5}}
	}
	r := &pubsubResults{
		engines: []string{"shoal", "centrifuge", "gorilla"},
		loads:   []pubsubLoad{l},
		runs:    map[pubsubLoad]map[string][]pubsubRun{l: {"shoal": run(300e3, 20), "centrifuge": run(100e3, 200), "gorilla": run(150e3, 800)}},
	}
	var b strings.Builder
	pubsubSection(&b, options{pubsubWarmup: time.Second, pubsubDuration: 10 * time.Second}, r)
	for _, want := range []string{
		"| 10,000 subscribers, 20 publications/s | 300.0k | 100.0k | 150.0k | 3.00× | 2.00× | 20.0 | 200.0 | 800.0 | 10.0 | 100.0 | 400.0 | 100.0% | 100.0% | 100.0% | 1.5 | 1.5 | 1.5 |",
		"### pubsub: 10,000 subscribers, 20 publications/s (200.0k deliveries/s asked)",
		"| deliveries per server CPU-s | vs centrifuge | vs gorilla |",
		" | 300.0k | 3.00× | 2.00× | ",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
