package governor

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// step is one sample in a scripted run: at ms, memory is share of the
// limit and gcs collections have run since the last step.
type step struct {
	ms    int
	share float64
	gcs   uint64
	want  State
}

// script feeds the steps to a governor's tick and returns the states seen.
func script(g *Governor, src *fakeSource, steps []step) []State {
	var got []State
	for _, s := range steps {
		src.set(g.limit, s.share, s.gcs)
		g.tick(context.Background(), at(s.ms))
		got = append(got, g.Stats().State)
	}
	return got
}

func wants(steps []step) []State {
	var out []State
	for _, s := range steps {
		out = append(out, s.want)
	}
	return out
}

// TestWalkThroughStates drives Normal → Throttle → Shed → Normal (directly
// and through Throttle) with a fake memory source and server, and checks
// what the server was asked at each step.
func TestWalkThroughStates(t *testing.T) {
	for _, tc := range []struct {
		name          string
		steps         []step
		throttles     []bool
		targets       []int64
		transitions   uint64
		shedConns     uint64
		shedBytes     int64
		queuesAfter   []int64
		enteredNormal uint64
	}{{
		name: "shed then normal",
		steps: []step{
			{0, 0.50, 0, Normal},
			{100, 0.72, 0, Throttle}, // above soft: throttle at once
			{200, 0.90, 0, Shed},     // above hard: shed 200 (excess over soft) → the 300 queue goes
			{300, 0.90, 0, Shed},     // no collection yet: the 300 shed count as gone (600), no second round
			{400, 0.55, 2, Shed},     // collected, below low, but Shed is held for 1s
			{1200, 0.55, 0, Normal},  // held long enough, below low: straight to Normal
		},
		throttles: []bool{true, false}, targets: []int64{200},
		transitions: 3, shedConns: 1, shedBytes: 300, queuesAfter: []int64{150, 100, 50}, enteredNormal: 1,
	}, {
		name: "shed, throttle, normal",
		steps: []step{
			{0, 0.50, 0, Normal},
			{100, 0.72, 0, Throttle},
			{200, 0.86, 0, Shed},      // excess 160 → the 300 queue goes
			{400, 0.65, 2, Shed},      // below soft, held
			{1200, 0.65, 0, Throttle}, // below soft, above low: back to Throttle only
			{1500, 0.55, 0, Throttle}, // below low, but Throttle is held
			{2200, 0.55, 0, Normal},
		},
		throttles: []bool{true, false}, targets: []int64{160},
		transitions: 4, shedConns: 1, shedBytes: 300, queuesAfter: []int64{150, 100, 50}, enteredNormal: 1,
	}, {
		name: "shed until below soft",
		steps: []step{
			{0, 0.90, 0, Shed},   // straight from Normal: excess 200 → 300 goes
			{100, 0.90, 2, Shed}, // collected and still 90%: out is 300 now, cap 150 → 150 goes
			{200, 0.90, 2, Shed}, // again: out 150, cap 75 → 100 goes
			{300, 0.69, 2, Shed}, // below soft: no more rounds
		},
		throttles: []bool{true}, targets: []int64{200, 150, 75},
		transitions: 1, shedConns: 3, shedBytes: 550, queuesAfter: []int64{50},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &fakeServer{queues: []int64{100, 300, 50, 150}}
			src := &fakeSource{}
			g, _ := newTestGovernor(t, srv, src)
			if got := script(g, src, tc.steps); !slices.Equal(got, wants(tc.steps)) {
				t.Errorf("states %v, want %v", got, wants(tc.steps))
			}
			throttles, targets := srv.record()
			if !slices.Equal(throttles, tc.throttles) || !slices.Equal(targets, tc.targets) {
				t.Errorf("throttles %v targets %v, want %v %v", throttles, targets, tc.throttles, tc.targets)
			}
			st := g.Stats()
			if st.Transitions != tc.transitions || st.ShedConns != tc.shedConns || st.ShedBytes != tc.shedBytes ||
				st.Entered[Normal] != tc.enteredNormal {
				t.Errorf("stats %+v", st)
			}
			if !slices.Equal(srv.queues, tc.queuesAfter) {
				t.Errorf("queues left %v, want %v", srv.queues, tc.queuesAfter)
			}
		})
	}
}

// oscillate returns n samples (one per 100ms) alternating between a and b.
func oscillate(n int, a, b float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = a
		if i%2 == 1 {
			out[i] = b
		}
	}
	return out
}

