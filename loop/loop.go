package loop

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/internal/poller"
)

const (
	// acceptBatch caps accepts per listener event in level-triggered mode.
	acceptBatch = 64
	// acceptBackoff is how long a listener pauses after EMFILE and friends.
	acceptBackoff = 100 * time.Millisecond
)

// Loop is one event loop: a poller, the connections registered with it
// and a task queue through which other goroutines reach them. Everything not
// marked otherwise is owned by the loop goroutine.
type Loop struct {
	idx  int
	e    *Group
	h    Handler
	wh   WakeHandler // nil if the handler has no OnWake
	opts *Config
	t    transport
	cnt  counters // atomic; read by Stats

	conns         []*conn    // indexed by descriptor
	freeExts      []*connExt // see newExt
	plain         []byte     // TLS: decrypted input, one record (made at the first)
	join          []byte     // TLS: a Writev's buffers, joined into one record
	listeners     []*listener
	buf           []byte // shared read buffer
	cur           *conn  // connection inside OnData, whose input is view
	view          []byte // unconsumed input of cur
	vec           [][]byte
	dirty         []*conn       // connections with output to flush at the end of the batch
	again         []*conn       // edge-triggered connections that hit the read cap
	resumed       []*conn       // ResumeRead with whole frames buffered, to hand over
	budgetPaused  []*conn       // connections not read until the memory budget allows
	budgetWriters []*conn       // connections owed an OnWritable once the budget allows (budgetWait)
	budgetWoken   []*conn       // the previous budgetWriters, reused
	budgetOthers  int64         // the other loops' bytes at the round's start (budget.go)
	budgetConns   int64         // the other loops' connections at the round's start
	budgetLimit   int64         // the most this loop may bring the total to in this round
	budgetScan    time.Duration // when the loop last looked for stalled queues (budget.go)
	w             *wheel        // the loop's timers
	now           int64         // the wheel's current tick, refreshed every round
	idle          int           // rounds in a row without events
	tick          timer         // WithLoopTick

	// Read by the watchdog and Health from other goroutines.
	turnAt    atomic.Int64 // monotonic time the loop last woke up
	parked    atomic.Bool  // waiting for events (not stalled, whatever turnAt says)
	gid       atomic.Int64 // the loop goroutine's id, for stack dumps
	stallSeen int64        // turnAt of the last stall reported; owned by the watchdog

	mu          sync.Mutex // guards the fields below; never held while calling out
	tasks       []func()
	spare       []func()
	controls    []func()  // the server's own requests (health, shedding): not bounded by the task queue
	signaled    []*conn   // connections with pending Wake/Close requests
	notified    []*Signal // Signals with a pending Notify (each at most once)
	incoming    []incoming
	stopping    bool
	drainReq    bool          // Shutdown asked the loop to drain
	drainDone   chan struct{} // closed by the loop when drained
	forceReq    bool          // the drain deadline passed: close what is left
	throttleReq *bool         // Server.Throttle asked for this state

	drain     *loopDrain // non-nil once draining; owned by the loop
	throttled bool       // Server.Throttle: no accepts, no reads; owned by the loop
}

// incoming is a connection accepted by another loop's listener.
type incoming struct {
	fd   int
	peer any
	ln   *listener
}

func newLoop(e *Group, idx int) (*Loop, error) {
	t, err := e.sys.transport(idx)
	if err != nil {
		return nil, err
	}
	l := &Loop{
		idx:  idx,
		e:    e,
		opts: e.opts,
		t:    t,
		buf:  make([]byte, e.opts.ReadBuffer),
	}
	l.w = newWheel(e.opts.TimerTick)
	if e.opts.RecordLoopStats {
		l.cnt.iterations = newIterationHistogram()
		l.cnt.events = newEventsHistogram()
	}
	l.cnt.tasks = func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.tasks)
	}
	if fn := e.opts.OnTick; fn != nil {
		every := l.ticks(e.opts.TickInterval)
		l.tick.fn = func() {
			if err := e.guardCall("loop tick", func() { fn(idx) }, idx, &l.cnt); err != nil {
				e.opts.Logger.Error("loop tick failed", "loop", idx, "err", err)
			}
			l.w.schedule(&l.tick, l.now+every)
		}
		l.w.schedule(&l.tick, every)
	}
	return l, nil
}

