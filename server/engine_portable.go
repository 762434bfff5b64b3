package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// portableReadSize is the read buffer of a portable connection.
const portableReadSize = 16 << 10

// portable is the fallback engine: std net with a reader and a writer
// goroutine per connection, behind the same Handler API. Callbacks of one
// connection are serialized by its mutex, which plays the role of the loop.
type portable struct {
	s         *Server
	loops     []counters // connections are assigned to virtual loops for Stats
	next      atomic.Uint32
	throttled atomic.Bool // Server.Throttle: readers and accept loops wait
	wg        sync.WaitGroup
	stop      chan struct{} // closed by close

	mu       sync.Mutex // guards the fields below
	lns      []net.Listener
	conns    map[*stdConn]struct{}
	closed   bool
	draining bool // Shutdown began: accepted connections are closed
}

func newPortable(s *Server) *portable {
	e := &portable{s: s, loops: make([]counters, s.opts.loops), conns: make(map[*stdConn]struct{}), stop: make(chan struct{})}
	if fn := s.opts.loopTickFn; fn != nil {
		for i := range e.loops {
			e.wg.Go(func() { e.tick(i, fn) })
		}
	}
	return e
}

// tick runs WithLoopTick's function for virtual loop i until close.
func (e *portable) tick(i int, fn func(int)) {
	t := time.NewTicker(e.s.opts.loopTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := e.s.guardCall("loop tick", func() { fn(i) }, i, &e.loops[i]); err != nil {
				e.s.opts.logger.Error("loop tick failed", "loop", i, "err", err)
			}
		case <-e.stop:
			return
		}
	}
}

func (e *portable) serve(ln net.Listener) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	e.lns = append(e.lns, ln)
	e.wg.Add(1)
	e.mu.Unlock()
	go e.acceptLoop(ln)
	return nil
}

func (e *portable) acceptLoop(ln net.Listener) {
	defer e.wg.Done()
	for {
		for e.throttled.Load() {
			time.Sleep(throttlePoll)
			if e.isClosed() {
				return
			}
		}
		nc, err := ln.Accept()
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // interrupted by Throttle
		}
		if err != nil {
			e.mu.Lock()
			closed := e.closed
			e.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			e.s.acceptFailed(err, 0, &e.loops[0], acceptBackoffPortable)
			time.Sleep(acceptBackoffPortable)
			continue
		}
		e.start(nc)
	}
}

const acceptBackoffPortable = 100 * time.Millisecond

// throttlePoll is how often a throttled accept loop checks whether it may
// accept again.
const throttlePoll = 20 * time.Millisecond

func (e *portable) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed || e.draining
}

