package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/server"
)

// pacer holds publishers back while the output queued on all connections
// is above a budget. A publish fans out to every subscriber of its topic,
// so one PUB read from the network can queue megabytes (1 KiB to 5,000
// subscribers is 5 MB); when subscribers fall behind, queued output grows
// faster than any sampling of memory can follow. Past the budget, the
// publisher that just published stops being read (TCP pushes back on it)
// until the queued output is back under half the budget. If the publishers
// stay held back for the stall time, the subscribers whose output has not
// moved for that long are closed as slow consumers: they are what keeps
// the output above the budget, and without closing them no publisher would
// ever be read again.
//
// check runs on a publisher's loop, tick on every loop (WithLoopTick).
type pacer struct {
	srv    *server.Server
	budget int64
	stall  time.Duration
	log    *slog.Logger

	mu       sync.Mutex
	paused   map[int][]*connState // by loop: publishers held back
	since    time.Time            // when the oldest hold began; zero: none held
	lastShed time.Time

	shedding atomic.Bool   // a ShedStalledConsumers call is running
	pauses   atomic.Uint64 // publishers held back
	shed     atomic.Uint64 // subscribers closed as stalled
}

func newPacer(srv *server.Server, budget int64, stall time.Duration, log *slog.Logger) *pacer {
	return &pacer{srv: srv, budget: budget, stall: stall, log: log, paused: map[int][]*connState{}}
}

// check holds c back if the queued output is above the budget. It runs on
// c's loop after c's publish.
func (p *pacer) check(c server.Conn, st *connState) {
	if st.held || p.srv.OutboundBytes() <= p.budget {
		return
	}
	st.held, st.conn = true, c
	c.PauseRead()
	p.pauses.Add(1)
	p.mu.Lock()
	if p.since.IsZero() {
		p.since = time.Now()
	}
	p.paused[c.LoopIndex()] = append(p.paused[c.LoopIndex()], st)
	p.mu.Unlock()
}

// tick resumes the publishers of loop held back once the output is under
// half the budget; while it is not, after the stall time, it sheds the
// stalled subscribers (on a goroutine of its own: shedding waits for every
// loop, this one included).
func (p *pacer) tick(loop int) {
	p.mu.Lock()
	held := p.paused[loop]
	if len(held) == 0 {
		p.mu.Unlock()
		return
	}
	if p.srv.OutboundBytes() > p.budget/2 {
		now := time.Now()
		shed := now.Sub(p.since) >= p.stall && now.Sub(p.lastShed) >= p.stall/4
		if shed && p.shedding.CompareAndSwap(false, true) {
			p.lastShed = now
			go p.shedStalled()
		}
		p.mu.Unlock()
		return
	}
	delete(p.paused, loop)
	if len(p.paused) == 0 {
		p.since = time.Time{}
	}
	p.mu.Unlock()
	for _, st := range held {
		st.held = false
		if !st.closed {
			st.conn.ResumeRead()
		}
		st.conn = nil
	}
}

func (p *pacer) shedStalled() {
	defer p.shedding.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, freed := p.srv.ShedStalledConsumers(ctx, p.stall)
	if n > 0 {
		p.shed.Add(uint64(n))
		p.log.Warn("publishers held back: closed stalled subscribers", "closed", n, "freed", freed,
			"stalled_for", p.stall, "budget", p.budget)
	}
}

// holds returns how many times a publisher was held back (0 for nil).
func (p *pacer) holds() uint64 {
	if p == nil {
		return 0
	}
	return p.pauses.Load()
}

// stalledClosed returns how many subscribers were closed as stalled (0 for
// nil).
func (p *pacer) stalledClosed() uint64 {
	if p == nil {
		return 0
	}
	return p.shed.Load()
}