// ticks converts a duration to wheel ticks, rounded up.
func (l *Loop) ticks(d time.Duration) int64 {
	return int64((d + l.w.tick - 1) / l.w.tick)
}

// submit queues t to run on the loop goroutine. Safe for concurrent use.
func (l *Loop) submit(t func()) error {
	l.mu.Lock()
	switch {
	case l.stopping:
		l.mu.Unlock()
		return ErrClosed
	case len(l.tasks) >= l.opts.TaskQueueSize:
		l.mu.Unlock()
		return ErrQueueFull
	}
	l.tasks = append(l.tasks, t)
	l.mu.Unlock()
	return l.wake()
}

// control runs f on the loop goroutine ahead of the tasks. It is for the
// server's own rare requests (a health probe, a shedding round), which must
// get through even when AsyncWrite has filled the task queue; a few at a
// time at most, so it needs no bound. It reports false when the loop has
// stopped. Safe for concurrent use.
func (l *Loop) control(f func()) bool {
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return false
	}
	l.controls = append(l.controls, f)
	l.mu.Unlock()
	l.wake()
	return true
}

// signal queues c for its pending Wake/Close requests. Each connection is
// queued at most once at a time (see conn.signal), so this list is bounded
// by the number of connections. Safe for concurrent use.
func (l *Loop) signal(c *conn) {
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return
	}
	l.signaled = append(l.signaled, c)
	l.mu.Unlock()
	l.wake()
}

func (l *Loop) wake() error {
	if err := l.t.wake(); err != nil {
		l.opts.Logger.Error("loop wake-up failed", "loop", l.idx, "err", err)
		return err
	}
	return nil
}

// addListener registers a listening socket with the loop. Safe for
// concurrent use.
func (l *Loop) addListener(ln *listener) error {
	return l.submit(func() {
		if err := l.t.add(ln.fd, poller.InterestRead); err != nil {
			l.opts.Logger.Error("listener registration failed", "loop", l.idx, "err", err)
			l.t.close(ln.fd)
			return
		}
		l.listeners = append(l.listeners, ln)
	})
}

func (l *Loop) requestStop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.wake()
}

// run is the loop goroutine.
func (l *Loop) run() error {
	defer l.t.closePoller()
	l.gid.Store(goroutineID())
	l.parked.Store(true)
	err := l.t.run(-1, l.round)
	l.shutdown()
	return err
}

// round handles the n events of one poll, then the queued tasks, the timers
// and the output, and says how long the next poll may wait (-1: until
// something happens) and whether the loop must stop.
func (l *Loop) round(n int) (next int, stop bool) {
	l.parked.Store(false)
	woke := monotime()
	l.turnAt.Store(int64(woke))
	l.now = l.w.tickAt(woke)
	if b := l.e.budget.Load(); b > 0 {
		l.budgetRound(b)
	}
	wakeup := false
	for i := range n {
		fd, ev := l.t.event(i)
		if fd == poller.WakeFD {
			wakeup = true
			continue
		}
		if fd < len(l.conns) {
			if c := l.conns[fd]; c != nil {
				c.handle(ev)
				if len(l.dirty) >= flushEvery {
					l.flushDirty()
				}
				continue
			}
		}
		if ln := l.listenerOf(fd); ln != nil {
			l.accept(ln)
		}
	}
	if wakeup && l.runQueued() {
		return 0, true
	}
	l.retryReads()
	l.deliverResumed()
	if l.budgetWatched() {
		l.checkBudget()
	}
	if l.w.n > 0 {
		l.w.advance(l.now)
	}
	l.flushDirty()
	if h := l.cnt.iterations; h != nil && n > 0 {
		h.observe(int64(monotime() - woke))
		l.cnt.events.observe(int64(n))
	}

	// Poll again at once while connections wait for another read round,
	// and for spinRounds polls after a busy round; otherwise wait for
	// events or the next timer.
	switch {
	case len(l.again) > 0, len(l.resumed) > 0:
		return 0, false
	case n > 0:
		l.idle = 0
	default:
		l.idle++
	}
	if l.idle < l.opts.SpinRounds {
		return 0, false
	}
	next = -1
	if wt := l.w.timeout(); wt >= 0 {
		next = wt
	}
	if l.budgetWatched() && (next < 0 || next > int(budgetPoll/time.Millisecond)) {
		next = int(budgetPoll / time.Millisecond)
	}
	if next != 0 {
		l.parked.Store(true)
	}
	return next, false
}

