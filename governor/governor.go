package governor

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/shoalnet/shoal/server"
)

// Server is what the governor drives. *server.Server implements it.
type Server interface {
	// Throttle pauses (on) or resumes (off) accepting and reading on
	// every connection.
	Throttle(on bool)
	// ShedSlowConsumers closes the connections holding the most outbound
	// bytes, largest first, until at least target bytes are freed.
	ShedSlowConsumers(ctx context.Context, target int64) (closed int, freed int64)
	// ShedStalledConsumers closes the connections whose output has not
	// moved for at least stalled.
	ShedStalledConsumers(ctx context.Context, stalled time.Duration) (closed int, freed int64)
	// Stats reports the output queued (OutboundBytes).
	Stats() server.Stats
}

// Stats is a snapshot of the governor.
type Stats struct {
	State State     // the current state
	Since time.Time // when State was entered (zero before Start)
	// Transitions counts state changes since Start; Entered counts them by
	// the state entered.
	Transitions uint64
	Entered     [NumStates]uint64
	ShedRounds  uint64 // calls to ShedSlowConsumers
	ShedConns   uint64 // connections closed by shedding, stalled ones included
	ShedBytes   int64  // outbound bytes those connections held
	// ShedStalled counts the connections of ShedConns closed because their
	// output had stalled (WithStalledShedding).
	ShedStalled uint64
	Reclaims    uint64 // forced collections (WithReclaimInterval)
	// Limit is the memory limit the marks are shares of (0: none found),
	// and LimitSource where it came from.
	Limit       int64
	LimitSource LimitSource
	// EngineBudget is the memory budget given to the engine
	// (WithEngineBudget; 0: none).
	EngineBudget int64
	// RuntimeLimit is the Go runtime's memory limit now (math.MaxInt64:
	// none); GOGC is the runtime's GOGC now (from runtime/metrics, so it
	// shows the environment's value when the governor does not adapt it).
	RuntimeLimit int64
	GOGC         int
	// GOMAXPROCS is runtime.GOMAXPROCS(0), which the runtime derives from
	// the container's CPU quota and keeps current.
	GOMAXPROCS   int
	Memory       MemorySample // the last sample
	SampleErrors uint64       // failed samples
}

// NumStates is the number of States.
const NumStates = int(numStates)

// Governor watches the process's memory against its limit and protects a
// server: see the package documentation. Its methods are safe for
// concurrent use. A process should run one: the GOGC and the memory limit
// it sets are process-wide.
type Governor struct {
	srv      Server
	opts     options
	src      MemorySource
	cg       *cgroup // nil: no cgroup
	settings *runtimeSettings
	source   LimitSource
	adaptive bool // adapt GOGC (option on, GOGC not in the environment)
	envLimit bool // GOMEMLIMIT is set (to a limit or "off"): never call SetMemoryLimit

	life    sync.Mutex // guards started and stopped; never held with mu
	started bool
	stopped bool
	stop    chan struct{} // closed by Stop
	done    chan struct{} // closed when run has returned

	// Owned by the run goroutine.
	m              machine
	gogc           gogcPolicy
	limit          int64
	curGOGC        int       // last GOGC set; 0: none yet
	prevGOGC       int       // GOGC before the first change, restored at the end
	prevLimit      int64     // runtime memory limit before Start, if limitSet
	limitSet       bool      // Start set the runtime memory limit
	throttled      bool      // the server is throttled by us
	credit         int64     // bytes shed and not yet collected
	creditAt       uint64    // GC cycle count when credit was last added
	cycles         uint64    // GC cycle count of the last sample
	lastGC         time.Time // when cycles last moved
	lastReclaim    time.Time
	lastRefresh    time.Time
	lastStalled    time.Time // last ShedStalledConsumers call
	used, prevUsed int64     // memory in use at the last two samples (shed credit deducted)

	mu sync.Mutex // guards st
	st Stats
}

