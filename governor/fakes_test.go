package governor

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// fakeSource reports the sample the test set.
type fakeSource struct {
	mu sync.Mutex
	s  MemorySample
}

func (f *fakeSource) ReadMemory(s *MemorySample) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	*s = f.s
	return nil
}

// set sets Used to share of limit and adds gcs collections to the count.
func (f *fakeSource) set(limit int64, share float64, gcs uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s.Used = int64(share * float64(limit))
	f.s.GCCycles += gcs
}

// funcSource adapts a function to MemorySource.
type funcSource func(*MemorySample) error

func (f funcSource) ReadMemory(s *MemorySample) error { return f(s) }

// fakeServer records what the governor asks of it. Its connections are
// queue sizes; shedding closes the largest first, like server.Server.
type fakeServer struct {
	mu        sync.Mutex
	throttles []bool
	targets   []int64
	queues    []int64
	stalled   []int64         // queues that have not moved; shed by ShedStalledConsumers
	stallAsks []time.Duration // ShedStalledConsumers calls
}

func (f *fakeServer) Throttle(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttles = append(f.throttles, on)
}

func (f *fakeServer) ShedSlowConsumers(_ context.Context, target int64) (closed int, freed int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets = append(f.targets, target)
	slices.SortFunc(f.queues, func(a, b int64) int { return cmp.Compare(b, a) })
	for len(f.queues) > 0 && freed < target {
		freed += f.queues[0]
		f.queues = f.queues[1:]
		closed++
	}
	return closed, freed
}

func (f *fakeServer) ShedStalledConsumers(_ context.Context, stalled time.Duration) (closed int, freed int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stallAsks = append(f.stallAsks, stalled)
	for _, q := range f.stalled {
		freed += q
	}
	closed = len(f.stalled)
	f.stalled = nil
	return closed, freed
}

func (f *fakeServer) Stats() server.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st server.Stats
	for _, q := range append(f.queues, f.stalled...) {
		st.OutboundBytes += q
	}
	return st
}

func (f *fakeServer) record() (throttles []bool, targets []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.throttles), slices.Clone(f.targets)
}

// fakeRuntime stands for the process-wide runtime settings and the
// environment, so that tests do not change the test binary's GC.
type fakeRuntime struct {
	mu       sync.Mutex
	gogc     []int
	limits   []int64
	reclaims int
	env      map[string]string
	curGOGC  int
	curLimit int64
}

func newFakeRuntime(env map[string]string) *fakeRuntime {
	return &fakeRuntime{env: env, curGOGC: 100, curLimit: 1<<63 - 1}
}

func (r *fakeRuntime) hooks() hooks {
	return hooks{
		setGCPercent: func(v int) int {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.gogc = append(r.gogc, v)
			prev := r.curGOGC
			r.curGOGC = v
			return prev
		},
		setMemoryLimit: func(v int64) int64 {
			r.mu.Lock()
			defer r.mu.Unlock()
			prev := r.curLimit
			if v >= 0 {
				r.limits = append(r.limits, v)
				r.curLimit = v
			}
			return prev
		},
		reclaim: func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.reclaims++
		},
		getenv: func(k string) (string, bool) {
			v, ok := r.env[k]
			return v, ok
		},
	}
}

func (r *fakeRuntime) record() (gogc []int, limits []int64, reclaims int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.gogc), slices.Clone(r.limits), r.reclaims
}

// withHooks replaces the runtime settings and the environment.
func withHooks(h hooks) Option { return optionFunc(func(o *options) { o.hooks = h }) }

// withCgroupRoot makes the governor look for /proc and /sys under dir.
func withCgroupRoot(dir string) Option { return optionFunc(func(o *options) { o.cgroupRootDir = dir }) }

// newTestGovernor returns a governor over srv and src, with a fake runtime
// and no cgroup. The default limit is 1000 bytes, so that shares read as
// byte counts.
func newTestGovernor(t *testing.T, srv Server, src MemorySource, opts ...Option) (*Governor, *fakeRuntime) {
	t.Helper()
	rt := newFakeRuntime(nil)
	base := []Option{
		WithMemoryLimit(1000), WithMemorySource(src), withHooks(rt.hooks()),
		withCgroupRoot(t.TempDir()), WithReclaimInterval(0),
	}
	g, err := New(srv, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return g, rt
}

// at returns the instant ms milliseconds after a fixed origin.
func at(ms int) time.Time { return time.Unix(1_000_000, 0).Add(time.Duration(ms) * time.Millisecond) }
