package loop

import "time"

// wheelSlots is the number of slots of a timing wheel (a power of two).
// Timers further away than one turn stay in their slot for more turns.
const wheelSlots = 512

// timer is a node of a timing wheel: an intrusive list entry, so that
// scheduling allocates nothing and a connection's timer is part of it.
type timer struct {
	when       int64  // tick at which it fires
	fn         func() // what it runs, unless owner is set
	owner      *Timer // an AfterFunc's: its fire runs
	prev, next *timer
	armed      bool
}

// wheel is a hashed timing wheel owned by one loop goroutine: O(1) to
// schedule and cancel, one slot scan per tick. It replaces a runtime timer
// per connection.
type wheel struct {
	tick  time.Duration
	base  time.Time // tick 0
	now   int64     // last tick processed
	n     int       // armed timers
	slots [wheelSlots]*timer
}

// monoBase is the origin of the engine's monotonic clock.
var monoBase = time.Now()

// monotime returns the engine's monotonic clock reading.
func monotime() time.Duration { return time.Since(monoBase) }

func newWheel(tick time.Duration) *wheel {
	return &wheel{tick: tick, base: monoBase}
}

// ticks returns the tick of t, rounded up so that a timer never fires
// early.
func (w *wheel) ticks(t time.Time) int64 {
	d := t.Sub(w.base)
	return int64((d + w.tick - 1) / w.tick)
}

// tickAt returns the tick of the instant t of the monotonic clock, rounded
// down.
func (w *wheel) tickAt(t time.Duration) int64 { return int64(t / w.tick) }

// schedule arms t to fire at tick when (at the next tick if when has
// passed); an armed t is moved.
func (w *wheel) schedule(t *timer, when int64) {
	if t.armed {
		w.cancel(t)
	}
	if when <= w.now {
		when = w.now + 1
	}
	t.when = when
	s := &w.slots[when&(wheelSlots-1)]
	t.prev, t.next = nil, *s
	if *s != nil {
		(*s).prev = t
	}
	*s = t
	t.armed = true
	w.n++
}

// cancel disarms t; it does nothing to a disarmed timer.
func (w *wheel) cancel(t *timer) {
	if !t.armed {
		return
	}
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		w.slots[t.when&(wheelSlots-1)] = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next, t.armed = nil, nil, false
	w.n--
}

// advance fires every timer due up to tick now, in slot order.
func (w *wheel) advance(now int64) {
	if now <= w.now {
		return
	}
	from := w.now + 1
	if now-from >= wheelSlots {
		from = now - wheelSlots + 1 // one turn visits every slot
	}
	w.now = now
	for tk := from; tk <= now; tk++ {
		s := &w.slots[tk&(wheelSlots-1)]
		for t := *s; t != nil; {
			next := t.next
			if t.when <= now {
				w.cancel(t)
				// Either may schedule or cancel other timers, never
				// next's slot list order.
				if t.owner != nil {
					t.owner.fire()
				} else {
					t.fn()
				}
			}
			t = next
		}
	}
}

// timeout returns how long the loop may block before the next tick is due,
// in milliseconds: -1 with no timers armed.
func (w *wheel) timeout() int {
	if w.n == 0 {
		return -1
	}
	next := w.base.Add(time.Duration(w.now+1) * w.tick)
	ms := int((time.Until(next) + time.Millisecond - 1) / time.Millisecond)
	return max(ms, 0)
}