// New returns a governor for srv. It resolves the memory limit — in order:
// WithMemoryLimit, the GOMEMLIMIT environment variable, the process's
// memory cgroup — but changes nothing until Start. Without a limit the
// governor only reports. It returns an error for a bad configuration.
func New(srv Server, opts ...Option) (*Governor, error) {
	if srv == nil {
		return nil, errors.New("governor: nil server")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	limit, source, cg, err := detectLimit(&o)
	switch {
	case err != nil && !isNoLimit(err):
		o.logger.Warn("memory governor: cannot read the memory cgroup; only reporting", "err", err)
	case source == LimitNone:
		o.logger.Info("memory governor: no memory limit found; only reporting", "reason", err)
	}
	g := &Governor{
		srv:      srv,
		opts:     o,
		src:      o.source,
		cg:       cg,
		settings: newRuntimeSettings(),
		adaptive: o.adaptiveGOGC,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		m:        machine{low: o.low, soft: o.soft, hard: o.hard, hold: o.hold},
		gogc:     gogcPolicy{row: -1},
		limit:    limit,
		source:   source,
	}
	if g.src == nil {
		g.src = newRuntimeSource(cg)
	}
	if _, ok := o.hooks.getenv("GOGC"); ok && g.adaptive {
		g.adaptive = false
		o.logger.Info("memory governor: GOGC is set in the environment; not adapting it")
	}
	if v, ok := o.hooks.getenv("GOMEMLIMIT"); ok && v != "" {
		g.envLimit = true
	}
	gogc, rtLimit := g.settings.read()
	g.st = Stats{Limit: limit, LimitSource: source, RuntimeLimit: rtLimit, GOGC: gogc}
	return g, nil
}

// Start sets the runtime's memory limit (unless GOMEMLIMIT is set or
// WithSetMemoryLimit(false)) and starts sampling on a goroutine of its own,
// until Stop or until ctx ends. It returns ErrStarted when called twice and
// ErrStopped after Stop.
func (g *Governor) Start(ctx context.Context) error {
	g.life.Lock()
	defer g.life.Unlock()
	switch {
	case g.stopped:
		return ErrStopped
	case g.started:
		return ErrStarted
	}
	g.started = true
	if g.opts.setLimit && !g.envLimit && g.limit > 0 {
		g.prevLimit = g.opts.hooks.setMemoryLimit(int64(g.opts.ratio * float64(g.limit)))
		g.limitSet = true
	}
	g.setBudget()
	now := time.Now()
	g.m.since, g.lastRefresh = now, now
	g.opts.logger.Info("memory governor started", "limit", g.limit, "source", g.source.String(),
		"runtime_limit_set", g.limitSet, "adaptive_gogc", g.adaptive, "gomaxprocs", runtime.GOMAXPROCS(0))
	go g.run(ctx)
	return nil
}

// Stop stops sampling and waits for the goroutine to end. It resumes the
// server if the governor throttled it and restores the GOGC and memory
// limit that were in effect before Start. It is idempotent.
func (g *Governor) Stop() {
	g.life.Lock()
	if !g.stopped {
		g.stopped = true
		close(g.stop)
	}
	started := g.started
	g.life.Unlock()
	if started {
		<-g.done
	}
}

// Stats returns a snapshot of the governor's state and counters.
func (g *Governor) Stats() Stats {
	g.mu.Lock()
	st := g.st
	g.mu.Unlock()
	st.GOMAXPROCS = runtime.GOMAXPROCS(0)
	return st
}

func (g *Governor) run(ctx context.Context) {
	defer close(g.done)
	defer g.release()
	g.tick(ctx, time.Now())
	t := time.NewTimer(g.nextInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.stop:
			return
		case now := <-t.C:
			g.tick(ctx, now)
			t.Reset(g.nextInterval())
		}
	}
}

// release undoes what the governor changed in the server and the runtime.
func (g *Governor) release() {
	if g.throttled {
		g.srv.Throttle(false)
		g.throttled = false
	}
	if g.curGOGC != 0 {
		g.opts.hooks.setGCPercent(g.prevGOGC)
	}
	if g.limitSet {
		g.opts.hooks.setMemoryLimit(g.prevLimit)
	}
}

