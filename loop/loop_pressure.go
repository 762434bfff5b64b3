package loop

import (
	"context"
	"time"

	"github.com/shoalnet/shoal/internal/poller"
)

func (e *Group) throttle(on bool) {
	for _, l := range e.loops {
		l.mu.Lock()
		l.throttleReq = &on
		l.mu.Unlock()
		l.wake()
	}
}

// setThrottle applies Throttle on the loop goroutine: listeners and
// connections lose (or regain) read interest.
func (l *Loop) setThrottle(on bool) {
	if l.throttled == on {
		return
	}
	l.throttled = on
	in := poller.InterestRead
	if on {
		in = poller.InterestNone
	}
	for _, ln := range l.listeners {
		if !ln.paused { // an accept back-off resumes it when it ends
			l.t.mod(ln.fd, in)
		}
	}
	for _, c := range l.conns {
		if c != nil {
			c.updateInterest()
		}
	}
}

func (e *Group) backlogged(ctx context.Context, stalled time.Duration) []backlog {
	results := make(chan []backlog, len(e.loops))
	asked := 0
	for _, l := range e.loops {
		ok := l.control(func() {
			var out []backlog
			now := monotime()
			for _, c := range l.conns {
				if c != nil && c.state&stClosed == 0 && sheddable(c.out, l.opts, now, stalled) {
					out = append(out, backlog{conn: c, loop: l.idx, bytes: c.OutboundBuffered()})
				}
			}
			results <- out
		})
		if ok {
			asked++
		}
	}
	var all []backlog
	for range asked {
		select {
		case b := <-results:
			all = append(all, b...)
		case <-ctx.Done():
			return all
		}
	}
	return all
}

func (e *Group) shed(ctx context.Context, victims []backlog, stalled time.Duration) (int, int64) {
	type outcome struct {
		closed int
		freed  int64
	}
	byLoop := make(map[int][]*conn)
	for _, v := range victims {
		byLoop[v.loop] = append(byLoop[v.loop], v.conn.(*conn))
	}
	results := make(chan outcome, len(byLoop))
	asked := 0
	for i, cs := range byLoop {
		l := e.loops[i]
		ok := l.control(func() {
			var o outcome
			now := monotime()
			for _, c := range cs {
				// Re-checked here: the queue may have drained meanwhile.
				if c.state&stClosed != 0 || !sheddable(c.out, l.opts, now, stalled) {
					continue
				}
				o.freed += int64(c.OutboundBuffered())
				o.closed++
				l.cnt.slow.Add(1)
				c.closeNow(ErrSlowConsumer)
			}
			results <- o
		})
		if ok {
			asked++
		}
	}
	var total outcome
	for range asked {
		select {
		case o := <-results:
			total.closed += o.closed
			total.freed += o.freed
		case <-ctx.Done():
			return total.closed, total.freed
		}
	}
	return total.closed, total.freed
}

func (e *Group) outbound() int64 {
	n := e.shared.Load()
	for _, l := range e.loops {
		n += l.cnt.outBytes.Load()
	}
	return n
}

// overBudget reports whether n more bytes would take the output queued on
// all connections above WithOutboundBudget.
func (e *Group) overBudget(n int) bool {
	b := e.opts.OutboundBudget
	return b > 0 && e.outbound()+int64(n) > b
}