func (l *Loop) listenerOf(fd int) *listener {
	for _, ln := range l.listeners {
		if ln.fd == fd {
			return ln
		}
	}
	return nil
}

// runQueued runs the queued tasks, registers handed-over connections and serves
// Wake/Close requests. It reports whether the loop must stop.
func (l *Loop) runQueued() bool {
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = l.spare[:0]
	sig := l.signaled
	l.signaled = nil
	notified := l.notified
	l.notified = nil
	inc := l.incoming
	l.incoming = nil
	stop := l.stopping
	controls := l.controls
	l.controls = nil
	drainReq, forceReq, throttleReq := l.drainReq, l.forceReq, l.throttleReq
	l.drainReq, l.forceReq, l.throttleReq = false, false, nil
	l.mu.Unlock()

	for _, in := range inc {
		// Accepted by a spreading loop, maybe before a drain began: the
		// peer sees an established connection, so it is served (and
		// drained) like the others, never dropped.
		if c := l.register(in.fd, in.peer, in.ln); c != nil && l.drain != nil {
			l.drainConn(c, l.ticks(l.opts.DrainSpread))
		}
	}
	for _, f := range controls {
		f()
	}
	if throttleReq != nil {
		l.setThrottle(*throttleReq)
	}
	if drainReq {
		l.beginDrain()
	}
	if forceReq {
		l.forceClose()
	}
	for i, t := range tasks {
		t()
		tasks[i] = nil
	}
	l.spare = tasks[:0]
	for _, c := range sig {
		c.serveSignals()
	}
	for _, s := range notified {
		s.run()
	}
	return stop
}

// retryReads gives edge-triggered connections that hit the read cap
// another round.
func (l *Loop) retryReads() {
	if len(l.again) == 0 {
		return
	}
	again := l.again
	l.again = nil
	for _, c := range again {
		if c.interest()&poller.InterestRead != 0 && c.state&stLinger == 0 {
			c.read()
		}
	}
}

// deliverResumed hands the connections that ResumeRead let read again
// the frames (or, with TLS, the input) they had buffered when they were
// paused.
func (l *Loop) deliverResumed() {
	for len(l.resumed) > 0 { // a handler may resume others meanwhile
		rs := l.resumed
		l.resumed = nil
		for i, c := range rs {
			rs[i] = nil
			if c.state&(stClosed|stClosing|stReadPaused|stBudgetPaused) == 0 && c.pauses == 0 && len(c.in) > 0 {
				c.deliverPlain(nil) // TLS decrypted it already
			}
		}
	}
}

// flushEvery is how many connections with output a round collects before
// it flushes them, without waiting for the end of the round: a round of
// a thousand events would otherwise hold the first answer back until the
// last request is handled. Output written to a connection twice in the
// round (fan-out, AsyncWrite) still goes in one writev most of the time.
const flushEvery = 64

func (l *Loop) flushDirty() {
	for i := 0; i < len(l.dirty); i++ { // flushing may close and dirty others
		c := l.dirty[i]
		l.dirty[i] = nil
		c.state &^= stDirty
		if c.state&stClosed == 0 {
			c.flush()
		}
	}
	l.dirty = l.dirty[:0]
}

func (l *Loop) accept(ln *listener) {
	for i := 0; l.opts.EdgeTriggered || i < acceptBatch; i++ {
		fd, peer, err := l.t.accept(ln.fd)
		if err != nil {
			l.acceptError(ln, err)
			return
		}
		target := l
		if ln.spread {
			target = l.e.pick()
		}
		if target == l {
			l.register(fd, peer, ln)
			continue
		}
		target.mu.Lock()
		if target.stopping {
			target.mu.Unlock()
			l.t.close(fd)
			continue
		}
		target.incoming = append(target.incoming, incoming{fd: fd, peer: peer, ln: ln})
		target.mu.Unlock()
		target.wake()
	}
}

