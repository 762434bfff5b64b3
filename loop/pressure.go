package loop

import (
	"context"
	"sort"
	"time"
)

// Throttle pauses (on) or resumes (off) accepting and reading on every
// connection of every loop, so that TCP pushes back on all senders while
// memory is short. Writing goes on: queues drain. It is the memory
// governor's first step and is safe for concurrent use; the change reaches
// each loop through its task queue.
func (g *Group) Throttle(on bool) { g.throttle(on) }

// ShedSlowConsumers closes the connections holding the most outbound bytes,
// largest first (only those holding at least the low watermark), until at
// least target bytes are freed (or none is left holding any), with
// ErrSlowConsumer as the reason. It returns how many it closed and the bytes
// they held. It is the memory governor's step at the hard mark. Safe for
// concurrent use.
func (g *Group) ShedSlowConsumers(ctx context.Context, target int64) (closed int, freed int64) {
	if target <= 0 {
		return 0, 0
	}
	eng := g
	conns := eng.backlogged(ctx, 0)
	sort.Slice(conns, func(i, j int) bool { return conns[i].bytes > conns[j].bytes })
	var pick []backlog
	for _, b := range conns {
		if freed >= target {
			break
		}
		pick = append(pick, b)
		freed += int64(b.bytes)
	}
	return eng.shed(ctx, pick, 0)
}

// ShedStalledConsumers closes, with ErrSlowConsumer as the reason, every
// connection holding at least 64 KiB of output (or the low watermark, if
// lower) that has not sent a byte for at least stalled (when stalled is positive): consumers
// that take nothing while their queues hold memory. It returns how many it
// closed and the bytes they held. The memory governor calls it while it
// throttles, when reading nothing means the healthy consumers' queues
// drain and only the stalled ones keep theirs. Safe for concurrent use.
func (g *Group) ShedStalledConsumers(ctx context.Context, stalled time.Duration) (closed int, freed int64) {
	if stalled <= 0 {
		return 0, 0
	}
	return g.shed(ctx, g.backlogged(ctx, stalled), stalled)
}

// OutboundBytes returns the output queued on all connections and not yet
// sent: Stats().OutboundBytes, without the rest of the snapshot (a few
// atomic loads). Safe for concurrent use; a handler may call it per request
// to pace producers against a budget of its own.
func (g *Group) OutboundBytes() int64 { return g.outbound() }

// backlog is a connection with output queued, found by engine.backlogged.
type backlog struct {
	conn  Conn
	loop  int
	bytes int
}

// sheddable reports whether a connection with the queue q (nil: none)
// may be shed at now: it holds at least shedFloor or, when stalled is
// positive, at least stallFloor and has not sent a byte for that long.
func sheddable(q *outbound, o *Config, now, stalled time.Duration) bool {
	if q == nil {
		return false
	}
	if stalled <= 0 {
		return q.n >= shedFloor(o)
	}
	return q.n >= stallFloor(o) && now-q.moved >= stalled
}

// shedFloor is the smallest outbound queue that makes a connection a
// candidate for shedding: the low watermark, so that a fast consumer
// holding a little output for a moment is never shed.
func shedFloor(o *Config) int { return max(o.LowWater, 1) }

// stallFloor is the smallest outbound queue that makes a stalled
// connection a candidate: 64 KiB (or the low watermark, if lower). The stall
// itself says the consumer is not keeping up, so a queue well below the low
// watermark qualifies: many silent peers holding a few hundred KiB each add
// up, and the kernel holds their socket buffers on top.
func stallFloor(o *Config) int { return min(shedFloor(o), 64<<10) }
