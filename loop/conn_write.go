package loop

import "time"

func (c *conn) Write(p []byte) (int, error) {
	if err := c.admit(len(p)); err != nil {
		return 0, err
	}
	c.queue(p)
	return len(p), nil
}

func (c *conn) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	if err := c.admit(n); err != nil {
		return 0, err
	}
	if t := c.tlsOf(); t != nil {
		// One record for the lot, not one per buffer.
		l := c.loop
		l.join = l.join[:0]
		for _, b := range bs {
			l.join = append(l.join, b...)
		}
		c.writeTLS(t, l.join)
		if cap(l.join) > 1<<20 {
			l.join = nil
		}
		return n, nil
	}
	for _, b := range bs {
		c.queue(b)
	}
	return n, nil
}

func (c *conn) TryWrite(p []byte) (int, error) {
	if c.state&(stClosed|stClosing|stShutWrite) != 0 {
		return 0, ErrClosed
	}
	if q := c.OutboundBuffered(); q > 0 && q+len(p) > c.loop.opts.HighWater {
		c.state |= stAboveHigh
		return 0, ErrWouldBlock
	}
	if !c.tryBudget(len(p)) {
		return 0, ErrWouldBlock
	}
	c.queue(p)
	return len(p), nil
}

func (c *conn) OutboundBuffered() int {
	if c.out == nil {
		return 0
	}
	return c.out.n
}

func (c *conn) Writable() bool {
	if c.OutboundBuffered() <= c.loop.opts.LowWater {
		return true
	}
	c.state |= stAboveHigh
	return false
}

func (c *conn) AsyncWrite(p []byte, done func(Conn, error)) error {
	l := c.loop
	return l.submit(func() {
		err := c.admit(len(p))
		if err == nil {
			c.queue(p)
		}
		switch {
		case done == nil:
		case err != nil:
			l.e.guardDone(done, l.idx, &l.cnt)(c, err)
		default:
			c.out.wait(l.e.guardDone(done, l.idx, &l.cnt))
		}
	})
}

// admit decides whether n more bytes may be queued, applying the
// slow-consumer policy when they would pass the high watermark.
func (c *conn) admit(n int) error {
	if c.state&(stClosed|stClosing|stShutWrite) != 0 {
		return ErrClosed
	}
	l := c.loop
	// An empty queue takes any one write: the watermark bounds how far
	// output piles up, not how large a message may be.
	q := c.OutboundBuffered()
	if (q == 0 || q+n <= l.opts.HighWater && !l.e.overBudget(n)) && c.admitBudget(n) {
		return nil
	}
	if c.state&stClosed != 0 { // shed by the budget
		return ErrSlowConsumer
	}
	if c.state&stAboveHigh == 0 {
		c.state |= stAboveHigh
		l.cnt.slow.Add(1)
	}
	switch l.opts.SlowPolicy {
	case SlowConsumerDrop:
		l.cnt.dropped.Add(1)
		return ErrDropped
	case SlowConsumerPauseProducer:
		if p := l.cur; p != nil {
			c.pauseProducer(p)
		}
		return nil
	}
	c.closeNow(ErrSlowConsumer)
	return ErrSlowConsumer
}

// pauseProducer stops reading from p until c has drained.
func (c *conn) pauseProducer(p *conn) {
	x := c.extra()
	for _, q := range x.producers {
		if q == p {
			return
		}
	}
	x.producers = append(x.producers, p)
	if p.pauses++; p.pauses == 1 {
		p.updateInterest()
	}
}

// resumeProducers lets the producers paused by c read again.
func (c *conn) resumeProducers() {
	if c.ext == nil {
		return
	}
	ps := c.ext.producers
	c.ext.producers = ps[:0]
	for i, p := range ps {
		ps[i] = nil
		if p.pauses--; p.pauses == 0 {
			p.updateInterest()
		}
	}
}

func (c *conn) WriteShared(s *Shared) (int, error) {
	if c.tlsOf() != nil {
		return c.Write(s.Bytes()) // encrypted for this connection alone
	}
	n := s.Len()
	if err := c.admit(n); err != nil || n == 0 {
		return 0, err
	}
	if first := c.outQueue().writeShared(s); first > 0 {
		c.loop.e.shared.Add(int64(first))
	}
	c.loop.cnt.outBytes.Add(sharedRefCost)
	c.markDirty()
	return n, nil
}

// queue puts p on the outbound queue, encrypted on a TLS connection.
func (c *conn) queue(p []byte) {
	if t := c.tlsOf(); t != nil {
		c.writeTLS(t, p)
		return
	}
	c.queueRaw(p)
}

// queueRaw puts p on the outbound queue as it is.
func (c *conn) queueRaw(p []byte) {
	c.outQueue().write(p)
	c.loop.cnt.outBytes.Add(int64(len(p)))
	c.markDirty()
}

// outQueue returns the outbound queue, taking one if c has none.
func (c *conn) outQueue() *outbound {
	if c.out == nil {
		c.out = getOutbound()
		c.out.moved = time.Duration(c.loop.turnAt.Load())
	}
	return c.out
}

// markDirty puts c on its loop's list of queues to flush.
func (c *conn) markDirty() {
	if c.state&stDirty == 0 {
		c.state |= stDirty
		c.loop.dirty = append(c.loop.dirty, c)
	}
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
		n, err := l.t.writev(c.fd, l.vec)
		if err != nil {
			if err == errAgain {
				l.cnt.stalls.Add(1)
				c.armWrite(true)
				return
			}
			c.closeNow(err)
			return
		}
		l.cnt.bytesOut.Add(uint64(n))
		if c.ext != nil {
			c.ext.dl.lastActive = l.now
		}
		q.moved = time.Duration(l.turnAt.Load())
		own, shared := q.consume(n, c)
		l.uncount(own, shared)
		if c.state&stClosed != 0 {
			return
		}
		if c.state&stAboveHigh != 0 && q.n <= l.opts.LowWater {
			c.drained()
			if c.state&stClosed != 0 {
				return
			}
		}
		if n < want {
			l.cnt.stalls.Add(1)
			c.armWrite(true) // the send buffer is full: wait for writability
			return
		}
	}
	if c.out != nil && c.out.n == 0 && len(c.out.waiters) == 0 {
		l.uncount(c.out.release(c, nil)) // 0, 0: everything was consumed
		c.out = nil
	}
	c.armWrite(false)
	if c.state&stAboveHigh != 0 {
		c.drained()
		if c.state&stClosed != 0 {
			return
		}
	}
	switch {
	case c.state&stClosing != 0:
		c.flushedForClose()
	case c.state&(stShutWrite|stWriteDone) == stShutWrite:
		c.shutWrite()
	}
}

// drained runs when the queue has fallen below the low watermark after
// passing the high one: producers resume and OnWritable runs.
func (c *conn) drained() {
	c.state &^= stAboveHigh
	c.resumeProducers()
	if c.loop.e.h.writable != nil && c.state&(stClosing|stShutWrite) == 0 {
		if err := c.loop.call(cbWritable, c, nil); err != nil {
			c.closeNow(err)
		}
	}
}

// armWrite sets whether c waits for writability (level-triggered only;
// edge-triggered connections are registered for it once).
func (c *conn) armWrite(on bool) {
	if c.loop.opts.EdgeTriggered || (c.state&stWriteArmed != 0) == on {
		return
	}
	c.state ^= stWriteArmed
	c.updateInterest()
}

func (c *conn) WriteFrame(msg []byte) error { return c.loop.e.writeFrame(c, msg) }