// tick takes one sample and acts on it.
func (g *Governor) tick(ctx context.Context, now time.Time) {
	g.refreshLimit(now)
	var s MemorySample
	err := g.src.ReadMemory(&s)
	if err != nil && s.Used <= 0 {
		g.mu.Lock()
		g.st.SampleErrors++
		g.mu.Unlock()
		return
	}
	if s.GCCycles != g.cycles || g.lastGC.IsZero() {
		g.cycles, g.lastGC = s.GCCycles, now
	}
	// Shed bytes count as gone once two collections (the second empties
	// sync.Pool's victim cache) have run since.
	if g.credit > 0 && s.GCCycles >= g.creditAt+2 {
		g.credit = 0
	}
	used := max(s.Used-g.credit, 0)
	g.prevUsed, g.used = g.used, used
	var shed, reclaimed bool
	if g.limit > 0 {
		from := g.m.state
		to := g.m.next(now, used, g.limit)
		if to != from {
			g.transition(from, to, used)
		}
		if to == Shed && g.opts.shed && float64(used) >= g.opts.soft*float64(g.limit) {
			shed = g.shedRound(ctx, used, s.GCCycles)
		}
		if to != Normal && g.opts.shed && g.opts.stalled > 0 && now.Sub(g.lastStalled) >= g.opts.stalled/4 {
			g.lastStalled = now
			shed = g.shedStalled(ctx, used, s.GCCycles) || shed
		}
		if to != Normal && g.opts.reclaimEvery > 0 && (shed ||
			now.Sub(g.lastGC) >= g.opts.reclaimEvery && now.Sub(g.lastReclaim) >= g.opts.reclaimEvery) {
			g.opts.hooks.reclaim()
			g.lastReclaim, reclaimed = now, true
		}
		if g.adaptive {
			if v := g.gogc.next(now, s.LiveHeap, g.limit, to); v != g.curGOGC {
				prev := g.opts.hooks.setGCPercent(v)
				if g.curGOGC == 0 {
					g.prevGOGC = prev
				}
				g.opts.logger.Debug("memory governor: GOGC", "gogc", v, "live_heap", s.LiveHeap, "limit", g.limit)
				g.curGOGC = v
			}
		}
	}
	gogc, rtLimit := g.settings.read()
	g.mu.Lock()
	g.st.State, g.st.Since = g.m.state, g.m.since
	g.st.Limit = g.limit
	g.st.GOGC, g.st.RuntimeLimit = gogc, rtLimit
	g.st.Memory = s
	if err != nil {
		g.st.SampleErrors++
	}
	if reclaimed {
		g.st.Reclaims++
	}
	g.mu.Unlock()
}

// nextInterval is the time to the next sample: the interval, or a fifth
// of it (at least 1ms) while memory is near the marks — not Normal, at or
// above the low mark, or grown by 2% of the limit or more since the sample
// before — so that a fast climb (a publish fanned out to thousands of
// queues allocates a lot at once) is met within a few milliseconds of
// crossing a mark rather than up to a whole interval later.
func (g *Governor) nextInterval() time.Duration {
	d := g.opts.interval
	if g.limit <= 0 {
		return d
	}
	lim := float64(g.limit)
	climbing := g.prevUsed > 0 && float64(g.used-g.prevUsed) >= 0.02*lim
	if g.m.state != Normal || float64(g.used) >= g.opts.low*lim || climbing {
		d = max(d/5, time.Millisecond)
	}
	return d
}

