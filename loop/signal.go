package loop

import "sync/atomic"

// Signal runs a function on a loop's goroutine when notified from any
// goroutine. Notifications made before the loop gets to it collapse into
// one run, and a pending Signal takes no slot of the task queue: Notify
// never fails for a full queue, which Execute may. It is the loop-level
// twin of Conn.Wake, for work that other goroutines hand to a loop
// through a queue of their own (pub/sub deliveries): they append to
// their queue and Notify; the function empties it.
type Signal struct {
	l       *Loop
	f       func()
	pending atomic.Bool // queued in l.notified
}

// NewSignal returns a Signal that runs f on l's goroutine. A panic in f
// is recovered, logged and counted. Safe for concurrent use.
func (l *Loop) NewSignal(f func()) *Signal { return &Signal{l: l, f: f} }

// Notify asks the loop to run the Signal's function once more after this
// call. It reports false once the loop has stopped. Safe for concurrent
// use.
func (s *Signal) Notify() bool {
	if !s.pending.CompareAndSwap(false, true) {
		return true
	}
	l := s.l
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		s.pending.Store(false)
		return false
	}
	l.notified = append(l.notified, s)
	l.mu.Unlock()
	l.wake()
	return true
}

// run is the loop's side: the flag is cleared first, so a Notify during
// f queues another run.
func (s *Signal) run() {
	s.pending.Store(false)
	if err := s.l.e.guardCall("Signal", s.f, s.l.idx, &s.l.cnt); err != nil {
		s.l.opts.Logger.Error("loop signal failed", "loop", s.l.idx, "err", err)
	}
}
