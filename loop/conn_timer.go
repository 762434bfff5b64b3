package loop

import "time"

// armTimers schedules c's wheel entry at its earliest deadline, or
// cancels it when none is left.
func (c *conn) armTimers() {
	x := c.ext
	if x == nil || c.state&stClosed != 0 {
		return
	}
	_, next := x.dl.check(c.loop.now, c.OutboundBuffered() > 0, c.state&stLinger != 0)
	if next == 0 {
		c.loop.w.cancel(&x.tm)
		if x.unused() {
			c.ext = nil // an idle connection keeps only its conn
			c.loop.freeExt(x)
		}
		return
	}
	c.loop.w.schedule(&x.tm, next)
}

// checkTimers runs from the wheel when c's earliest deadline is due.
func (c *conn) checkTimers() {
	x := c.ext
	err, next := x.dl.check(c.loop.now, c.OutboundBuffered() > 0, c.state&stLinger != 0)
	switch {
	case err == errLingerDone:
		c.closeNow(c.closeReason())
	case err != nil:
		c.closeNow(err)
	case next != 0:
		c.loop.w.schedule(&x.tm, next)
	}
}

// at converts an absolute time to a wheel tick (0 for the zero time).
func (c *conn) at(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(c.loop.w.ticks(t), 1)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(func(x *connExt) { x.dl.read = c.at(t) })
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(func(x *connExt) { x.dl.write = c.at(t) })
}

// setDeadline applies set to c's deadlines and re-arms its timer.
func (c *conn) setDeadline(set func(*connExt)) error {
	if c.state&stClosed != 0 {
		return ErrClosed
	}
	set(c.extra())
	c.armTimers()
	return nil
}

func (c *conn) SetIdleTimeout(d time.Duration) error {
	return c.setDeadline(func(x *connExt) {
		x.dl.idle = 0
		if d > 0 {
			x.dl.idle = c.loop.ticks(d)
		}
		x.dl.lastActive = c.loop.now
	})
}

func (c *conn) AfterFunc(d time.Duration, f func(Conn)) *Timer {
	t := &Timer{l: c.loop, c: c, f: f}
	t.Reset(d)
	return t
}
