package loop

import "time"

// The memory budget bounds the bytes the engine buffers for all
// connections together (output queued, input held between callbacks), by
// construction: it is checked where memory is taken, before each read
// into a connection and before output is queued, not by a sampler that a
// loopback flood outruns. Each loop accounts its own bytes in atomic
// counters; a check adds up the loops' counters (a few atomic loads).
//
//   - Above the soft budget (three quarters of the budget), a connection
//     whose queued output is above its fair share (the soft budget divided
//     by the open connections, at least 64 KiB) is not read, and neither is
//     a connection whose callback writes to a queue above its share (the
//     producer): for an echo-like protocol both are the slow consumer
//     itself, for fan-out the producer is the publisher. A producer whose
//     callback writes to other connections (fan-out) is paused above the
//     soft budget whatever their shares, and with a codec its buffered
//     frames wait with it: one read cannot fan out without bound. TCP
//     pushes back on them while what is queued drains; the others are
//     served on.
//   - No read takes more than what is left of the budget, nor takes a
//     connection past its share. When a read within its share would pass
//     the budget, and when a write would, the connections of the loop
//     holding the most output above their share are closed as slow
//     consumers, at once; a write that still does not fit meets the
//     slow-consumer policy.
//   - Output written from outside any read (OnWake, AsyncWrite, timers:
//     fan-out) that passes the soft budget has no known producer, so no
//     connection is read until the total is back below seven eighths of
//     the soft budget: the publishers are held back, as an application's
//     pacer would, while the queues drain.
//   - TryWrite sheds nothing: past the soft budget it refuses a write that
//     would take its queue past the fair share or the total past the
//     budget (reads are held back or the producer paused as for Write),
//     and OnWritable runs once the budget allows. A fan-out writer keeping
//     its backlog store-once (one shared copy of each message) so bounds
//     its copies in the engine.
//   - At the budget the largest stuck queues (no byte sent for
//     budgetStuck) are shed first, then the largest.
//   - A connection paused by the budget whose output has not moved for
//     budgetStall is closed as a slow consumer: it takes nothing while it
//     holds memory; so is any connection, on any loop, whose output has
//     not moved for that long while reads are held back.
//
// Paused connections resume once the total is below seven eighths of the
// soft budget; a loop with paused connections checks every budgetPoll.

const (
	// budgetPoll is how often a loop with connections paused by the budget
	// looks whether they may read again.
	budgetPoll = 2 * time.Millisecond
	// budgetStall is how long a paused connection's output may stand
	// still before it is closed as a slow consumer.
	budgetStall = 2 * time.Second
	// budgetMinShare is the least fair share of a connection, however
	// many share the budget.
	budgetMinShare = 64 << 10
	// budgetScanEvery is how often a loop looks for stalled queues while
	// reads are held back.
	budgetScanEvery = 50 * time.Millisecond
	// budgetStuck is how long a queue must not have sent to count as
	// stuck when the budget chooses what to shed.
	budgetStuck = 500 * time.Millisecond
	// budgetMinRead is the smallest read the budget allows: below it the
	// connection is paused rather than read a few bytes at a time.
	budgetMinRead = 4 << 10
)

// SetMemoryBudget sets the bytes the engine may buffer over all
// connections (0: no budget). The memory governor sets it from the
// container's memory limit. Safe for concurrent use.
func (g *Group) SetMemoryBudget(bytes int64) { g.budget.Store(max(bytes, 0)) }

// MemoryBudget returns the budget set with Config.MemoryBudget or
// SetMemoryBudget (0: none).
func (g *Group) MemoryBudget() int64 { return g.budget.Load() }

// buffered returns the bytes buffered over all loops (and in the
// transport, for the portable engine's goroutines) and the open
// connections. It reads every loop's counters: the loops themselves use
// budgetRound's snapshot instead.
func (g *Group) buffered() (bytes, conns int64) {
	for _, l := range g.loops {
		bytes += l.cnt.outBytes.Load() + l.cnt.inBytes.Load()
		conns += l.cnt.conns.Load()
	}
	return bytes + g.shared.Load() + g.sys.held(), conns
}