func (e *portable) start(nc net.Conn) {
	o := &e.s.opts
	if !e.s.lim.admit(addrIP(nc.RemoteAddr())) {
		e.loops[0].refused.Add(1)
		nc.Close()
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(o.noDelay)
		if o.keepAlive != 0 {
			tc.SetKeepAlive(o.keepAlive > 0)
			if o.keepAlive > 0 {
				tc.SetKeepAlivePeriod(o.keepAlive)
			}
		}
		if o.sndBuf > 0 {
			tc.SetWriteBuffer(o.sndBuf)
		}
		if o.rcvBuf > 0 {
			tc.SetReadBuffer(o.rcvBuf)
		}
	}
	idx := int(e.next.Add(1)-1) % len(e.loops)
	c := &stdConn{e: e, nc: nc, idx: idx, cnt: &e.loops[idx], kick: make(chan struct{}, 1), quit: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	e.mu.Lock()
	if e.closed || e.draining {
		e.mu.Unlock()
		e.s.lim.release(addrIP(nc.RemoteAddr()))
		nc.Close()
		return
	}
	e.conns[c] = struct{}{}
	e.wg.Add(2)
	e.mu.Unlock()
	c.cnt.accepted.Add(1)
	c.cnt.conns.Add(1)

	c.mu.Lock()
	if o.idleTimeout > 0 {
		c.SetIdleTimeout(o.idleTimeout)
	}
	if err := c.call(cbOpen, nil); err != nil {
		c.finish(err)
	} else {
		c.afterCallback()
	}
	c.mu.Unlock()
	go c.readLoop()
	go c.writeLoop()
}

func (e *portable) close() {
	e.mu.Lock()
	if !e.closed {
		close(e.stop)
	}
	e.closed = true
	lns := e.lns
	e.lns = nil
	conns := make([]*stdConn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range conns {
		c.mu.Lock()
		c.finish(ErrServerClosed)
		c.mu.Unlock()
	}
	e.wg.Wait()
}

// health is always fine: the portable engine has no loops to stall, only
// goroutines per connection.
func (e *portable) health(context.Context) error { return nil }

func (e *portable) stats(st *Stats) {
	for i := range e.loops {
		st.Loops = append(st.Loops, e.loops[i].snapshot())
	}
}

// drain runs a graceful shutdown; see Server.Shutdown. The portable engine
// checks its connections every drainPoll.
func (e *portable) drain(ctx context.Context) error {
	e.mu.Lock()
	lns := e.lns
	e.lns = nil
	conns := make([]*stdConn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.draining = true
	e.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	now := time.Now().UnixNano()
	spread := int64(e.s.opts.drainSpread)
	for _, c := range conns {
		c.mu.Lock()
		c.dl.lastActive = now
		if spread > 0 {
			c.drainAt = now + rand.Int64N(spread)
		}
		if e.s.goodbyeHandler && !c.closed && !c.closing {
			if err := c.call(cbGoodbye, nil); err != nil {
				c.finish(err)
			} else {
				c.afterCallback()
			}
		}
		c.mu.Unlock()
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	quiet := int64(e.s.opts.drainQuiet)
	for {
		e.mu.Lock()
		conns = conns[:0]
		for c := range e.conns {
			conns = append(conns, c)
		}
		e.mu.Unlock()
		if len(conns) == 0 {
			return nil
		}
		now := time.Now().UnixNano()
		for _, c := range conns {
			c.mu.Lock()
			if !c.closed && !c.closing && (len(c.in) == 0 || c.readPaused) && c.OutboundBuffered() == 0 &&
				now-c.dl.lastActive >= quiet && now >= c.drainAt {
				c.beginClose(ErrServerClosed)
			}
			c.mu.Unlock()
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			for _, c := range conns {
				c.mu.Lock()
				c.finish(ErrServerClosed)
				c.mu.Unlock()
			}
			return ctx.Err()
		}
	}
}

// drainPoll is how often the portable engine looks for idle connections
// while draining.
const drainPoll = 20 * time.Millisecond

// throttle pauses the readers and the accept loops of the portable engine.
// Blocked reads and accepts are interrupted with a deadline in the past.
func (e *portable) throttle(on bool) {
	e.throttled.Store(on)
	var deadline time.Time // the zero time clears the deadline
	if on {
		deadline = time.Unix(1, 0)
	}
	e.mu.Lock()
	conns := make([]*stdConn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	for _, ln := range e.lns {
		if d, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
			d.SetDeadline(deadline)
		}
	}
	e.mu.Unlock()
	for _, c := range conns {
		c.nc.SetReadDeadline(deadline)
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

func (e *portable) backlogged(_ context.Context, stalled time.Duration) []backlog {
	e.mu.Lock()
	conns := make([]*stdConn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	var out []backlog
	now := monotime()
	for _, c := range conns {
		c.mu.Lock()
		if !c.closed && sheddable(c.out, &e.s.opts, now, stalled) {
			out = append(out, backlog{conn: c, loop: c.idx, bytes: c.out.n})
		}
		c.mu.Unlock()
	}
	return out
}

func (e *portable) shed(_ context.Context, victims []backlog, stalled time.Duration) (closed int, freed int64) {
	now := monotime()
	for _, v := range victims {
		c := v.conn.(*stdConn)
		c.mu.Lock()
		if !c.closed && sheddable(c.out, &e.s.opts, now, stalled) {
			freed += int64(c.OutboundBuffered())
			closed++
			c.cnt.slow.Add(1)
			c.finish(ErrSlowConsumer)
		}
		c.mu.Unlock()
	}
	return closed, freed
}

func (e *portable) outbound() int64 {
	var n int64
	for i := range e.loops {
		n += e.loops[i].outBytes.Load()
	}
	return n
}
