package server

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/internal/bufpool"
)

// stdConn is a connection of the portable engine: a reader and a writer
// goroutine around a net.Conn. Its mutex plays the role of the loop: every
// callback runs with it held, so callbacks of one connection never overlap,
// and the "loop only" methods assume it is held.
type stdConn struct {
	e    *portable
	nc   net.Conn
	idx  int
	cnt  *counters
	kick chan struct{} // wakes the writer goroutine; capacity 1
	quit chan struct{} // closed by finish

	signal atomic.Uint32 // pending sigWake/sigClose

	tmu       sync.Mutex // guards tasks and tasksDone
	tasks     []func()
	tasksDone bool // the connection has finished: AsyncWrite fails

	mu      sync.Mutex // the connection's "loop"; guards everything below
	cond    *sync.Cond // on mu: the reader waits here while paused
	input              // leftover input between OnData calls
	view    []byte     // unconsumed input while inside OnData
	inData  bool
	out     *outbound
	ctx     any
	dl      deadlines   // in nanoseconds since the Unix epoch
	drainAt int64       // during a drain: not closed before this instant
	timer   *time.Timer // fires at the earliest deadline
	reason  error       // close reason for OnClose

	closing, closed, linger bool
	peerEOF, writeDone      bool
	shutWrite, readPaused   bool
	selfPaused, aboveHigh   bool
	writing                 bool // the writer is in a write outside mu and owns out's chunks
}

var _ Conn = (*stdConn)(nil)

func (c *stdConn) inputView() *[]byte {
	if c.inData {
		return &c.view
	}
	return &c.in
}

func (c *stdConn) Buffered() int              { return len(*c.inputView()) }
func (c *stdConn) Peek(n int) ([]byte, error) { return viewPeek(*c.inputView(), n) }
func (c *stdConn) Next(n int) ([]byte, error) { return viewNext(c.inputView(), n) }
func (c *stdConn) Discard(n int) (int, error) { return viewDiscard(c.inputView(), n) }
func (c *stdConn) Context() any               { return c.ctx }
func (c *stdConn) SetContext(v any)           { c.ctx = v }
func (c *stdConn) LoopIndex() int             { return c.idx }
func (c *stdConn) LocalAddr() net.Addr        { return c.nc.LocalAddr() }
func (c *stdConn) RemoteAddr() net.Addr       { return c.nc.RemoteAddr() }

// call runs a handler callback with panic isolation. mu is held.
func (c *stdConn) call(cb callback, closeErr error) error {
	return c.e.s.invoke(cb, c, closeErr, c.idx, c.cnt)
}

// afterCallback applies a Close called from inside a callback. mu is held.
func (c *stdConn) afterCallback() {
	if c.signal.Load()&sigClose != 0 {
		c.beginClose(nil)
	}
}

func (c *stdConn) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// ---- writing ----

func (c *stdConn) Write(p []byte) (int, error) {
	if err := c.admit(len(p)); err != nil {
		return 0, err
	}
	c.queue(p)
	return len(p), nil
}

func (c *stdConn) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	if err := c.admit(n); err != nil {
		return 0, err
	}
	for _, b := range bs {
		c.queue(b)
	}
	return n, nil
}

func (c *stdConn) TryWrite(p []byte) (int, error) {
	if c.closing || c.closed || c.shutWrite {
		return 0, ErrClosed
	}
	if q := c.OutboundBuffered(); q > 0 && q+len(p) > c.e.s.opts.highWater {
		c.aboveHigh = true
		return 0, ErrWouldBlock
	}
	c.queue(p)
	return len(p), nil
}

func (c *stdConn) OutboundBuffered() int {
	if c.out == nil {
		return 0
	}
	return c.out.n
}

