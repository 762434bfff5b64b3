package server

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/internal/bufpool"
)

// portableReadSize is the read buffer of a portable connection.
const portableReadSize = 16 << 10

// portable is the fallback engine: std net with a reader and a writer
// goroutine per connection, behind the same Handler API. Callbacks of one
// connection are serialized by its mutex, which plays the role of the loop.
type portable struct {
	s     *Server
	loops []counters // connections are assigned to virtual loops for Stats
	next  atomic.Uint32
	wg    sync.WaitGroup

	mu     sync.Mutex // guards the fields below
	lns    []net.Listener
	conns  map[*stdConn]struct{}
	closed bool
}

func newPortable(s *Server) *portable {
	return &portable{s: s, loops: make([]counters, s.opts.loops), conns: make(map[*stdConn]struct{})}
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
		nc, err := ln.Accept()
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
	e.mu.Lock()
	if e.closed {
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

func (e *portable) stats(st *Stats) {
	for i := range e.loops {
		st.Loops = append(st.Loops, e.loops[i].snapshot())
	}
}

// stdConn is a connection of the portable engine.
type stdConn struct {
	e    *portable
	nc   net.Conn
	idx  int
	cnt  *counters
	kick chan struct{} // wakes the writer goroutine; capacity 1
	quit chan struct{} // closed by finish

	signal atomic.Uint32 // pending sigWake/sigClose

	tmu   sync.Mutex // guards tasks
	tasks []func()

	mu      sync.Mutex // held by every callback: the connection's "loop"
	input              // guarded by mu
	view    []byte     // unconsumed input while inside OnData
	inData  bool
	out     *outbound
	ctx     any
	closing bool
	closed  bool
	eof     bool
	writing bool // the writer is in a write outside mu and owns out's chunks
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

func (c *stdConn) Write(p []byte) (int, error) {
	if c.closing || c.closed {
		return 0, ErrClosed
	}
	c.queue(p)
	return len(p), nil
}

func (c *stdConn) Writev(bs [][]byte) (int, error) {
	if c.closing || c.closed {
		return 0, ErrClosed
	}
	n := 0
	for _, b := range bs {
		c.queue(b)
		n += len(b)
	}
	return n, nil
}

func (c *stdConn) queue(p []byte) {
	if c.out == nil {
		c.out = getOutbound()
	}
	c.out.write(p)
	c.poke()
}

func (c *stdConn) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *stdConn) AsyncWrite(p []byte, done func(Conn, error)) error {
	c.tmu.Lock()
	if len(c.tasks) >= c.e.s.opts.taskQueueSize {
		c.tmu.Unlock()
		return ErrQueueFull
	}
	c.tasks = append(c.tasks, func() {
		if c.closing || c.closed {
			if done != nil {
				done(c, ErrClosed)
			}
			return
		}
		c.queue(p)
		if done != nil {
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

// call runs a handler callback with panic isolation. mu is held.
func (c *stdConn) call(cb callback, closeErr error) error {
	return c.e.s.invoke(cb, c, closeErr, c.idx, c.cnt)
}

// afterCallback applies a Close called from inside a callback. mu is held.
func (c *stdConn) afterCallback() {
	if c.signal.Load()&sigClose != 0 {
		c.beginClose()
	}
}

// beginClose stops reading; the writer closes once the queue is flushed.
// mu is held.
func (c *stdConn) beginClose() {
	if c.closing || c.closed {
		return
	}
	c.closing = true
	c.poke()
}

// finish runs OnClose and closes the socket. mu is held.
func (c *stdConn) finish(err error) {
	if c.closed {
		return
	}
	c.closed = true
	if c.eof && (err == nil || c.closing) {
		err = io.EOF
	}
	c.call(cbClose, err)
	c.reset()
	if c.out != nil && !c.writing {
		out := c.out
		c.out = nil
		out.release(c, ErrClosed)
	}
	c.nc.Close()
	c.e.s.lim.release(addrIP(c.nc.RemoteAddr()))
	close(c.quit)
	c.e.mu.Lock()
	delete(c.e.conns, c)
	c.e.mu.Unlock()
	c.cnt.closed.Add(1)
	c.cnt.conns.Add(-1)
}

func (c *stdConn) readLoop() {
	defer c.e.wg.Done()
	buf := bufpool.Get(portableReadSize)[:portableReadSize]
	defer bufpool.Put(buf)
	max := c.e.s.opts.maxInput
	for {
		n, err := c.nc.Read(buf)
		c.mu.Lock()
		if c.closed || c.closing {
			c.mu.Unlock()
			return
		}
		if n > 0 {
			c.cnt.bytesIn.Add(uint64(n))
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
			if perr != nil {
				c.finish(perr)
				c.mu.Unlock()
				return
			}
			if kerr := c.keep(rest, max); kerr != nil {
				c.finish(kerr)
				c.mu.Unlock()
				return
			}
			c.afterCallback()
		}
		if err != nil && !c.closed {
			if errors.Is(err, io.EOF) {
				c.eof = true
				c.beginClose()
			} else {
				c.finish(err)
			}
		}
		stop := c.closed || c.closing
		c.mu.Unlock()
		if stop {
			return
		}
	}
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
			if c.out == nil || c.out.n == 0 {
				if c.out != nil && len(c.out.waiters) == 0 {
					c.out.release(c, nil)
					c.out = nil
				}
				if c.closing {
					c.finish(nil)
					c.mu.Unlock()
					return
				}
				c.mu.Unlock()
				break
			}
			bufs = c.out.views(bufs[:0])
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
					out.release(c, ErrClosed)
				}
				c.mu.Unlock()
				return
			}
			c.cnt.bytesOut.Add(uint64(n))
			c.out.consume(int(n), c)
			if err != nil {
				c.finish(err)
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
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
		c.beginClose()
	}
}
