//go:build unix

package server

import (
	"io"
	"net"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/shoalnet/shoal/internal/poller"
	"github.com/shoalnet/shoal/internal/sock"
)

// Connection state bits; owned by the loop goroutine.
const (
	stClosed     uint8 = 1 << iota // OnClose has run, the descriptor is closed
	stClosing                      // flushing before close; no more reads or writes
	stDirty                        // queued in loop.dirty
	stWriteArmed                   // registered for writability (level-triggered)
	stPeerEOF                      // the peer closed its side
)

// conn is a connection of the event-loop engine. It is kept small: an idle
// connection holds no buffers, only this struct and its peer address.
type conn struct {
	fd     int
	loop   *eventLoop
	ln     *listener
	input            // leftover input between OnData calls; owned by the loop
	out    *outbound // nil while nothing is queued; owned by the loop
	ctx    any       // owned by the loop
	sa     unix.Sockaddr
	local  net.Addr      // nil: the listener's address
	signal atomic.Uint32 // pending sigWake/sigClose; non-zero while queued in loop.signaled
	state  uint8
}

var _ Conn = (*conn)(nil)

// inputView returns the bytes the read methods work on.
func (c *conn) inputView() *[]byte {
	if c.loop.cur == c {
		return &c.loop.view
	}
	return &c.in
}

func (c *conn) Buffered() int              { return len(*c.inputView()) }
func (c *conn) Peek(n int) ([]byte, error) { return viewPeek(*c.inputView(), n) }
func (c *conn) Next(n int) ([]byte, error) { return viewNext(c.inputView(), n) }
func (c *conn) Discard(n int) (int, error) { return viewDiscard(c.inputView(), n) }
func (c *conn) Context() any               { return c.ctx }
func (c *conn) SetContext(v any)           { c.ctx = v }
func (c *conn) LoopIndex() int             { return c.loop.idx }
func (c *conn) RemoteAddr() net.Addr       { return sock.Addr(c.sa) }
func (c *conn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return c.ln.local
}

func (c *conn) Write(p []byte) (int, error) {
	if c.state&(stClosed|stClosing) != 0 {
		return 0, ErrClosed
	}
	c.queue(p)
	return len(p), nil
}

func (c *conn) Writev(bs [][]byte) (int, error) {
	if c.state&(stClosed|stClosing) != 0 {
		return 0, ErrClosed
	}
	n := 0
	for _, b := range bs {
		c.queue(b)
		n += len(b)
	}
	return n, nil
}

func (c *conn) queue(p []byte) {
	if c.out == nil {
		c.out = getOutbound()
	}
	c.out.write(p)
	if c.state&stDirty == 0 {
		c.state |= stDirty
		c.loop.dirty = append(c.loop.dirty, c)
	}
}

func (c *conn) AsyncWrite(p []byte, done func(Conn, error)) error {
	return c.loop.submit(func() {
		if c.state&(stClosed|stClosing) != 0 {
			if done != nil {
				done(c, ErrClosed)
			}
			return
		}
		c.queue(p)
		if done != nil {
			c.out.wait(c.loop.e.s.guardDone(done, c.loop.idx, &c.loop.cnt))
		}
	})
}

func (c *conn) Wake() error {
	if c.signal.Or(sigWake) == 0 {
		c.loop.signal(c)
	}
	return nil
}

func (c *conn) Close() error {
	if old := c.signal.Or(sigClose); old == 0 {
		c.loop.signal(c)
	}
	return nil
}

// serveSignals acts on the Wake/Close requests of other goroutines.
func (c *conn) serveSignals() {
	sig := c.signal.Swap(0)
	if c.state&stClosed != 0 {
		return
	}
	if sig&sigWake != 0 && c.loop.wh != nil && c.state&stClosing == 0 {
		if err := c.loop.call(cbWake, c, nil); err != nil {
			c.closeNow(err)
			return
		}
	}
	if sig&sigClose != 0 || c.signal.Load()&sigClose != 0 {
		c.beginClose()
	}
}

// afterCallback applies a Close called from inside a callback at once.
func (c *conn) afterCallback() {
	if c.signal.Load()&sigClose != 0 && c.state&(stClosed|stClosing) == 0 {
		c.beginClose()
	}
}

// handle reacts to the poller's report for c.
func (c *conn) handle(ev poller.Events) {
	if c.state&stClosing != 0 {
		c.flush() // only writing is left to do; errors close
		return
	}
	if ev&poller.Writable != 0 && c.out != nil {
		c.flush()
		if c.state&(stClosed|stClosing) != 0 {
			return
		}
	}
	if ev&(poller.Readable|poller.Hangup|poller.Error) != 0 {
		c.read()
	}
}

