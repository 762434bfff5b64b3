package loop

import (
	"context"
	"time"
)

// Index returns the loop's position in its group, 0 <= Index < Len.
// Safe for concurrent use.
func (l *Loop) Index() int { return l.idx }

// Execute queues f to run on the loop's goroutine, after the events of the
// current round, in the order of the calls. It never blocks: it returns
// ErrQueueFull when the loop's task queue (Config.TaskQueueSize) is full
// and ErrStopped once the loop has stopped. A panic in f is recovered,
// logged and counted. f must not block. Safe for concurrent use.
func (l *Loop) Execute(f func()) error {
	err := l.submit(func() {
		if err := l.e.guardCall("Execute", f, l.idx, &l.cnt); err != nil {
			l.opts.Logger.Error("loop task failed", "loop", l.idx, "err", err)
		}
	})
	if err == ErrClosed {
		return ErrStopped
	}
	return err
}

// Submit runs f on the loop's goroutine like Execute and waits until it
// has run, or until ctx ends (ctx.Err(); f may still run later). It must
// not be called from the loop's own goroutine, which it would wait on.
// Safe for concurrent use.
func (l *Loop) Submit(ctx context.Context, f func()) error {
	done := make(chan struct{})
	if err := l.Execute(func() { defer close(done); f() }); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AfterFunc runs f on the loop's goroutine after d, from the loop's
// timing wheel (within one Config.TimerTick of being due): no runtime
// timer is made. A panic in f is recovered, logged and counted. Loop only:
// call it from a callback or a task of this loop (Execute schedules from
// elsewhere); the returned Timer too.
func (l *Loop) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{l: l, lf: f}
	t.Reset(d)
	return t
}

// InLoop reports whether the calling goroutine is this loop's goroutine,
// for assertions in code that must run there. It reads the goroutine's id
// from its stack, which takes about a microsecond: keep it off hot paths.
// Safe for concurrent use.
func (l *Loop) InLoop() bool { return goroutineID() == l.gid.Load() }

// Timers returns the number of timers armed on the loop's wheel (deadlines,
// idle timeouts, AfterFunc, drain checks). Loop only.
func (l *Loop) Timers() int { return l.w.n }

// TimerTick returns the resolution of the loop's timing wheel
// (Config.TimerTick): timers go off within one tick of being due.
// Safe for concurrent use.
func (l *Loop) TimerTick() time.Duration { return l.w.tick }
