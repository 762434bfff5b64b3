package loop

import (
	"math/rand/v2"
	"sync"
)

// loopDrain is a loop's state while the server shuts down gracefully.
type loopDrain struct {
	quiet int64         // ticks without traffic before an idle connection closes
	timer timer         // checks the connections every tick
	done  chan struct{} // closed when the loop has no connection left
	once  sync.Once
}

// requestDrain asks the loop to start draining. Safe for concurrent use.
func (l *Loop) requestDrain(done chan struct{}) {
	l.mu.Lock()
	l.drainDone = done
	l.drainReq = true
	l.mu.Unlock()
	l.wake()
}

// requestForce asks the loop to close every connection now. Safe for
// concurrent use.
func (l *Loop) requestForce() {
	l.mu.Lock()
	l.forceReq = true
	l.mu.Unlock()
	l.wake()
}

// beginDrain closes the loop's listeners, says goodbye to every
// connection and starts closing them as they become idle.
func (l *Loop) beginDrain() {
	if l.drain != nil {
		return
	}
	l.closeListeners(true)
	l.mu.Lock()
	done := l.drainDone
	l.mu.Unlock()
	d := &loopDrain{quiet: l.ticks(l.opts.DrainQuiet), done: done}
	d.timer.fn = l.checkDrain
	l.drain = d
	spread := l.ticks(l.opts.DrainSpread)
	for _, c := range l.conns {
		if c != nil {
			l.drainConn(c, spread)
		}
	}
	l.flushDirty()
	l.checkDrain()
}

// drainConn enters c into the drain: its quiet period starts now, its
// close waits for a random offset within spread ticks, and the handler says
// goodbye.
func (l *Loop) drainConn(c *conn, spread int64) {
	if c.state&(stClosed|stClosing) != 0 {
		return
	}
	if c.state&stHandshake != 0 {
		// Nothing of it was accepted yet: it goes as the listener did.
		c.closeNow(ErrStopped)
		return
	}
	x := c.extra()
	x.dl.lastActive = l.now // quiet is counted from the goodbye on
	if spread > 0 {
		x.drainAt = l.now + rand.Int64N(spread)
	}
	if l.e.h.goodbye != nil {
		if err := l.call(cbGoodbye, c, nil); err != nil {
			c.closeNow(err)
			return
		}
		c.afterCallback()
	}
}

// checkDrain closes the connections that have become idle: nothing unread
// (that the handler still reads),
// nothing queued, quiet for the quiet period (and past their spread
// offset). Closing sends FIN after the flush and reads until the peer's
// FIN, so no unread input turns it into a reset.
func (l *Loop) checkDrain() {
	d := l.drain
	for _, c := range l.conns {
		if c == nil || c.state&(stClosed|stClosing) != 0 {
			continue
		}
		x := c.extra()
		// Input left over on a connection the handler paused (after its
		// goodbye) will not be read on: it does not hold the drain.
		unread := len(c.in) > 0 && c.state&stReadPaused == 0
		// Strictly more ticks than the quiet period: lastActive is the tick of
		// the last traffic, which may have come at its very end.
		if !unread && c.state&stBusy == 0 && c.OutboundBuffered() == 0 && l.now-x.dl.lastActive > d.quiet && l.now >= x.drainAt {
			c.beginClose(ErrStopped)
		}
	}
	if l.cnt.conns.Load() == 0 {
		d.once.Do(func() { close(d.done) })
		return
	}
	l.w.schedule(&d.timer, l.now+1)
}

// forceClose closes every connection at once: the drain deadline passed.
func (l *Loop) forceClose() {
	for _, c := range l.conns {
		if c != nil {
			c.closeNow(ErrStopped)
		}
	}
	if d := l.drain; d != nil {
		l.w.cancel(&d.timer)
		d.once.Do(func() { close(d.done) })
	}
}
