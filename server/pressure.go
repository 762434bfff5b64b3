package server

import (
	"context"
	"sort"
)

// Throttle pauses (on) or resumes (off) accepting and reading on every
// connection of every loop, so that TCP pushes back on all senders while
// memory is short. Writing goes on: queues drain. It is the memory
// governor's first step and is safe for concurrent use; the change reaches
// each loop through its task queue.
func (s *Server) Throttle(on bool) {
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	if eng != nil {
		eng.throttle(on)
	}
}

// ShedSlowConsumers closes the connections holding the most outbound bytes,
// largest first (only those holding at least the low watermark), until at least target bytes are freed (or none is left
// holding any), with ErrSlowConsumer as the reason. It returns how many it
// closed and the bytes they held. It is the memory governor's second step.
// Safe for concurrent use.
func (s *Server) ShedSlowConsumers(ctx context.Context, target int64) (closed int, freed int64) {
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	if eng == nil || target <= 0 {
		return 0, 0
	}
	conns := eng.backlogged(ctx)
	sort.Slice(conns, func(i, j int) bool { return conns[i].bytes > conns[j].bytes })
	var pick []backlog
	for _, b := range conns {
		if freed >= target {
			break
		}
		pick = append(pick, b)
		freed += int64(b.bytes)
	}
	closed, freed = eng.shed(ctx, pick)
	return closed, freed
}

// backlog is a connection with output queued, found by engine.backlogged.
type backlog struct {
	conn  Conn
	loop  int
	bytes int
}

// shedFloor is the smallest outbound queue that makes a connection a
// candidate for shedding: the low watermark, so that a fast consumer
// holding a little output for a moment is never shed.
func shedFloor(o *options) int { return max(o.lowWater, 1) }