// read reads into the loop's shared buffer and hands the bytes to OnData,
// until the socket is drained or the per-round cap is reached.
func (c *conn) read() {
	l := c.loop
	total := 0
	for {
		n, err := sock.Read(c.fd, l.buf)
		if err != nil {
			if err != unix.EAGAIN {
				c.closeNow(os.NewSyscallError("read", err))
			}
			return
		}
		if n == 0 {
			c.state |= stPeerEOF
			c.beginClose()
			return
		}
		total += n
		l.cnt.bytesIn.Add(uint64(n))
		c.deliver(l.buf[:n])
		if c.state&(stClosed|stClosing) != 0 {
			return
		}
		if n < len(l.buf) {
			// A short read emptied the socket. More data raises readiness
			// again, in either trigger mode, so no read need end in EAGAIN.
			return
		}
		if total >= l.opts.readPerRound {
			if l.opts.edge {
				l.again = append(l.again, c)
			}
			return
		}
	}
}

func (c *conn) deliver(data []byte) {
	l := c.loop
	view, err := c.feed(data, l.opts.maxInput)
	if err != nil {
		c.closeNow(err)
		return
	}
	l.cur, l.view = c, view
	perr := l.call(cbData, c, nil)
	rest := l.view
	l.cur, l.view = nil, nil
	if perr != nil {
		c.closeNow(perr)
		return
	}
	if err := c.keep(rest, l.opts.maxInput); err != nil {
		c.closeNow(err)
		return
	}
	c.afterCallback()
}

// flush writes the outbound queue with writev until it is empty or the
// kernel pushes back, then arms or disarms writability accordingly.
func (c *conn) flush() {
	l := c.loop
	for q := c.out; q != nil && q.n > 0; {
		l.vec = q.views(l.vec[:0])
		want := 0
		for _, b := range l.vec {
			want += len(b)
		}
		n, err := sock.Writev(c.fd, l.vec, &l.iov)
		if err != nil {
			if err == unix.EAGAIN {
				l.cnt.stalls.Add(1)
				c.armWrite()
				return
			}
			c.closeNow(os.NewSyscallError("writev", err))
			return
		}
		l.cnt.bytesOut.Add(uint64(n))
		q.consume(n, c)
		if c.state&stClosed != 0 {
			return
		}
		if n < want {
			l.cnt.stalls.Add(1)
			c.armWrite() // the send buffer is full: wait for writability
			return
		}
	}
	if c.out != nil && len(c.out.waiters) == 0 {
		c.out.release(c, nil)
		c.out = nil
	}
	if c.state&stClosing != 0 {
		c.closeNow(nil)
		return
	}
	if c.state&stWriteArmed != 0 {
		c.state &^= stWriteArmed
		c.loop.p.Mod(c.fd, poller.InterestRead)
	}
}

func (c *conn) armWrite() {
	if c.state&stWriteArmed != 0 || c.loop.opts.edge {
		return
	}
	c.state |= stWriteArmed
	in := poller.InterestBoth
	if c.state&stClosing != 0 {
		in = poller.InterestWrite
	}
	c.loop.p.Mod(c.fd, in)
}

// beginClose stops reading and closes once the outbound queue is flushed.
func (c *conn) beginClose() {
	if c.state&(stClosed|stClosing) != 0 {
		return
	}
	c.state |= stClosing
	if c.out == nil || c.out.n == 0 {
		c.closeNow(nil)
		return
	}
	if !c.loop.opts.edge {
		c.state |= stWriteArmed
		c.loop.p.Mod(c.fd, poller.InterestWrite)
	}
	c.flush()
}

// closeNow runs OnClose and closes the descriptor, dropping what is queued.
func (c *conn) closeNow(err error) {
	if c.state&stClosed != 0 {
		return
	}
	c.state |= stClosed
	if c.state&stPeerEOF != 0 && (err == nil || c.state&stClosing != 0) {
		err = io.EOF
	}
	l := c.loop
	l.conns[c.fd] = nil
	l.call(cbClose, c, err)
	c.reset()
	if c.out != nil {
		out := c.out
		c.out = nil
		out.release(c, ErrClosed)
	}
	sock.Close(c.fd)
	l.e.s.lim.release(sock.IP(c.sa))
	l.cnt.closed.Add(1)
	l.cnt.conns.Add(-1)
}