// budgetRound takes the loop's view of the budget for one round: the other
// loops' bytes and connections as they are now (read once a round, not per
// message: their counters live on other cores' cache lines), and this
// loop's limit for the round, its usage now plus its part of the headroom.
// Splitting the headroom over the loops keeps their sum within the budget
// although each sees the others only once a round.
func (l *Loop) budgetRound(b int64) {
	var others, conns int64
	for _, o := range l.e.loops {
		if o != l {
			others += o.cnt.outBytes.Load() + o.cnt.inBytes.Load()
			conns += o.cnt.conns.Load()
		}
	}
	others += l.e.shared.Load() + l.e.sys.held()
	l.budgetOthers, l.budgetConns = others, conns
	used := others + l.ownBytes()
	l.budgetLimit = used + max(b-used, 0)/int64(len(l.e.loops))
}

// ownBytes is what this loop buffers now.
func (l *Loop) ownBytes() int64 { return l.cnt.outBytes.Load() + l.cnt.inBytes.Load() }

// budgetUsed returns the bytes buffered (the other loops as of the round's
// start), the open connections, and the most this loop may reach in this
// round.
func (l *Loop) budgetUsed() (used, conns, limit int64) {
	if l.budgetLimit == 0 { // the budget was set during this round
		l.budgetRound(l.e.budget.Load())
	}
	return l.budgetOthers + l.ownBytes(), l.budgetConns + l.cnt.conns.Load(), l.budgetLimit
}

// fairShare is a connection's share of the soft budget.
func fairShare(soft, conns int64) int64 { return max(soft/max(conns, 1), budgetMinShare) }

func softBudget(b int64) int64 { return b - b/4 }

// readAllowance says how many bytes c may read now under the budget
// (ok false: none; c has been paused until the budget allows).
func (c *conn) readAllowance(b int64) (int, bool) {
	l := c.loop
	if l.e.budgetHold.Load() {
		c.budgetPause()
		return 0, false
	}
	used, conns, limit := l.budgetUsed()
	share := fairShare(softBudget(b), conns)
	// At the budget, a connection within its share is not held up by the
	// ones past theirs: the loop's largest queues are closed as slow
	// consumers, at once, until a read fits.
	for used+int64(len(l.buf)) > limit && int64(c.OutboundBuffered()) <= share {
		v, freed := l.shedLargest(share)
		if v == nil {
			break
		}
		used -= freed
	}
	// No read takes more than the budget has left, nor takes a connection
	// past its share: what it reads may all become its output (an echo).
	left := min(limit-used, int64(len(l.buf)), share-int64(c.OutboundBuffered()))
	if left < budgetMinRead && left < int64(len(l.buf)) {
		c.budgetPause()
		return 0, false
	}
	return int(left), true
}

// budgetPause stops reading from c until the budget allows.
func (c *conn) budgetPause() {
	if c.state&(stBudgetPaused|stClosed) != 0 {
		return
	}
	c.state |= stBudgetPaused
	l := c.loop
	l.budgetPaused = append(l.budgetPaused, c)
	l.cnt.budgetPauses.Add(1)
	c.updateInterest()
}

// admitBudget checks n more bytes of output for c against the budget: it
// pauses the producer above the soft budget and sheds this loop's largest
// queues above the budget. It reports false when the write must meet the
// slow-consumer policy.
func (c *conn) admitBudget(n int) bool {
	used, share, b, over := c.budgetPressure(n)
	if !over {
		return true
	}
	l := c.loop
	for used+int64(n) > b {
		v, freed := l.shedLargest(share)
		if v == nil {
			break
		}
		if used -= freed; v == c {
			return false
		}
	}
	// Past the budget with no queue above its share left to shed: a
	// queue within its share still takes the write (reads have stopped,
	// so this ends as the queues drain); one above it meets the policy.
	return used+int64(n) <= b || int64(c.OutboundBuffered()+n) <= share
}