// admit applies the watermarks and the slow-consumer policy. mu is held.
// Under SlowConsumerPauseProducer the producer is the connection itself:
// in this engine every write comes from its own callbacks.
func (c *stdConn) admit(n int) error {
	if c.closing || c.closed || c.shutWrite {
		return ErrClosed
	}
	o := &c.e.s.opts
	q := c.OutboundBuffered()
	if q == 0 || q+n <= o.highWater && (o.outBudget == 0 || c.e.outbound()+int64(n) <= o.outBudget) {
		return nil
	}
	if !c.aboveHigh {
		c.aboveHigh = true
		c.cnt.slow.Add(1)
	}
	switch o.slowPolicy {
	case SlowConsumerDrop:
		c.cnt.dropped.Add(1)
		return ErrDropped
	case SlowConsumerPauseProducer:
		c.selfPaused = true
		return nil
	}
	c.finish(ErrSlowConsumer)
	return ErrSlowConsumer
}

func (c *stdConn) queue(p []byte) {
	if c.out == nil {
		c.out = getOutbound()
		c.out.moved = monotime()
	}
	c.out.write(p)
	c.cnt.outBytes.Add(int64(len(p)))
	c.poke()
}

func (c *stdConn) AsyncWrite(p []byte, done func(Conn, error)) error {
	c.tmu.Lock()
	switch {
	case c.tasksDone:
		c.tmu.Unlock()
		return ErrClosed
	case len(c.tasks) >= c.e.s.opts.taskQueueSize:
		c.tmu.Unlock()
		return ErrQueueFull
	}
	c.tasks = append(c.tasks, func() {
		err := c.admit(len(p))
		if err == nil {
			c.queue(p)
		}
		switch {
		case done == nil:
		case err != nil:
			c.e.s.guardDone(done, c.idx, c.cnt)(c, err)
		default:
			c.out.wait(c.e.s.guardDone(done, c.idx, c.cnt))
		}
	})
	c.tmu.Unlock()
	c.poke()
	return nil
}

func (c *stdConn) Wake() error {
	c.signal.Or(sigWake)
	c.poke()
	return nil
}

func (c *stdConn) Close() error {
	c.signal.Or(sigClose)
	c.poke()
	return nil
}

// ---- closing ----

func (c *stdConn) CloseWithError(err error) error {
	c.beginClose(err)
	return nil
}

func (c *stdConn) CloseWrite() error {
	if c.closing || c.closed || c.shutWrite {
		return ErrClosed
	}
	c.shutWrite = true
	c.poke() // the writer sends FIN once the queue is flushed
	return nil
}

// beginClose starts a graceful close: the writer flushes, sends FIN and the
// reader waits for the peer's FIN. mu is held.
func (c *stdConn) beginClose(reason error) {
	if c.closing || c.closed {
		return
	}
	c.closing = true
	c.reason = reason
	c.dl = deadlines{} // closing: only the close deadline applies from now on
	if d := c.e.s.opts.closeTimeout; d > 0 {
		c.dl.close = time.Now().Add(d).UnixNano()
		c.armTimers()
	}
	c.cond.Broadcast()
	c.poke()
}

// flushedForClose continues a close once the queue is empty. mu is held.
func (c *stdConn) flushedForClose() {
	if c.peerEOF || c.writeDone || c.e.s.opts.closeTimeout == 0 {
		c.finish(c.reason)
		return
	}
	c.linger, c.writeDone = true, true
	closeWrite(c.nc)
	c.cond.Broadcast() // a paused reader must read on, to see the FIN
}