// TestNoFlapping feeds samples that oscillate around each mark for 10s and
// counts the transitions: each mark is crossed once, however often the
// sample crosses it.
func TestNoFlapping(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before      []float64 // samples that set the scene
		wobble      [2]float64
		transitions uint64
		final       State
		throttles   []bool
	}{
		{"around soft from normal", nil, [2]float64{0.69, 0.71}, 1, Throttle, []bool{true}},
		{"around low while throttled", []float64{0.75}, [2]float64{0.59, 0.61}, 2, Normal, []bool{true, false}},
		{"around soft while throttled", []float64{0.75}, [2]float64{0.69, 0.71}, 1, Throttle, []bool{true}},
		{"around hard while throttled", []float64{0.75}, [2]float64{0.84, 0.86}, 2, Shed, []bool{true}},
		{"around soft while shedding", []float64{0.90}, [2]float64{0.69, 0.71}, 2, Throttle, []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &fakeServer{}
			src := &fakeSource{}
			g, _ := newTestGovernor(t, srv, src)
			samples := append(slices.Clone(tc.before), oscillate(100, tc.wobble[0], tc.wobble[1])...)
			for i, share := range samples {
				src.set(g.limit, share, 2)
				g.tick(context.Background(), at(100*i))
			}
			st := g.Stats()
			throttles, _ := srv.record()
			if st.Transitions != tc.transitions || st.State != tc.final || !slices.Equal(throttles, tc.throttles) {
				t.Errorf("%d transitions to %v, throttles %v; want %d to %v, %v",
					st.Transitions, st.State, throttles, tc.transitions, tc.final, tc.throttles)
			}
		})
	}
}

// TestShedTarget checks the size of a shedding round: the excess over the
// soft mark, at least one byte (the largest queue), at most half of what is
// queued; nothing when nothing is queued.
func TestShedTarget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		share   float64
		queues  []int64
		targets []int64
		closed  uint64
	}{
		{"excess", 0.86, []int64{400, 300, 200}, []int64{160}, 1},
		{"capped at half the queued bytes", 0.99, []int64{100, 100, 100, 100}, []int64{200}, 2},
		{"nothing queued", 0.99, nil, nil, 0},
		{"one small queue", 0.99, []int64{3}, []int64{1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &fakeServer{queues: tc.queues}
			src := &fakeSource{}
			g, _ := newTestGovernor(t, srv, src)
			src.set(g.limit, tc.share, 0)
			g.tick(context.Background(), at(0))
			_, targets := srv.record()
			if !slices.Equal(targets, tc.targets) || g.Stats().ShedConns != tc.closed {
				t.Errorf("targets %v closed %d, want %v %d", targets, g.Stats().ShedConns, tc.targets, tc.closed)
			}
		})
	}
}

// TestAtLeastLargestQueue: in Shed, just above the soft mark, a round still
// closes the largest queue although the excess is smaller.
func TestAtLeastLargestQueue(t *testing.T) {
	srv := &fakeServer{queues: []int64{5, 300, 20}}
	src := &fakeSource{}
	g, _ := newTestGovernor(t, srv, src)
	script(g, src, []step{{0, 0.90, 0, Shed}, {100, 0.701, 2, Shed}})
	_, targets := srv.record()
	if !slices.Equal(targets, []int64{162, 1}) || !slices.Equal(srv.queues, []int64{5}) {
		t.Fatalf("targets %v, queues left %v", targets, srv.queues)
	}
}

// TestShedStalled: while throttling (below the hard mark, where nothing is
// shed by size) the governor closes the stalled consumers, at most every
// quarter of the stall time; in Normal it never asks, and the option off
// (or shedding off) keeps it from asking.
func TestShedStalled(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []Option
		shares []float64 // one per 100ms
		asks   int
		closed uint64
	}{
		{"normal never", nil, oscillate(20, 0.3, 0.5), 0, 0},
		{"throttled: every 500ms", nil, oscillate(20, 0.75, 0.75), 4, 2},
		{"throttled, 1s stall: every 250ms", []Option{WithStalledShedding(time.Second)}, oscillate(20, 0.75, 0.75), 7, 2},
		{"option off", []Option{WithStalledShedding(0)}, oscillate(20, 0.75, 0.75), 0, 0},
		{"shedding off", []Option{WithShedding(false)}, oscillate(20, 0.75, 0.75), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &fakeServer{queues: []int64{50}, stalled: []int64{10, 20}}
			src := &fakeSource{}
			g, _ := newTestGovernor(t, srv, src, tc.opts...)
			for i, share := range tc.shares {
				src.set(g.limit, share, 0)
				g.tick(context.Background(), at(100*i))
			}
			srv.mu.Lock()
			asks, queues := srv.stallAsks, srv.queues
			srv.mu.Unlock()
			st := g.Stats()
			if len(asks) != tc.asks || st.ShedStalled != tc.closed || st.ShedConns != tc.closed ||
				!slices.Equal(queues, []int64{50}) || st.State == Shed {
				t.Errorf("asked %v; shed %d stalled of %d (%d bytes); queues left %v; state %v",
					asks, st.ShedStalled, st.ShedConns, st.ShedBytes, queues, st.State)
			}
			if tc.closed > 0 && (st.ShedBytes != 30 || asks[0] != g.opts.stalled) {
				t.Errorf("shed %d bytes, asked for %v", st.ShedBytes, asks[0])
			}
		})
	}
}

