package loop

import "io"

// read reads into the loop's shared buffer and hands the bytes to OnData,
// until the socket is drained or the per-round cap is reached.
func (c *conn) read() {
	l := c.loop
	total := 0
	for {
		buf := l.buf
		if b := l.e.budget.Load(); b > 0 {
			k, ok := c.readAllowance(b)
			if !ok {
				return
			}
			buf = buf[:k]
		}
		t := c.tlsOf()
		if t != nil && !t.live {
			k := c.handshakeRoom(t)
			if k <= 0 {
				return
			}
			buf = buf[:min(len(buf), k)]
		}
		n, err := l.t.read(c.fd, buf)
		if err != nil {
			if err != errAgain {
				c.closeNow(err)
			}
			return
		}
		if n == 0 {
			switch {
			case t == nil:
				c.peerEOF()
			case t.live:
				c.tlsEOF(t)
			default:
				c.closeNow(&TLSError{Op: "handshake", Err: io.ErrUnexpectedEOF})
			}
			return
		}
		total += n
		l.cnt.bytesIn.Add(uint64(n))
		if x := c.ext; x != nil {
			x.dl.lastActive = l.now
			if x.dl.read != 0 {
				x.dl.read = 0
			}
		}
		c.deliver(buf[:n])
		if c.state&(stClosed|stClosing|stReadPaused|stBudgetPaused) != 0 || c.pauses != 0 {
			return
		}
		if n < len(buf) {
			// A short read emptied the socket. More data raises readiness
			// again, in either trigger mode, so no read need end in EAGAIN.
			return
		}
		if total >= l.opts.ReadPerRound {
			if l.opts.EdgeTriggered {
				l.again = append(l.again, c)
			}
			return
		}
	}
}

// deliver hands one read's bytes to the connection: to TLS when it has
// it, else to OnData.
func (c *conn) deliver(data []byte) {
	if t := c.tlsOf(); t != nil {
		if t.live {
			c.deliverTLS(t, data)
		} else {
			c.handshakeInput(t, data)
		}
		return
	}
	c.deliverPlain(data)
}

// deliverPlain hands data, with what was left over, to OnData.
func (c *conn) deliverPlain(data []byte) {
	l := c.loop
	defer c.accountInput()
	view, err := c.feed(data, l.opts.MaxBufferedInput)
	if err != nil {
		c.closeNow(err)
		return
	}
	l.cur, l.view = c, view
	perr := l.call(cbData, c, nil)
	rest := l.view
	l.cur, l.view = nil, nil
	switch {
	case perr != nil:
		c.closeNow(perr)
		return
	case c.state&stClosed != 0:
		return
	}
	if err := c.keep(rest, l.opts.MaxBufferedInput); err != nil {
		c.closeNow(err)
		return
	}
	c.afterCallback()
}

// peerEOF handles the peer's FIN: an EOFHandler keeps the connection open
// for writing; otherwise it is flushed and closed with io.EOF.
func (c *conn) peerEOF() {
	c.state |= stPeerEOF
	if c.state&stWriteDone != 0 { // both directions are done
		c.closeNow(io.EOF)
		return
	}
	if c.loop.e.h.eof == nil {
		c.beginClose(io.EOF)
		return
	}
	c.updateInterest() // EOF stays readable: stop asking
	if err := c.loop.call(cbEOF, c, nil); err != nil {
		c.closeNow(err)
		return
	}
	c.afterCallback()
}

// discardUntilEOF reads and drops input while a closed connection waits
// for the peer's FIN, so that unread input does not turn the close into a
// reset.
func (c *conn) discardUntilEOF() {
	l := c.loop
	for {
		n, err := l.t.read(c.fd, l.buf)
		switch {
		case err == errAgain:
			return
		case err != nil || n == 0:
			c.closeNow(c.closeReason())
			return
		}
	}
}

func (c *conn) PauseRead() {
	if c.state&stReadPaused == 0 {
		c.state |= stReadPaused
		c.updateInterest()
	}
}

func (c *conn) ResumeRead() {
	if c.state&stReadPaused != 0 {
		c.state &^= stReadPaused
		c.updateInterest()
		if l := c.loop; len(c.in) > 0 && (l.opts.Codec != nil || c.tlsOf() != nil) && l.cur != c {
			// Frames read before the pause wait in the input buffer: the
			// loop hands them over later in this round (inside c's own
			// OnFrame the frame loop simply goes on). So does input that
			// TLS decrypted while reading was paused: the kernel may have
			// nothing more to say about it.
			l.resumed = append(l.resumed, c)
		}
	}
}

func (c *conn) SetBusy(on bool) {
	if on {
		c.state |= stBusy
	} else {
		c.state &^= stBusy
	}
}