func closeWrite(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// finish runs OnClose and closes the socket. mu is held.
func (c *stdConn) finish(err error) {
	if c.closed {
		return
	}
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.call(cbClose, err)
	c.reset()
	if c.out != nil && !c.writing {
		out := c.out
		c.out = nil
		c.cnt.outBytes.Add(-int64(out.n))
		out.release(c, ErrClosed)
	}
	c.nc.Close()
	c.e.s.lim.release(addrIP(c.nc.RemoteAddr()))
	close(c.quit)
	// Queued AsyncWrites learn that the connection has closed.
	c.tmu.Lock()
	tasks := c.tasks
	c.tasks, c.tasksDone = nil, true
	c.tmu.Unlock()
	for _, t := range tasks {
		t()
	}
	c.cond.Broadcast()
	c.e.mu.Lock()
	delete(c.e.conns, c)
	c.e.mu.Unlock()
	c.cnt.closed.Add(1)
	c.cnt.conns.Add(-1)
	c.e.s.countClose(err, c.cnt)
}

// ---- reading ----

func (c *stdConn) PauseRead() { c.readPaused = true }

func (c *stdConn) ResumeRead() {
	c.readPaused = false
	c.cond.Broadcast()
}

func (c *stdConn) readLoop() {
	defer c.e.wg.Done()
	buf := bufpool.Get(portableReadSize)[:portableReadSize]
	defer bufpool.Put(buf)
	max := c.e.s.opts.maxInput
	for {
		c.mu.Lock()
		for (c.readPaused || c.selfPaused || c.closing || c.e.throttled.Load()) && !c.closed && !c.linger {
			c.cond.Wait()
		}
		stop := c.closed
		c.mu.Unlock()
		if stop {
			return
		}
		n, err := c.nc.Read(buf)
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return
		case c.linger: // discarding until the peer's FIN
			if err != nil {
				c.finish(c.reason)
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			continue
		}
		if n > 0 && !c.closing {
			c.cnt.bytesIn.Add(uint64(n))
			c.dl.lastActive, c.dl.read = time.Now().UnixNano(), 0
			view, ferr := c.feed(buf[:n], max)
			if ferr != nil {
				c.finish(ferr)
				c.mu.Unlock()
				return
			}
			c.view, c.inData = view, true
			perr := c.call(cbData, nil)
			rest := c.view
			c.view, c.inData = nil, false
			switch {
			case perr != nil:
				c.finish(perr)
			case c.closed:
			default:
				if kerr := c.keep(rest, max); kerr != nil {
					c.finish(kerr)
				} else {
					c.afterCallback()
				}
			}
		}
		if err != nil && !c.closed && errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil // interrupted by Throttle: wait for the resume
		}
		if err != nil && !c.closed {
			if errors.Is(err, io.EOF) {
				c.onEOF()
			} else {
				c.finish(err)
			}
		}
		stop = c.closed || c.peerEOF
		c.mu.Unlock()
		if stop {
			return
		}
	}
}

// onEOF handles the peer's FIN. mu is held.
func (c *stdConn) onEOF() {
	c.peerEOF = true
	switch {
	case c.writeDone:
		c.finish(io.EOF)
	case c.closing:
		c.poke() // the writer finishes the close
	case c.e.s.eofHandler:
		if err := c.call(cbEOF, nil); err != nil {
			c.finish(err)
			return
		}
		c.afterCallback()
	default:
		c.beginClose(io.EOF)
	}
}

// ---- the writer goroutine: tasks, flushing, close steps ----

// portableWriteMax is the most the writer hands to one blocking write.
const portableWriteMax = 256 << 10

// capBuffers trims bufs to at most max bytes in all.
func capBuffers(bufs net.Buffers, max int) net.Buffers {
	for i, b := range bufs {
		if len(b) >= max {
			bufs[i] = b[:max]
			return bufs[:i+1]
		}
		max -= len(b)
	}
	return bufs
}

func (c *stdConn) writeLoop() {
	defer c.e.wg.Done()
	var bufs net.Buffers
	for {
		select {
		case <-c.kick:
		case <-c.quit:
			return
		}
		for {
			c.mu.Lock()
			c.runTasks()
			if c.closed {
				c.mu.Unlock()
				return
			}
			if c.OutboundBuffered() == 0 {
				c.queueEmpty()
				closed := c.closed
				c.mu.Unlock()
				if closed {
					return
				}
				break
			}
			// At most portableWriteMax per call, so that the queue shows
			// progress (outbound.moved) while a slow peer takes it.
			bufs = capBuffers(c.out.views(bufs[:0]), portableWriteMax)
			c.writing = true
			c.mu.Unlock()

			vec := bufs // WriteTo consumes its receiver
			n, err := vec.WriteTo(c.nc)

			c.mu.Lock()
			c.writing = false
			if c.closed {
				if c.out != nil {
					out := c.out
					c.out = nil
					c.cnt.outBytes.Add(-int64(out.n))
					out.release(c, ErrClosed)
				}
				c.mu.Unlock()
				return
			}
			c.cnt.bytesOut.Add(uint64(n))
			c.cnt.outBytes.Add(-n)
			c.dl.lastActive = time.Now().UnixNano()
			c.out.moved = monotime()
			c.out.consume(int(n), c)
			if err != nil {
				c.finish(err)
				c.mu.Unlock()
				return
			}
			if c.aboveHigh && c.out.n <= c.e.s.opts.lowWater {
				c.drained()
			}
			c.mu.Unlock()
		}
	}
}

