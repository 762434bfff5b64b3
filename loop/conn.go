package loop

import (
	"io"
	"net"
	"sync/atomic"

	"github.com/shoalnet/shoal/internal/poller"
)

// Connection state bits; owned by the loop goroutine.
const (
	stClosed       uint16 = 1 << iota // OnClose has run, the descriptor is closed
	stClosing                         // Close: flushing, then FIN; no reads or writes
	stLinger                          // Close: flushed and FIN sent; discarding input until the peer's FIN
	stDirty                           // queued in loop.dirty
	stWriteArmed                      // waiting for writability (level-triggered)
	stPeerEOF                         // the peer closed its sending side
	stReadPaused                      // PauseRead
	stAboveHigh                       // the outbound queue passed the high watermark; OnWritable is owed
	stShutWrite                       // CloseWrite: no more writes; FIN once flushed
	stWriteDone                       // FIN sent
	stReasonEOF                       // the close reason is io.EOF
	stBudgetPaused                    // not read until the memory budget allows (budget.go)
	stBudgetWait                      // a TryWrite refused by the budget: OnWritable once it allows
	stBusy                            // SetBusy: serving a request off the loop; a drain does not close it as idle
	stHandshake                       // TLS: the handshake is not done; the handler has not seen the connection
)

// conn is a connection of the event-loop engine. It is kept small: an idle
// connection holds no buffers, only this struct and its peer address.
type conn struct {
	fd     int
	loop   *Loop
	ln     *listener
	input                // leftover input between OnData calls; owned by the loop
	out    *outbound     // nil while nothing is queued; owned by the loop
	ext    *connExt      // nil until a timeout, close reason or paused producer needs it
	ctx    any           // owned by the loop
	peer   any           // the peer as the transport described it at accept
	local  net.Addr      // nil: the listener's address
	signal atomic.Uint32 // pending sigWake/sigClose; non-zero while queued in loop.signaled
	state  uint16
	pauses uint16 // consumers that paused this connection as a producer
	inAcct int32  // cap(in) as counted in the loop's inBytes (budget.go)
}

// connExt holds what few connections need. Owned by the loop.
type connExt struct {
	dl        deadlines // in wheel ticks
	drainAt   int64     // during a drain: not closed before this tick (spread)
	tm        timer     // fires checkTimers at the earliest deadline
	reason    error     // CloseWithError's reason
	producers []*conn   // connections paused until this one drains
	c         *conn     // whose it is (tm's fn, made once, calls its checkTimers)
	tls       *tlsConn  // a TLS connection's state (tls.go)
}

// fire runs from the wheel at x's earliest deadline.
func (x *connExt) fire() { x.c.checkTimers() }

var _ Conn = (*conn)(nil)

// unused reports whether x holds nothing: no deadline, drain instant,
// close reason, paused producer or TLS (its timer is then disarmed).
func (x *connExt) unused() bool {
	return x.dl == deadlines{lastActive: x.dl.lastActive} && x.drainAt == 0 && x.reason == nil && len(x.producers) == 0 && x.tls == nil
}

func (c *conn) extra() *connExt {
	if c.ext == nil {
		c.ext = c.loop.newExt(c)
	}
	return c.ext
}

// maxFreeExts bounds a loop's free connExts.
const maxFreeExts = 256

// newExt returns a connExt for c, reused when one is free: every
// connection of a protocol with a handshake timeout needs one for a
// moment, and a burst of them would otherwise leave garbage that lets
// the heap grow to twice what the idle connections hold.
func (l *Loop) newExt(c *conn) *connExt {
	if n := len(l.freeExts); n > 0 {
		x := l.freeExts[n-1]
		l.freeExts[n-1] = nil
		l.freeExts = l.freeExts[:n-1]
		x.c = c
		return x
	}
	x := &connExt{c: c}
	x.tm.fn = x.fire
	return x
}

// freeExt keeps x, unused and its timer disarmed, for another connection.
func (l *Loop) freeExt(x *connExt) {
	if len(l.freeExts) >= maxFreeExts {
		return
	}
	fn := x.tm.fn
	*x = connExt{}
	x.tm.fn = fn
	l.freeExts = append(l.freeExts, x)
}

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
func (c *conn) Loop() *Loop                { return c.loop }
func (c *conn) RemoteAddr() net.Addr       { return c.loop.t.remoteAddr(c.peer) }
func (c *conn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return c.ln.local
}

func (c *conn) Wake() {
	if c.signal.Or(sigWake) == 0 {
		c.loop.signal(c)
	}
}

func (c *conn) Close() error {
	if c.signal.Or(sigClose) == 0 {
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
	if sig&sigTLS != 0 {
		c.tlsSignaled()
		if c.state&stClosed != 0 {
			return
		}
	}
	if sig&sigWake != 0 && c.loop.e.h.wake != nil && c.state&stClosing == 0 {
		if err := c.loop.call(cbWake, c, nil); err != nil {
			c.closeNow(err)
			return
		}
	}
	if sig&sigClose != 0 || c.signal.Load()&sigClose != 0 {
		c.beginClose(nil)
	}
}

// afterCallback applies a Close called from inside a callback at once.
func (c *conn) afterCallback() {
	if c.signal.Load()&sigClose != 0 && c.state&(stClosed|stClosing) == 0 {
		c.beginClose(nil)
	}
}

// interest is what the poller should report for c in its current state.
func (c *conn) interest() poller.Interest {
	var in poller.Interest
	switch {
	case c.state&stLinger != 0:
		in = poller.InterestRead
	case c.state&(stClosing|stReadPaused|stPeerEOF|stBudgetPaused) == 0 && c.pauses == 0 && !c.loop.throttled:
		in = poller.InterestRead
	}
	if c.loop.opts.EdgeTriggered || c.state&stWriteArmed != 0 {
		in |= poller.InterestWrite
	}
	return in
}

// updateInterest tells the poller about a change of interest.
func (c *conn) updateInterest() {
	if c.state&stClosed == 0 {
		c.loop.t.mod(c.fd, c.interest())
	}
}

// handle reacts to the poller's report for c.
func (c *conn) handle(ev poller.Events) {
	switch {
	case c.state&stLinger != 0:
		c.discardUntilEOF()
		return
	case c.state&stClosing != 0:
		c.flush() // only writing is left to do; errors close
		return
	}
	if ev&poller.Writable != 0 && c.out != nil {
		c.flush()
		if c.state&(stClosed|stClosing) != 0 {
			return
		}
	}
	if ev&(poller.Readable|poller.Hangup|poller.Error) == 0 {
		return
	}
	if c.interest()&poller.InterestRead != 0 {
		c.read() // reports the FIN, the error or the hang-up
		return
	}
	if ev&(poller.Hangup|poller.Error) != 0 {
		// Not reading (paused, or after the peer's FIN), yet the socket
		// failed: close with its error rather than spin on the report.
		err := c.loop.t.sockErr(c.fd)
		if err == nil {
			err = io.EOF
		}
		c.closeNow(err)
	}
}
