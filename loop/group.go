package loop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Group is a set of event loops, one per configured loop (GOMAXPROCS by
// default), that serve the connections of the listeners handed to it with
// one Handler. Each connection belongs to one loop for its whole life.
// server.New makes one; NewGroup makes one directly. Its methods are safe
// for concurrent use.
type Group struct {
	h      handlers
	opts   *Config
	sys    netsys
	loops  []*Loop
	wg     sync.WaitGroup
	rr     atomic.Uint32
	stop   chan struct{} // closed by Stop: stops the watchdog
	lim    *limiter
	tls    *tlsServer   // Config.TLS's handshakes (tls.go); nil: plain TCP
	budget atomic.Int64 // the memory budget (budget.go); 0: none
	shared atomic.Int64 // bytes of the Shareds some queue holds, each once: no loop's own
	// budgetHold: output from outside a read passed the soft budget; no
	// connection is read until the total is below it again (budget.go).
	budgetHold atomic.Bool

	acceptLog logLimiter
	panicLog  logLimiter
	closeLog  logLimiter

	mu      sync.Mutex    // guards err
	err     error         // the first fatal error of a loop
	failed  chan struct{} // closed at the first fatal error
	once    sync.Once     // closes failed
	stopped sync.Once     // runs Stop's work once
}

// newNetsys picks the socket layer for a validated configuration.
func newNetsys(o *Config) netsys {
	if o.pollEngine() {
		return newPollNet(o)
	}
	return newPortableNet(o)
}

// NewGroup validates cfg, opens the loops and starts their goroutines. The
// loops serve nothing until Adopt hands them a listener; Stop ends them.
func NewGroup(h Handler, cfg Config) (*Group, error) {
	if h == nil {
		return nil, errors.New("loop: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hs := detect(h)
	if cfg.Codec != nil && hs.frame == nil {
		return nil, errors.New("loop: a codec needs a handler that implements FrameHandler")
	}
	sys := newNetsys(&cfg)
	e := &Group{
		h:         hs,
		opts:      &cfg,
		sys:       sys,
		stop:      make(chan struct{}),
		failed:    make(chan struct{}),
		lim:       newLimiter(cfg.MaxConns, cfg.MaxConnsPerIP),
		acceptLog: logLimiter{interval: time.Second},
		panicLog:  logLimiter{interval: time.Second},
		closeLog:  logLimiter{interval: time.Second},
	}
	e.budget.Store(cfg.MemoryBudget)
	if cfg.TLS != nil {
		e.tls = newTLSServer(&cfg)
	}
	for i := range cfg.Loops {
		l, err := newLoop(e, i)
		if err != nil {
			for _, l := range e.loops {
				l.t.closePoller()
			}
			sys.stop()
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	if d := cfg.StallThreshold; d > 0 {
		e.wg.Go(func() { e.watchdog(d, e.stop) })
	}
	for _, l := range e.loops {
		e.wg.Go(func() {
			if err := l.run(); err != nil {
				e.fail(fmt.Errorf("loop %d: %w", l.idx, err))
			}
		})
	}
	return e, nil
}

// fail records a fatal loop error; Failed then reports it.
func (e *Group) fail(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
	e.opts.Logger.Error("event loop failed", "err", err)
	e.once.Do(func() { close(e.failed) })
}

// Failed is closed when a loop has failed (its poller broke); Err then
// says why. The group keeps running the other loops until Stop.
func (e *Group) Failed() <-chan struct{} { return e.failed }

// Err returns the first fatal error of a loop, or nil.
func (e *Group) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Len returns the number of loops.
func (e *Group) Len() int { return len(e.loops) }

// Loop returns loop i, 0 <= i < Len().
func (e *Group) Loop(i int) *Loop { return e.loops[i] }

// Adopt hands ln to the loops, which accept its connections until Stop or
// Drain; the group owns ln from then on. On Linux a TCP listener made with
// SO_REUSEPORT gets one more listener on the same address per loop, so
// that the kernel spreads connections over the loops; otherwise loop 0
// accepts and spreads them by the configured Balance.
//
// replicas are the other members of ln's SO_REUSEPORT group when a process
// that this one replaces handed them over (ListenerFiles): they are served
// like the listeners Adopt would open, and only as many more are opened as
// loops remain without one. Taking over every member of the group, rather
// than opening new ones, is what lets the old process close its copies
// without resetting the connections queued in them.
func (e *Group) Adopt(ln net.Listener, replicas ...net.Listener) error {
	lns, err := e.sys.adopt(append([]net.Listener{ln}, replicas...), len(e.loops))
	if err != nil {
		return err
	}
	for i, l := range lns {
		if err := e.loops[i%len(e.loops)].addListener(l); err != nil {
			for _, l := range lns[i:] {
				e.loops[0].t.close(l.fd)
			}
			return err
		}
	}
	return nil
}

// ListenerFiles returns a duplicate of every socket the loops accept on,
// for a process that takes over from this one (a zero-downtime restart):
// pass all of them, and that process adopts them with Adopt(ln,
// replicas...) so that no socket of the address closes while connections
// wait in it. The caller closes the files. It fails when there is no
// listener (none adopted yet, or the group is draining or stopped).
func (e *Group) ListenerFiles() ([]*os.File, error) {
	type res struct {
		files []*os.File
		err   error
	}
	results := make([]chan res, len(e.loops))
	for i, l := range e.loops {
		ch := make(chan res, 1)
		results[i] = ch
		if err := l.submit(func() {
			var r res
			for _, ln := range l.listeners {
				f, err := l.t.file(ln.fd)
				if err != nil {
					r.err = err
					break
				}
				r.files = append(r.files, f)
			}
			ch <- r
		}); err != nil {
			ch <- res{err: err}
		}
	}
	var files []*os.File
	var err error
	for _, ch := range results {
		var r res
		select {
		case r = <-ch:
		case <-e.stop:
			r.err = ErrStopped
		}
		files = append(files, r.files...)
		err = cmp.Or(err, r.err)
	}
	if err == nil && len(files) == 0 {
		err = errors.New("loop: no listeners (none adopted, or draining)")
	}
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	return files, nil
}

// pick chooses the loop for a connection accepted by a spreading listener.
func (e *Group) pick() *Loop {
	if e.opts.Balance == LeastConnections {
		best := e.loops[0]
		for _, l := range e.loops[1:] {
			if l.cnt.conns.Load() < best.cnt.conns.Load() {
				best = l
			}
		}
		return best
	}
	return e.loops[int(e.rr.Add(1)-1)%len(e.loops)]
}

// Stop closes the listeners and every connection at once (OnClose receives
// ErrStopped), runs the tasks still queued, and waits until the loops
// and the goroutines of the socket layer have exited. Calls after the
// first wait for the first.
func (e *Group) Stop() {
	e.stopped.Do(func() {
		close(e.stop)
		for _, l := range e.loops {
			l.requestStop()
		}
		e.wg.Wait()
		if e.tls != nil {
			e.tls.wg.Wait() // every handshake's connection has closed: they end
		}
		e.sys.stop()
	})
}

// Stats returns a snapshot of the counters of every loop and their totals.
func (e *Group) Stats() Stats {
	var st Stats
	for _, l := range e.loops {
		st.Loops = append(st.Loops, l.cnt.snapshot())
	}
	st.sum()
	st.OutboundBytes += e.shared.Load()
	if e.tls != nil {
		st.TLSHandshakes = e.tls.handshakes.Load()
		st.TLSHandshakeFailures = e.tls.failures.Load()
	}
	return st
}

// Drain shuts the group down gracefully: it closes the listeners, runs
// OnGoodbye on every connection, keeps serving them, and closes each one
// once it is idle (nothing unread, nothing queued, quiet for DrainQuiet),
// with a FIN after its output. It returns nil when no connection is left,
// or ctx.Err() after closing the rest at once when ctx ends first. The
// loops keep running until Stop.
func (e *Group) Drain(ctx context.Context) error {
	// force closes every connection at once and waits for the drains begun.
	force := func(begun []chan struct{}) error {
		for _, l := range e.loops {
			l.requestForce()
		}
		for _, done := range begun {
			<-done
		}
		return ctx.Err()
	}
	// Every listener first, so that no loop hands a connection it accepted
	// to a loop whose drain has already ended.
	closed := make([]chan struct{}, len(e.loops))
	for i, l := range e.loops {
		closed[i] = make(chan struct{})
		if !l.control(func() { l.closeListeners(true); close(closed[i]) }) {
			close(closed[i])
		}
	}
	for _, c := range closed {
		select {
		case <-c:
		case <-ctx.Done():
			return force(nil)
		}
	}
	dones := make([]chan struct{}, len(e.loops))
	for i, l := range e.loops {
		dones[i] = make(chan struct{})
		l.requestDrain(dones[i])
	}
	for _, done := range dones {
		select {
		case <-done:
		case <-ctx.Done():
			return force(dones)
		}
	}
	return nil
}

// countClose counts a closed connection by its reason, and logs the
// reasons an operator should hear of (slow consumers, protocol errors) at
// most once a second.
func (e *Group) countClose(err error, cnt *counters) {
	r := ReasonOf(err)
	cnt.closedBy[r].Add(1)
	if r != ReasonSlowConsumer && r != ReasonProtocolError {
		return
	}
	if ok, dropped := e.closeLog.allow(); ok {
		e.opts.Logger.Warn("connection closed", "reason", r.String(), "err", err, "suppressed", dropped)
	}
}

// acceptFailed counts an accept error and logs it at most once a second.
func (e *Group) acceptFailed(err error, loop int, cnt *counters, backoff time.Duration) {
	cnt.acceptEr.Add(1)
	if ok, dropped := e.acceptLog.allow(); ok {
		e.opts.Logger.Warn("accept failed; existing connections are still served",
			"loop", loop, "err", err, "backoff", backoff, "suppressed", dropped)
	}
}
