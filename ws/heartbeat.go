package ws

import (
	"time"

	"github.com/shoalnet/shoal/loop"
)

// hbSlots is how many turns a heartbeat interval is cut into (fewer when
// the interval is not that many timer ticks of the loop): at each turn,
// one loop timer visits one slot's share of the loop's connections, so
// the work is spread over the interval.
const hbSlots = 8

// The heartbeats of one loop's connections. A connection costs its
// place in beats and two small fields, not a timer of its own: one
// timer per loop (and Upgrader) goes off every interval/hbSlots, counts
// a beat, and visits the connections whose index falls in that beat's
// slot. A connection acts when its due beat has come, so that a visit
// that comes early (a connection moved to an earlier slot when another
// left) does nothing: heartbeats stay at least an interval apart, and at
// most two intervals and a turn.
//
// It lives in the loop's scratch and is touched only on that loop.
type heartbeats struct {
	beats []*Conn
	beat  uint32      // turns so far
	slot  int         // the slot of the next turn
	timer *loop.Timer // nil until the first connection; stopped while beats is empty
	turn  time.Duration
	slots int     // turns per interval, 1 to hbSlots
	due   []*Conn // this turn's, reused
}

// join adds c; its first heartbeat is due an interval from now.
func (h *heartbeats) join(c *Conn, l *loop.Loop, interval time.Duration) {
	first := h.timer == nil
	if first {
		h.slots = min(max(int(interval/l.TimerTick()), 1), hbSlots)
		h.turn = interval / time.Duration(h.slots)
		h.timer = l.AfterFunc(h.turn, h.tick)
	}
	c.hb = int32(len(h.beats))
	c.due = h.beat + uint32(h.slots)
	h.beats = append(h.beats, c)
	if !first && len(h.beats) == 1 {
		h.timer.Reset(h.turn) // tick stops re-arming it when the last one leaves
	}
}

// leave removes c, if it is there.
func (h *heartbeats) leave(c *Conn) {
	i := c.hb
	if i < 0 {
		return
	}
	last := len(h.beats) - 1
	h.beats[i] = h.beats[last]
	h.beats[i].hb = i
	h.beats[last] = nil
	h.beats = h.beats[:last]
	c.hb = -1
	if cap(h.beats) > 64 && len(h.beats) < cap(h.beats)/4 { // give back what a crowd left
		h.beats = append([]*Conn(nil), h.beats...)
	}
}

// tick is one turn.
func (h *heartbeats) tick() {
	h.beat++
	for i := h.slot; i < len(h.beats); i += h.slots {
		if c := h.beats[i]; int32(c.due-h.beat) <= 0 {
			h.due = append(h.due, c)
		}
	}
	h.slot = (h.slot + 1) % h.slots
	for i, c := range h.due {
		c.due = h.beat + uint32(h.slots)
		if c.hb >= 0 { // still here (a callback of an earlier one may have closed it)
			c.heartbeat()
		}
		h.due[i] = nil
	}
	h.due = h.due[:0]
	if len(h.beats) > 0 {
		h.timer.Reset(h.turn)
	}
}