// queueEmpty takes the steps that wait for an empty queue. mu is held.
func (c *stdConn) queueEmpty() {
	if c.out != nil && len(c.out.waiters) == 0 {
		c.out.release(c, nil)
		c.out = nil
	}
	if c.aboveHigh {
		c.drained()
	}
	switch {
	case c.closed:
	case c.closing:
		c.flushedForClose()
	case c.shutWrite && !c.writeDone:
		c.writeDone = true
		closeWrite(c.nc)
		if c.peerEOF {
			c.finish(io.EOF)
		}
	}
}

// drained runs once the queue is below the low watermark after passing the
// high one. mu is held.
func (c *stdConn) drained() {
	c.aboveHigh = false
	if c.selfPaused {
		c.selfPaused = false
		c.cond.Broadcast()
	}
	if c.e.s.writableHandler && !c.closing && !c.shutWrite {
		if err := c.call(cbWritable, nil); err != nil {
			c.finish(err)
		}
	}
}

// runTasks runs queued AsyncWrites and serves Wake/Close. mu is held.
func (c *stdConn) runTasks() {
	c.tmu.Lock()
	tasks := c.tasks
	c.tasks = nil
	c.tmu.Unlock()
	for _, t := range tasks {
		t()
	}
	sig := c.signal.Swap(0)
	if c.closed {
		return
	}
	if sig&sigWake != 0 && !c.closing {
		if err := c.call(cbWake, nil); err != nil {
			c.finish(err)
			return
		}
	}
	if sig&sigClose != 0 {
		c.beginClose(nil)
	}
}

// ---- timers ----

func (c *stdConn) SetReadDeadline(t time.Time) error  { return c.setDeadline(&c.dl.read, t) }
func (c *stdConn) SetWriteDeadline(t time.Time) error { return c.setDeadline(&c.dl.write, t) }

func (c *stdConn) setDeadline(field *int64, t time.Time) error {
	if c.closed {
		return ErrClosed
	}
	*field = 0
	if !t.IsZero() {
		*field = t.UnixNano()
	}
	c.armTimers()
	return nil
}

func (c *stdConn) SetIdleTimeout(d time.Duration) error {
	if c.closed {
		return ErrClosed
	}
	c.dl.idle = int64(max(d, 0))
	c.dl.lastActive = time.Now().UnixNano()
	c.armTimers()
	return nil
}

// armTimers sets the runtime timer to the earliest deadline. mu is held.
func (c *stdConn) armTimers() {
	_, next := c.dl.check(time.Now().UnixNano(), c.OutboundBuffered() > 0, c.linger)
	if next == 0 {
		if c.timer != nil {
			c.timer.Stop()
		}
		return
	}
	d := time.Duration(next - time.Now().UnixNano())
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.checkTimers)
	} else {
		c.timer.Reset(d)
	}
}

func (c *stdConn) checkTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	err, _ := c.dl.check(time.Now().UnixNano(), c.OutboundBuffered() > 0, c.linger)
	switch {
	case err == errLingerDone:
		c.finish(c.reason)
	case err != nil:
		c.finish(err)
	default:
		c.armTimers()
	}
}

func (c *stdConn) AfterFunc(d time.Duration, f func(Conn)) *Timer {
	t := time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || c.closing {
			return
		}
		if err := c.e.s.guardCall("AfterFunc", func() { f(c) }, c.idx, c.cnt); err != nil {
			c.finish(err)
			return
		}
		c.afterCallback()
	})
	return &Timer{stop: t.Stop}
}

func (c *stdConn) WriteFrame(msg []byte) error { return writeFrame(c, c.e.s, msg) }