func (l *Loop) acceptError(ln *listener, err error) {
	switch {
	case err == errAgain:
		return
	case l.t.temporary(err):
		// Out of descriptors or buffers: stop polling this listener for a
		// while instead of spinning on it; existing connections go on.
		l.e.acceptFailed(err, l.idx, &l.cnt, acceptBackoff)
		if l.t.mod(ln.fd, poller.InterestNone) == nil {
			ln.paused = true
			ln.backoff.fn = func() {
				ln.paused = false
				if !l.throttled {
					l.t.mod(ln.fd, poller.InterestRead)
				}
			}
			l.w.schedule(&ln.backoff, l.now+l.ticks(acceptBackoff))
		}
	default:
		l.e.acceptFailed(err, l.idx, &l.cnt, 0)
	}
}

// register adopts an accepted descriptor.
func (l *Loop) register(fd int, peer any, ln *listener) *conn {
	ip := l.t.peerIP(peer)
	if !l.e.lim.admit(ip) {
		l.cnt.refused.Add(1)
		l.t.close(fd)
		return nil
	}
	if err := l.t.configure(fd, ln.tcp); err != nil {
		l.opts.Logger.Warn("socket options failed", "loop", l.idx, "err", err)
		l.e.lim.release(ip)
		l.t.close(fd)
		return nil
	}
	in := poller.InterestRead
	if l.opts.EdgeTriggered {
		in = poller.InterestBoth // edge-triggered: armed once, never modified
	}
	if err := l.t.add(fd, in); err != nil {
		l.opts.Logger.Warn("poller registration failed", "loop", l.idx, "err", err)
		l.e.lim.release(ip)
		l.t.close(fd)
		return nil
	}
	c := &conn{fd: fd, loop: l, ln: ln, peer: peer}
	if ln.local == nil {
		c.local = l.t.localAddr(fd)
	}
	if fd >= len(l.conns) {
		n := max(fd+1, len(l.conns)+len(l.conns)/4, 1024)
		l.conns = append(l.conns, make([]*conn, n-len(l.conns))...)
	}
	l.conns[fd] = c
	l.cnt.accepted.Add(1)
	l.cnt.conns.Add(1)
	if d := l.opts.IdleTimeout; d > 0 {
		c.SetIdleTimeout(d)
	}
	if s := l.e.tls; s != nil {
		c.startTLS(s) // OnOpen once the handshake is done
		return c
	}
	if err := l.call(cbOpen, c, nil); err != nil {
		c.closeNow(err)
		return nil
	}
	c.afterCallback()
	if c.state&(stClosed|stClosing) != 0 {
		return nil
	}
	return c
}

// call runs a handler callback with panic isolation.
func (l *Loop) call(cb callback, c *conn, closeErr error) error {
	return l.e.invoke(cb, c, closeErr, l.idx, &l.cnt)
}

// shutdown closes every listener and connection. It runs on the loop
// goroutine as it exits.
func (l *Loop) shutdown() {
	l.closeListeners(false)
	for _, c := range l.conns {
		if c != nil {
			c.closeNow(ErrStopped)
		}
	}
	l.mu.Lock()
	l.stopping = true
	inc := l.incoming
	l.incoming = nil
	l.mu.Unlock()
	for _, in := range inc {
		l.t.close(in.fd)
	}
	// Tasks queued before the stop still run, so that every AsyncWrite
	// completion learns that its connection has closed.
	l.runQueued()
}

// closeListeners closes the loop's listeners. A connection that a
// listener had already taken from the kernel as it closed is served when
// serve is set (a drain serves it like the others), else closed.
func (l *Loop) closeListeners(serve bool) {
	for _, ln := range l.listeners {
		l.w.cancel(&ln.backoff)
		if fd, peer := l.t.closeListener(ln.fd); fd >= 0 {
			if serve {
				l.register(fd, peer, ln)
			} else {
				l.t.close(fd)
			}
		}
	}
	l.listeners = nil
}
