package loop

import "io"

func (c *conn) CloseWithError(err error) { c.beginClose(err) }

func (c *conn) CloseWrite() error {
	if c.state&(stClosed|stClosing|stShutWrite) != 0 {
		return ErrClosed
	}
	c.tlsCloseNotify()
	c.state |= stShutWrite
	if c.OutboundBuffered() == 0 {
		c.shutWrite()
	}
	return nil
}

// shutWrite sends FIN once CloseWrite's output is flushed.
func (c *conn) shutWrite() {
	c.state |= stWriteDone
	c.loop.t.shutdownWrite(c.fd)
	if c.state&stPeerEOF != 0 {
		c.closeNow(io.EOF)
	}
}

// beginClose starts a graceful close with the given reason for OnClose:
// flush, FIN, wait for the peer's FIN (bounded by the close timeout).
func (c *conn) beginClose(reason error) {
	if c.state&(stClosed|stClosing) != 0 {
		return
	}
	c.tlsCloseNotify()
	c.state |= stClosing
	if x := c.ext; x != nil {
		// Closing: only the close deadline applies from now on.
		x.dl = deadlines{close: x.dl.close}
		c.armTimers()
	}
	switch reason {
	case nil:
	case io.EOF:
		c.state |= stReasonEOF
	default:
		c.extra().reason = reason
	}
	if c.OutboundBuffered() == 0 {
		c.flushedForClose()
		return
	}
	if d := c.loop.opts.CloseTimeout; d > 0 {
		c.extra().dl.close = c.loop.now + c.loop.ticks(d)
		c.armTimers()
	}
	c.updateInterest() // reads stop while flushing
	c.flush()
}

// flushedForClose continues a close once the queue is empty.
func (c *conn) flushedForClose() {
	d := c.loop.opts.CloseTimeout
	if c.state&(stPeerEOF|stWriteDone) != 0 || d == 0 {
		// The peer sent all it will send, or FIN went out already, or
		// no lingering is wanted: close now.
		c.closeNow(c.closeReason())
		return
	}
	c.state |= stLinger | stWriteDone
	c.loop.t.shutdownWrite(c.fd)
	x := c.extra()
	if x.dl.close == 0 {
		x.dl.close = c.loop.now + c.loop.ticks(d)
		c.armTimers()
	}
	c.updateInterest()
	c.discardUntilEOF() // the FIN may be here already
}

func (c *conn) closeReason() error {
	switch {
	case c.state&stReasonEOF != 0:
		return io.EOF
	case c.ext != nil:
		return c.ext.reason
	}
	return nil
}

// closeNow runs OnClose and closes the descriptor, dropping what is queued.
func (c *conn) closeNow(err error) {
	if c.state&stClosed != 0 {
		return
	}
	c.state |= stClosed
	l := c.loop
	l.conns[c.fd] = nil
	if c.ext != nil {
		l.w.cancel(&c.ext.tm)
		c.resumeProducers()
	}
	if c.state&stHandshake != 0 {
		c.tlsClosed() // the handler never saw it: no OnClose
	} else {
		l.call(cbClose, c, err)
	}
	c.reset()
	c.accountInput()
	if c.out != nil {
		out := c.out
		c.out = nil
		l.uncount(out.release(c, ErrClosed))
	}
	l.t.close(c.fd)
	l.e.lim.release(l.t.peerIP(c.peer))
	l.cnt.closed.Add(1)
	l.cnt.conns.Add(-1)
	l.e.countClose(err, &l.cnt)
}
