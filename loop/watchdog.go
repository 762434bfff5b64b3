package loop

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

// watchdog checks the loops every half threshold until stop is closed: a
// loop busy (not parked) since longer than the threshold is stalled, by a
// blocking handler or a runaway callback. Each stall is logged once, with
// the loop goroutine's stack, and counted.
func (e *Group) watchdog(threshold time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(threshold / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := monotime()
		for _, l := range e.loops {
			turn := l.turnAt.Load()
			if l.parked.Load() || turn == 0 || now-time.Duration(turn) < threshold || turn == l.stallSeen {
				continue
			}
			l.stallSeen = turn
			l.cnt.loopStalls.Add(1)
			e.opts.Logger.Error("event loop stalled: a callback has been running too long",
				"loop", l.idx, "busy", (now - time.Duration(turn)).Round(time.Millisecond),
				"stack", goroutineStack(l.gid.Load()))
		}
	}
}

// goroutineID returns the id of the calling goroutine, from its stack
// header ("goroutine 42 [running]:"). It runs once per loop.
func goroutineID() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		id, _ := strconv.ParseInt(string(b[:i]), 10, 64)
		return id
	}
	return 0
}

// goroutineStack returns the stack of goroutine id from a dump of all.
func goroutineStack(id int64) string {
	var all bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&all, 2)
	head := []byte(fmt.Sprintf("goroutine %d [", id))
	for _, block := range bytes.Split(all.Bytes(), []byte("\n\n")) {
		if bytes.HasPrefix(block, head) {
			return string(block)
		}
	}
	return "(stack not found)"
}

// Health reports whether the loops are turning: every loop must run a
// no-op task before ctx ends; a loop blocked by a callback fails it, with
// an error naming the loop. Safe for concurrent use.
func (e *Group) Health(ctx context.Context) error {
	done := make(chan int, len(e.loops))
	for _, l := range e.loops {
		if !l.control(func() { done <- l.idx }) {
			return fmt.Errorf("loop %d: %w", l.idx, ErrStopped)
		}
	}
	answered := make([]bool, len(e.loops))
	for range e.loops {
		select {
		case i := <-done:
			answered[i] = true
		case <-ctx.Done():
			for i, ok := range answered {
				if !ok {
					busy := monotime() - time.Duration(e.loops[i].turnAt.Load())
					return fmt.Errorf("loop %d is not turning (busy for %v)", i, busy.Round(time.Millisecond))
				}
			}
		}
	}
	return nil
}
