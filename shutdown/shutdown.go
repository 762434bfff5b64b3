// Package shutdown coordinates a process's graceful shutdown: signals,
// ordered hooks, one overall deadline, panic-safe hooks and an exit code
// that says what happened. It works for any server (a Shoal server, a
// net/http server, brokers, workers).
//
//	coord := shutdown.New(shutdown.WithTimeout(25 * time.Second))
//	coord.Add(shutdown.PhaseNotReady, "readiness", func(context.Context) error { adm.SetReady(false); return nil })
//	coord.Add(shutdown.PhaseDrain, "shoal", srv.Shutdown)
//	coord.Add(shutdown.PhaseDrain, "http", httpSrv.Shutdown)
//	os.Exit(coord.Run()) // waits for SIGINT/SIGTERM, runs the hooks, returns the exit code
package shutdown

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
)

// Phase orders the hooks: every hook of a phase finishes (or times out)
// before the next phase starts; hooks of one phase run in the order added.
type Phase int

// The phases, in the order they run.
const (
	PhaseNotReady      Phase = iota // flip readiness so load balancers stop sending
	PhasePreDrain                   // wait for them to notice (WithPreDrainDelay)
	PhaseStopAccepting              // close listeners
	PhaseDrain                      // drain connections
	PhaseStopWorkers                // stop brokers, consumers, workers
	PhaseFlush                      // flush metrics and logs
	numPhases
)

var phaseNames = [numPhases]string{"not-ready", "pre-drain", "stop-accepting", "drain", "stop-workers", "flush"}

func (p Phase) String() string {
	if p < 0 || p >= numPhases {
		return fmt.Sprintf("phase(%d)", int(p))
	}
	return phaseNames[p]
}

// Exit codes returned by Run and reported in Result.Code.
const (
	ExitOK        = 0 // every hook finished in time
	ExitHookError = 1 // a hook failed or panicked; the others ran
	ExitDeadline  = 3 // the overall deadline passed before every hook finished
	ExitForced    = 4 // a second signal forced an immediate exit
)

// Hook is a shutdown step. Its context ends at the overall deadline, or
// at its own timeout (WithHookTimeout) if that comes first.
type Hook func(ctx context.Context) error

type hook struct {
	name string
	fn   Hook
}

// HookReport says how one hook went.
type HookReport struct {
	Phase    Phase
	Name     string
	Duration time.Duration
	Err      error // its error, a recovered panic, or a timeout
}

// Result is the outcome of a shutdown.
type Result struct {
	Code     int
	Duration time.Duration
	Hooks    []HookReport
}

// Coordinator runs a shutdown once. It is safe for concurrent use.
type Coordinator struct {
	timeout     time.Duration
	hookTimeout time.Duration
	log         *slog.Logger
	exit        func(int)

	mu     sync.Mutex // guards hooks and reload
	hooks  [numPhases][]hook
	reload func()

	once   sync.Once
	done   chan struct{}
	result Result
}

// Option configures a Coordinator.
type Option interface{ apply(*Coordinator) }

type optionFunc func(*Coordinator)

func (f optionFunc) apply(c *Coordinator) { f(c) }

// WithTimeout sets the overall deadline of the shutdown (default 25s,
// below Kubernetes' default 30s grace period).
func WithTimeout(d time.Duration) Option { return optionFunc(func(c *Coordinator) { c.timeout = d }) }

// WithHookTimeout bounds each hook (default: only the overall deadline).
func WithHookTimeout(d time.Duration) Option {
	return optionFunc(func(c *Coordinator) { c.hookTimeout = d })
}

// WithPreDrainDelay adds a PhasePreDrain hook that waits d, so that load
// balancers see the readiness change before listeners close (the
// Kubernetes endpoint-propagation race).
func WithPreDrainDelay(d time.Duration) Option {
	return optionFunc(func(c *Coordinator) {
		c.hooks[PhasePreDrain] = append(c.hooks[PhasePreDrain], hook{"pre-drain delay", func(ctx context.Context) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}})
	})
}

// WithLogger sets the logger of the phase summary and of failing hooks
// (default: discard).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *Coordinator) { c.log = l }) }

// WithExitFunc replaces os.Exit for the forced exit on a second signal
// (for tests).
func WithExitFunc(f func(int)) Option { return optionFunc(func(c *Coordinator) { c.exit = f }) }

// New returns a coordinator.
func New(opts ...Option) *Coordinator {
	c := &Coordinator{
		timeout: 25 * time.Second,
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		exit:    os.Exit,
		done:    make(chan struct{}),
	}
	for _, o := range opts {
		o.apply(c)
	}
	return c
}