// TestSamplesFasterNearTheMarks: a fifth of the interval at or above the
// low mark, when memory climbs fast, and while not Normal.
func TestSamplesFasterNearTheMarks(t *testing.T) {
	src := &fakeSource{}
	g, _ := newTestGovernor(t, &fakeServer{}, src)
	var got []int64
	for i, share := range []float64{0.30, 0.31, 0.40, 0.41, 0.65, 0.75, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50} {
		src.set(g.limit, share, 1)
		g.tick(context.Background(), at(100*i))
		got = append(got, g.nextInterval().Milliseconds())
	}
	// 0.40 climbed 9 points; 0.75 throttles, and Throttle lasts until the
	// hold has passed below the low mark (1s, at the 11th sample after).
	want := []int64{100, 100, 20, 100, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 100}
	if !slices.Equal(got, want) {
		t.Fatalf("intervals %v ms, want %v", got, want)
	}
}

// TestReclaim: under pressure the governor forces a collection when none
// has run for the reclaim interval, and right after shedding; in Normal it
// never does.
func TestReclaim(t *testing.T) {
	for _, tc := range []struct {
		name     string
		queues   []int64
		shares   []float64 // one per 100ms
		gcs      uint64    // collections per sample
		reclaims int
	}{
		{"normal never", nil, oscillate(30, 0.3, 0.5), 0, 0},
		{"throttled, no collections: once a second", nil, oscillate(30, 0.75, 0.75), 0, 2},
		{"throttled, collections running: never", nil, oscillate(30, 0.75, 0.75), 1, 0},
		{"shed: right after the round", []int64{500}, []float64{0.9}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &fakeServer{queues: tc.queues}
			src := &fakeSource{}
			g, rt := newTestGovernor(t, srv, src, WithReclaimInterval(time.Second))
			for i, share := range tc.shares {
				src.set(g.limit, share, tc.gcs)
				g.tick(context.Background(), at(100*i))
			}
			if _, _, n := rt.record(); n != tc.reclaims || g.Stats().Reclaims != uint64(tc.reclaims) {
				t.Errorf("%d reclaims (stats %d), want %d", n, g.Stats().Reclaims, tc.reclaims)
			}
		})
	}
}

// TestPartsOff: each part can be switched off on its own; the states are
// still tracked. The governor runs for real: Shed, then Normal, then Stop.
func TestPartsOff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opt       Option
		throttles []bool
		sheds     int
		gogcs     []int
		limits    []int64
	}{
		{"all on", WithShedding(true), []bool{true, false}, 1, []int{25, 100}, []int64{900, 1<<63 - 1}},
		{"no throttling", WithThrottling(false), nil, 1, []int{25, 100}, []int64{900, 1<<63 - 1}},
		{"no shedding", WithShedding(false), []bool{true, false}, 0, []int{25, 100}, []int64{900, 1<<63 - 1}},
		{"no adaptive GOGC", WithAdaptiveGOGC(false), []bool{true, false}, 1, nil, []int64{900, 1<<63 - 1}},
		{"no memory limit", WithSetMemoryLimit(false), []bool{true, false}, 1, []int{25, 100}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &fakeServer{queues: []int64{400}}
			src := &fakeSource{}
			g, rt := newTestGovernor(t, srv, src, tc.opt, WithInterval(time.Millisecond),
				WithMinHold(10*time.Millisecond))
			src.set(g.limit, 0.9, 0)
			if err := g.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return g.Stats().State == Shed })
			src.set(g.limit, 0.1, 2)
			waitFor(t, func() bool { return g.Stats().State == Normal })
			g.Stop()
			throttles, targets := srv.record()
			gogcs, limits, _ := rt.record()
			// GOGC: 25 under pressure, then the value before Start again at
			// Stop (the 10s hold keeps it from rising in between). The
			// runtime's limit: 90% of 1000 at Start, none again at Stop.
			if !slices.Equal(throttles, tc.throttles) || len(targets) != tc.sheds || !slices.Equal(gogcs, tc.gogcs) ||
				!slices.Equal(limits, tc.limits) || g.Stats().Transitions != 2 {
				t.Errorf("throttles %v sheds %v gogc %v limits %v transitions %d",
					throttles, targets, gogcs, limits, g.Stats().Transitions)
			}
		})
	}
}