// transition applies a state change: throttle or resume the server, count
// and log it.
func (g *Governor) transition(from, to State, used int64) {
	if want := to != Normal; g.opts.throttle && want != g.throttled {
		g.srv.Throttle(want)
		g.throttled = want
	}
	g.mu.Lock()
	g.st.State, g.st.Since = to, g.m.since
	g.st.Transitions++
	g.st.Entered[to]++
	g.mu.Unlock()
	level := slog.LevelWarn
	if to < from {
		level = slog.LevelInfo
	}
	g.opts.logger.Log(context.Background(), level, "memory governor: state changed",
		"from", from.String(), "to", to.String(), "used", used, "limit", g.limit,
		"share", float64(used)/float64(g.limit))
}

// shedRound closes the slow consumers holding the most output. The target
// is the excess over the soft mark (at least one byte, so at least the
// largest queue goes), but at most half of the output queued, so that one
// round never reaches the connections with small queues unless the large
// ones are a minority of the queued bytes. It reports whether anything was
// closed.
func (g *Governor) shedRound(ctx context.Context, used int64, cycles uint64) bool {
	out := g.srv.Stats().OutboundBytes
	if out <= 0 {
		return false
	}
	excess := used - int64(g.opts.soft*float64(g.limit))
	target := min(max(excess, 1), max(out/2, 1))
	sctx, cancel := context.WithTimeout(ctx, g.opts.shedTimeout)
	closed, freed := g.srv.ShedSlowConsumers(sctx, target)
	cancel()
	if freed > 0 {
		g.credit += freed
		g.creditAt = cycles
	}
	g.mu.Lock()
	g.st.ShedRounds++
	g.st.ShedConns += uint64(closed)
	g.st.ShedBytes += freed
	g.mu.Unlock()
	g.opts.logger.Warn("memory governor: shed slow consumers", "closed", closed, "freed", freed,
		"target", target, "outbound", out, "used", used, "limit", g.limit)
	return closed > 0
}

// shedStalled closes the consumers whose output has not moved for the
// stall time: with input paused, what they hold will not drain by itself.
// It reports whether anything was closed.
func (g *Governor) shedStalled(ctx context.Context, used int64, cycles uint64) bool {
	sctx, cancel := context.WithTimeout(ctx, g.opts.shedTimeout)
	closed, freed := g.srv.ShedStalledConsumers(sctx, g.opts.stalled)
	cancel()
	if closed == 0 {
		return false
	}
	g.credit += freed
	g.creditAt = cycles
	g.mu.Lock()
	g.st.ShedConns += uint64(closed)
	g.st.ShedStalled += uint64(closed)
	g.st.ShedBytes += freed
	g.mu.Unlock()
	g.opts.logger.Warn("memory governor: shed stalled consumers", "closed", closed, "freed", freed,
		"stalled_for", g.opts.stalled, "used", used, "limit", g.limit)
	return true
}

// refreshLimit re-reads the cgroup's limit every limitRefresh, so that a
// container resized in place is followed, as the runtime follows CPU quota
// changes for GOMAXPROCS.
func (g *Governor) refreshLimit(now time.Time) {
	if (g.source != LimitCgroupV1 && g.source != LimitCgroupV2) || g.opts.limitRefresh == 0 ||
		now.Sub(g.lastRefresh) < g.opts.limitRefresh {
		return
	}
	g.lastRefresh = now
	lim, err := g.cg.limit()
	if err != nil || lim == g.limit {
		return
	}
	g.opts.logger.Info("memory governor: memory limit changed", "from", g.limit, "to", lim)
	g.limit = lim
	if g.limitSet {
		g.opts.hooks.setMemoryLimit(int64(g.opts.ratio * float64(lim)))
	}
	g.setBudget()
}

// budgetSetter is implemented by servers with an engine memory budget
// (server.Server).
type budgetSetter interface{ SetMemoryBudget(bytes int64) }

// setBudget gives the engine its share of the limit (WithEngineBudget).
func (g *Governor) setBudget() {
	if bs, ok := g.srv.(budgetSetter); ok && g.opts.budget > 0 && g.limit > 0 {
		b := int64(g.opts.budget * float64(g.limit))
		bs.SetMemoryBudget(b)
		g.mu.Lock()
		g.st.EngineBudget = b
		g.mu.Unlock()
	}
}