// Add registers a hook in a phase. Hooks added after the shutdown began
// do not run.
func (c *Coordinator) Add(p Phase, name string, fn Hook) {
	if p < 0 || p >= numPhases {
		panic(fmt.Sprintf("shutdown: unknown phase %d", int(p)))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks[p] = append(c.hooks[p], hook{name, fn})
}

// OnReload registers what SIGHUP does (nothing by default).
func (c *Coordinator) OnReload(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reload = fn
}

// Done is closed when the shutdown has finished.
func (c *Coordinator) Done() <-chan struct{} { return c.done }

// Shutdown runs the hooks, phase by phase, under the overall deadline, and
// returns the result. It runs once: concurrent and later calls wait for
// that run and return its result.
func (c *Coordinator) Shutdown() Result {
	c.once.Do(func() {
		c.result = c.run()
		close(c.done)
	})
	<-c.done
	return c.result
}

func (c *Coordinator) run() Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.mu.Lock()
	phases := c.hooks
	c.mu.Unlock()

	res := Result{Code: ExitOK}
	for p, hooks := range phases {
		for _, h := range hooks {
			rep := c.runHook(ctx, Phase(p), h)
			res.Hooks = append(res.Hooks, rep)
			switch {
			case ctx.Err() != nil:
				res.Code = ExitDeadline
			case rep.Err != nil && res.Code == ExitOK:
				res.Code = ExitHookError
			}
		}
	}
	res.Duration = time.Since(start)
	c.logSummary(res)
	return res
}

// lateGrace is how long a hook may run once the overall deadline has
// passed: later phases (flushing logs, say) still get their turn.
const lateGrace = 100 * time.Millisecond

// runHook runs one hook in its own goroutine, so that a hook that ignores
// its context cannot hold the shutdown past its timeout; a panic is
// recovered and reported.
func (c *Coordinator) runHook(ctx context.Context, p Phase, h hook) HookReport {
	var hctx context.Context
	var cancel context.CancelFunc
	switch {
	case ctx.Err() != nil:
		hctx, cancel = context.WithTimeout(context.Background(), lateGrace)
	case c.hookTimeout > 0:
		hctx, cancel = context.WithTimeout(ctx, c.hookTimeout)
	default:
		hctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("shutdown: hook %q panicked: %v\n%s", h.name, r, debug.Stack())
			}
		}()
		errc <- h.fn(hctx)
	}()
	var err error
	select {
	case err = <-errc:
	case <-hctx.Done():
		err = fmt.Errorf("shutdown: hook %q overran: %w", h.name, hctx.Err())
	}
	rep := HookReport{Phase: p, Name: h.name, Duration: time.Since(start), Err: err}
	if err != nil {
		c.log.Error("shutdown hook failed", "phase", p.String(), "hook", h.name, "err", err)
	}
	return rep
}

func (c *Coordinator) logSummary(r Result) {
	attrs := []any{"code", r.Code, "took", r.Duration.Round(time.Millisecond)}
	for _, h := range r.Hooks {
		status := "ok"
		if h.Err != nil {
			status = "failed"
		}
		attrs = append(attrs, slog.Group(h.Phase.String()+"/"+h.Name,
			"took", h.Duration.Round(time.Millisecond), "status", status))
	}
	c.log.Info("shutdown finished", attrs...)
}

// Listen handles signals until stop is called: the first SIGINT or SIGTERM
// starts Shutdown in the background, a second one exits at once with
// ExitForced, and SIGHUP runs the reload hook. Signals are registered here
// and only here; stop unregisters them and waits for the handler goroutine.
func (c *Coordinator) Listen() (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		started := false
		for {
			select {
			case <-quit:
				return
			case s := <-sigs:
				if s == syscall.SIGHUP {
					c.mu.Lock()
					reload := c.reload
					c.mu.Unlock()
					if reload != nil {
						c.log.Info("reloading", "signal", s.String())
						reload()
					}
					continue
				}
				if started {
					c.log.Warn("second signal: exiting now", "signal", s.String(), "code", ExitForced)
					c.exit(ExitForced)
					continue
				}
				started = true
				c.log.Info("shutting down", "signal", s.String(), "deadline", c.timeout)
				go c.Shutdown()
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(quit)
			wg.Wait()
		})
	}
}

// Run listens for signals, waits for the shutdown they start (or one
// started by a Shutdown call) and returns its exit code, for os.Exit. A
// server should call Listen before it accepts its first connection
// instead, and Wait then: until signals are registered, SIGTERM kills the
// process with the connections it holds.
func (c *Coordinator) Run() int {
	stop := c.Listen()
	defer stop()
	return c.Wait()
}

// Wait waits for the shutdown (started by a signal Listen handles, or by
// a Shutdown call) and returns its exit code, for os.Exit.
func (c *Coordinator) Wait() int {
	<-c.done
	return c.result.Code
}