// tryBudget is admitBudget for TryWrite, which sheds nothing: above the
// soft budget it refuses a write that would take c past its share or the
// total past the budget, and OnWritable runs once the budget allows again
// (budgetWait). A fan-out writer that flushes with TryWrite so keeps what
// does not fit in its own queue of shared messages, and the engine's
// copies stay within the budget however many subscribers there are.
func (c *conn) tryBudget(n int) bool {
	used, share, b, over := c.budgetPressure(n)
	if !over || used+int64(n) <= b && int64(c.OutboundBuffered()+n) <= share {
		return true
	}
	c.budgetWait()
	return false
}

// budgetPressure checks n more bytes of output for c against the soft
// budget. Past it (over), it has paused the producer or held reads back,
// and returns the bytes buffered, c's fair share and the budget.
func (c *conn) budgetPressure(n int) (used, share, b int64, over bool) {
	l := c.loop
	if b = l.e.budget.Load(); b == 0 {
		return 0, 0, 0, false
	}
	used, conns, _ := l.budgetUsed()
	soft := softBudget(b)
	if used+int64(n) <= soft {
		return used, 0, b, false
	}
	share = fairShare(soft, conns)
	switch p := l.cur; {
	case p == nil:
		// Output from outside any read (OnWake, AsyncWrite, a timer): its
		// producers are unknown, so no connection is read until the total
		// is back below the soft budget (budgetHold).
		l.e.budgetHold.Store(true)
	case int64(c.OutboundBuffered()+n) > share:
		p.budgetPause() // the producer of a queue above its share: for an echo, c itself
	case p != c:
		// Fan-out: p's input becomes output for others, many times its
		// size, so p is not read (nor its buffered frames decoded) until
		// the budget allows, whatever the share of each queue.
		p.budgetPause()
	}
	return used, share, b, true
}

// budgetWait registers c, whose TryWrite the budget refused, for an
// OnWritable once the budget allows (checkBudget).
func (c *conn) budgetWait() {
	if c.state&stBudgetWait != 0 {
		return
	}
	c.state |= stBudgetWait
	c.loop.budgetWriters = append(c.loop.budgetWriters, c)
}

// budgetWatched reports whether the loop must look at the budget at the
// end of each round, and poll it while idle: connections wait for it.
func (l *Loop) budgetWatched() bool {
	return len(l.budgetPaused) > 0 || len(l.budgetWriters) > 0 || l.e.budgetHold.Load()
}

// shedLargest closes the loop's largest queue above floor as a slow
// consumer and returns it (nil: none) and the bytes it held.
func (l *Loop) shedLargest(floor int64) (*conn, int64) {
	v := l.largestQueue(floor)
	if v == nil {
		return nil, 0
	}
	freed := int64(v.OutboundBuffered())
	l.cnt.slow.Add(1)
	v.closeNow(ErrSlowConsumer)
	return v, freed
}

// largestQueue returns the loop's open connection holding the most output
// above floor, or nil.
// A queue that has not sent for budgetStuck is stuck: at the budget the
// largest stuck one goes first, so that a consumer keeping up with a burst
// is not closed while one that takes nothing holds memory.
func (l *Loop) largestQueue(floor int64) *conn {
	var best, stuck *conn
	now := monotime()
	for _, c := range l.conns {
		if c == nil || c.state&stClosed != 0 || int64(c.OutboundBuffered()) <= floor {
			continue
		}
		if best == nil || c.OutboundBuffered() > best.OutboundBuffered() {
			best = c
		}
		if now-c.out.moved >= budgetStuck && (stuck == nil || c.OutboundBuffered() > stuck.OutboundBuffered()) {
			stuck = c
		}
	}
	if stuck != nil {
		return stuck
	}
	return best
}