// TestStartStop runs the governor's goroutine for real: it reaches Throttle
// from the samples; Stop resumes the server and restores the runtime's
// settings; Start is once only.
func TestStartStop(t *testing.T) {
	srv := &fakeServer{}
	src := &fakeSource{}
	g, rt := newTestGovernor(t, srv, src, WithInterval(time.Millisecond))
	src.set(1000, 0.75, 0)
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	waitFor(t, func() bool { return g.Stats().State == Throttle })
	g.Stop()
	g.Stop()
	throttles, _ := srv.record()
	gogcs, limits, _ := rt.record()
	if !slices.Equal(throttles, []bool{true, false}) {
		t.Errorf("throttles %v, want on then off at Stop", throttles)
	}
	if !slices.Equal(gogcs, []int{25, 100}) || !slices.Equal(limits, []int64{900, 1<<63 - 1}) {
		t.Errorf("GOGC %v, limits %v: want 25 under pressure then 100 back; 900 then none back", gogcs, limits)
	}
	if err := g.Start(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}
}

// TestContextEndsGovernor: the goroutine also ends with its context.
func TestContextEndsGovernor(t *testing.T) {
	srv := &fakeServer{}
	g, _ := newTestGovernor(t, srv, &fakeSource{}, WithInterval(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	g.Stop() // returns once the goroutine has ended; goleak checks the rest
}

// TestEnvironmentWins: GOMEMLIMIT in the environment keeps the governor off
// the runtime's memory limit, and GOGC keeps it off GOGC.
func TestEnvironmentWins(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		gogcs  int
		limits int
	}{
		{"neither", nil, 2, 2},
		{"GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "512MiB"}, 2, 0},
		{"GOMEMLIMIT off", map[string]string{"GOMEMLIMIT": "off"}, 2, 0},
		{"GOGC", map[string]string{"GOGC": "200"}, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newFakeRuntime(tc.env)
			src := &fakeSource{}
			src.set(1000, 0.75, 0)
			g, err := New(&fakeServer{}, WithMemoryLimit(1000), WithMemorySource(src), withHooks(rt.hooks()),
				withCgroupRoot(t.TempDir()), WithInterval(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			g.Stop()
			gogcs, limits, _ := rt.record()
			if len(gogcs) != tc.gogcs || len(limits) != tc.limits {
				t.Errorf("GOGC set %v, limits set %v", gogcs, limits)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Option
	}{
		{"negative limit", WithMemoryLimit(-1)},
		{"ratio zero", WithRuntimeLimitRatio(0)},
		{"ratio above one", WithRuntimeLimitRatio(1.5)},
		{"marks out of order", WithMarks(0.7, 0.6, 0.85)},
		{"hard above one", WithMarks(0.6, 0.7, 1.2)},
		{"interval", WithInterval(0)},
		{"hold", WithMinHold(-time.Second)},
		{"logger", WithLogger(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(&fakeServer{}, tc.opt); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	if _, err := New(nil); err == nil {
		t.Fatal("New accepted a nil server")
	}
}

// TestNoLimitOnlyReports: without a limit the governor samples and reports
// but never acts.
func TestNoLimitOnlyReports(t *testing.T) {
	rt := newFakeRuntime(nil)
	srv := &fakeServer{queues: []int64{1 << 30}}
	src := &fakeSource{s: MemorySample{Used: 1 << 40}}
	g, err := New(srv, WithMemorySource(src), withHooks(rt.hooks()), withCgroupRoot(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	g.tick(context.Background(), at(0))
	st := g.Stats()
	throttles, targets := srv.record()
	gogcs, limits, _ := rt.record()
	if st.LimitSource != LimitNone || st.State != Normal || st.Memory.Used != 1<<40 ||
		len(throttles)+len(targets)+len(gogcs)+len(limits) != 0 {
		t.Fatalf("stats %+v; throttles %v targets %v gogc %v limits %v", st, throttles, targets, gogcs, limits)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
