package governor

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"time"
)

// Option configures a Governor.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	limit         int64   // explicit memory limit; 0: detect
	ratio         float64 // runtime memory limit as a share of the limit
	budget        float64 // the engine's memory budget as a share of the limit; 0: not set
	setLimit      bool    // call debug.SetMemoryLimit
	adaptiveGOGC  bool
	throttle      bool
	shed          bool
	low, soft     float64 // marks, as shares of the limit
	hard          float64
	interval      time.Duration
	hold          time.Duration
	reclaimEvery  time.Duration
	limitRefresh  time.Duration
	shedTimeout   time.Duration
	stalled       time.Duration // shed consumers stalled this long while not Normal; 0: off
	source        MemorySource  // nil: runtime/metrics and the cgroup
	logger        *slog.Logger
	hooks         hooks
	cgroupRootDir string // where /proc and /sys are; tests point it at testdata
}

// hooks are the process-wide runtime settings the governor changes; tests
// replace them so that they do not disturb the test binary.
type hooks struct {
	setGCPercent   func(int) int
	setMemoryLimit func(int64) int64
	reclaim        func()
	getenv         func(string) (string, bool)
}

func defaultOptions() options {
	return options{
		ratio:        0.9,
		budget:       0.4,
		setLimit:     true,
		adaptiveGOGC: true,
		throttle:     true,
		shed:         true,
		low:          0.60,
		soft:         0.70,
		hard:         0.85,
		interval:     100 * time.Millisecond,
		hold:         time.Second,
		reclaimEvery: time.Second,
		limitRefresh: 10 * time.Second,
		shedTimeout:  time.Second,
		stalled:      2 * time.Second,
		logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		hooks: hooks{
			setGCPercent:   debug.SetGCPercent,
			setMemoryLimit: debug.SetMemoryLimit,
			reclaim:        reclaim,
			getenv:         lookupEnv,
		},
		cgroupRootDir: "/",
	}
}

func (o *options) validate() error {
	switch {
	case o.limit < 0:
		return fmt.Errorf("governor: memory limit must not be negative, got %d", o.limit)
	case math.IsNaN(o.ratio) || o.ratio <= 0 || o.ratio > 1:
		return fmt.Errorf("governor: runtime limit ratio must be in (0, 1], got %v", o.ratio)
	case math.IsNaN(o.budget) || o.budget < 0 || o.budget > 1:
		return fmt.Errorf("governor: engine budget ratio must be in [0, 1], got %v", o.budget)
	case !(0 < o.low && o.low < o.soft && o.soft < o.hard && o.hard <= 1):
		return fmt.Errorf("governor: marks need 0 < low < soft < hard <= 1, got %v %v %v", o.low, o.soft, o.hard)
	case o.interval < time.Millisecond:
		return fmt.Errorf("governor: interval must be at least 1ms, got %v", o.interval)
	case o.hold < 0 || o.reclaimEvery < 0 || o.limitRefresh < 0 || o.shedTimeout <= 0 || o.stalled < 0:
		return fmt.Errorf("governor: durations must not be negative")
	case o.logger == nil:
		return fmt.Errorf("governor: nil logger")
	}
	return nil
}

// WithEngineBudget sets the share of the memory limit that the engine may
// buffer for its connections (default 0.4; 0: leave the engine's budget
// alone). The engine enforces it on every read and write
// (server.WithMemoryBudget), faster than any sample; the governor's marks
// stay the outer guard for the memory the engine does not see. It applies
// to servers that have SetMemoryBudget.
func WithEngineBudget(ratio float64) Option { return optionFunc(func(o *options) { o.budget = ratio }) }

// WithMemoryLimit sets the memory limit the governor works against, in
// bytes, instead of the one it would detect (GOMEMLIMIT, then the cgroup).
func WithMemoryLimit(bytes int64) Option { return optionFunc(func(o *options) { o.limit = bytes }) }

// WithRuntimeLimitRatio sets the Go runtime's memory limit
// (debug.SetMemoryLimit) as a share of the memory limit (default 0.9).
func WithRuntimeLimitRatio(r float64) Option { return optionFunc(func(o *options) { o.ratio = r }) }

// WithSetMemoryLimit controls whether Start sets the Go runtime's memory
// limit (default on). It is never set when the GOMEMLIMIT environment
// variable is: the operator's value stands.
func WithSetMemoryLimit(on bool) Option { return optionFunc(func(o *options) { o.setLimit = on }) }

// WithAdaptiveGOGC controls whether the governor adapts GOGC to the live
// heap (default on; see the package documentation). It stays off when the
// GOGC environment variable is set.
func WithAdaptiveGOGC(on bool) Option { return optionFunc(func(o *options) { o.adaptiveGOGC = on }) }

// WithThrottling controls whether the Throttle and Shed states pause
// accepting and reading on the server (default on). Off, the states are
// still tracked, logged and exported.
func WithThrottling(on bool) Option { return optionFunc(func(o *options) { o.throttle = on }) }

// WithShedding controls whether the Shed state closes slow consumers
// (default on).
func WithShedding(on bool) Option { return optionFunc(func(o *options) { o.shed = on }) }

// WithStalledShedding sets how long a connection's output must have been
// stalled (at least 64 KiB queued, not a byte sent) for
// the governor to close it as a slow consumer while it throttles or sheds
// (default 2s; 0 turns it off). Throttling stops the input, so healthy
// consumers' queues drain within moments; a queue that does not move is
// held by a peer that takes nothing, and closing it is what lets memory
// fall back below the low mark. It needs shedding on (WithShedding).
func WithStalledShedding(d time.Duration) Option {
	return optionFunc(func(o *options) { o.stalled = d })
}

// WithMarks sets the low, soft and hard marks as shares of the memory limit
// (defaults 0.60, 0.70 and 0.85). They need 0 < low < soft < hard <= 1.
func WithMarks(low, soft, hard float64) Option {
	return optionFunc(func(o *options) { o.low, o.soft, o.hard = low, soft, hard })
}

// WithInterval sets how often memory is sampled (default 100ms); near the
// marks the governor samples five times as often.
func WithInterval(d time.Duration) Option { return optionFunc(func(o *options) { o.interval = d }) }

// WithMinHold sets how long a state is held at least before the governor
// steps down from it (default 1s). Stepping up is immediate.
func WithMinHold(d time.Duration) Option { return optionFunc(func(o *options) { o.hold = d }) }

// WithReclaimInterval sets how often, at most, the governor forces the
// garbage collector to run and return free memory to the kernel while it is
// not in the Normal state and no collection has run by itself (default 1s;
// 0 turns it off). Without it, memory freed by draining or shedding queues
// may not show in the samples for a long time, because a throttled server
// allocates little and so triggers few collections.
func WithReclaimInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.reclaimEvery = d })
}

// WithMemorySource replaces where samples come from (default: the Go
// runtime's metrics and, where there is one, the memory cgroup).
func WithMemorySource(s MemorySource) Option { return optionFunc(func(o *options) { o.source = s }) }

// WithLogger sets the structured logger for state changes and shedding
// (default: discard).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.logger = l }) }