// checkBudget resumes the connections paused by the budget once it
// allows, and closes those whose output has stood still for budgetStall.
// It runs at the end of a round while any is paused.
func (l *Loop) checkBudget() {
	b := l.e.budget.Load()
	used, conns := l.e.buffered()
	soft := softBudget(b)
	resume := b == 0 || used < soft-soft/8
	now := monotime()
	switch {
	case resume:
		l.e.budgetHold.Store(false)
	case now-l.budgetScan >= budgetScanEvery:
		// Reads are held back: a queue that sends nothing now belongs to
		// a consumer that takes nothing, and would hold the rest up. It
		// may be on any loop (fan-out), so every loop looks.
		l.budgetScan = now
		for _, o := range l.e.loops {
			if o == l {
				o.closeStalled(now)
			} else {
				o.control(func() { o.closeStalled(monotime()) })
			}
		}
	}
	share := fairShare(soft, conns)
	var resumed []*conn
	kept := l.budgetPaused[:0]
	for _, c := range l.budgetPaused {
		switch {
		case c.state&stClosed != 0:
			continue
		case c.out != nil && c.out.n > 0 && now-c.out.moved >= budgetStall:
			l.cnt.slow.Add(1)
			c.closeNow(ErrSlowConsumer)
			continue
		case resume && (b == 0 || int64(c.OutboundBuffered()) <= share/2): // hysteresis: no pause and resume per byte
			c.state &^= stBudgetPaused
			c.updateInterest()
			if len(c.in) > 0 && l.opts.Codec != nil {
				resumed = append(resumed, c) // frames held back by the pause
			}
			continue
		}
		kept = append(kept, c)
	}
	clear(l.budgetPaused[len(kept):])
	l.budgetPaused = kept
	if resume && len(l.budgetWriters) > 0 {
		l.wakeBudgetWriters(share)
	}
	for _, c := range resumed {
		if c.state&(stClosed|stClosing|stBudgetPaused) == 0 {
			c.deliver(nil)
		}
	}
}

// closeStalled closes, as slow consumers, the connections whose output has
// not moved for budgetStall, while the budget holds reads back.
func (l *Loop) closeStalled(now time.Duration) {
	if b := l.e.budget.Load(); b == 0 {
		return
	} else if used, _ := l.e.buffered(); used < softBudget(b)-softBudget(b)/8 {
		return
	}
	for _, c := range l.conns {
		if c != nil && c.state&stClosed == 0 && c.out != nil && c.out.n > 0 && now-c.out.moved >= budgetStall {
			l.cnt.slow.Add(1)
			c.closeNow(ErrSlowConsumer)
		}
	}
}

// accountInput brings the loop's count of held input up to date with c's
// input buffer: input held between callbacks counts against the budget.
func (c *conn) accountInput() {
	if d := int32(cap(c.in)) - c.inAcct; d != 0 {
		c.loop.cnt.inBytes.Add(int64(d))
		c.inAcct += d
	}
}

// wakeBudgetWriters runs OnWritable for the connections whose TryWrite the
// budget refused, now that it allows, in the order they were refused; one
// refused again waits at the end of the list. A queue still above half its
// share waits for its own drain instead (the low watermark's OnWritable),
// so that a consumer that takes nothing is not woken every round.
func (l *Loop) wakeBudgetWriters(share int64) {
	ws := l.budgetWriters
	l.budgetWriters, l.budgetWoken = l.budgetWoken[:0], nil
	for _, c := range ws {
		c.state &^= stBudgetWait
		switch {
		case c.state&(stClosed|stClosing|stShutWrite) != 0:
		case int64(c.OutboundBuffered()) > share/2:
			c.state |= stAboveHigh
		case l.e.h.writable != nil:
			if err := l.call(cbWritable, c, nil); err != nil {
				c.closeNow(err)
			}
		}
	}
	clear(ws)
	l.budgetWoken = ws[:0]
}
