package loop

import "sync/atomic"

// Stats is a snapshot of the group's counters: their totals over all
// loops, and each loop's own.
//
// The totals embed LoopStats so that the counters are listed once; a
// LoopStats is plain data without methods, so nothing leaks through the
// embedding. In the totals TaskQueue is the sum over the loops and the
// histograms are empty: read them per loop.
type Stats struct {
	LoopStats
	Loops []LoopStats
	// TLSHandshakes and TLSHandshakeFailures count the handshakes that
	// succeeded and those that failed, timed out or were abandoned (Config.TLS).
	TLSHandshakes, TLSHandshakeFailures uint64
}

// LoopStats are the counters of one loop (or, in Stats, their totals).
type LoopStats struct {
	Conns    int64  // open connections
	Accepted uint64 // connections accepted since start
	Closed   uint64 // connections closed since start
	BytesIn  uint64 // bytes read from connections
	BytesOut uint64 // bytes written to connections
	// WriteStalls counts the times a connection's send buffer filled and it
	// waited for writability.
	WriteStalls uint64
	// Panics counts callbacks that panicked; each closed its connection.
	Panics uint64
	// Refused counts connections closed at accept by a connection limit
	// (MaxConns, MaxConnsPerIP).
	Refused uint64
	// AcceptErrors counts failed accepts (EMFILE, ENFILE, ENOBUFS, ...).
	AcceptErrors uint64
	// SlowConsumers counts the times a connection's outbound queue passed
	// its high watermark and the slow-consumer policy applied.
	SlowConsumers uint64
	// Dropped counts writes dropped by SlowConsumerDrop.
	Dropped uint64
	// Timeouts counts connections closed by an idle timeout or a deadline.
	Timeouts uint64
	// Frames counts frames decoded by the codec.
	Frames uint64
	// FrameErrors counts connections closed for input the codec rejected.
	FrameErrors uint64
	// ClosedBy counts closed connections by reason; connections refused
	// by a limit count as ReasonLimit.
	ClosedBy [NumCloseReasons]uint64
	// OutboundBytes is the output queued and not yet sent, as the memory
	// budget counts it: 32 bytes per queue entry of a Shared, whose bytes
	// count once for the whole server (in the total, not a loop's).
	OutboundBytes int64
	// InboundBytes is the input held between callbacks (unconsumed).
	InboundBytes int64
	// BudgetPauses counts the times the memory budget paused reading on a
	// connection.
	BudgetPauses uint64
	// TaskQueue is the number of tasks (AsyncWrite, Execute) waiting.
	TaskQueue int
	// Stalls counts the times the watchdog found a loop busy for longer
	// than the stall threshold.
	Stalls uint64
	// Iterations and EventsPerWake are histograms of the loop's iteration
	// durations (seconds) and events per wake-up (Config.RecordLoopStats).
	Iterations    Histogram
	EventsPerWake Histogram
}

// sum fills st's totals from its loops.
func (st *Stats) sum() {
	t := &st.LoopStats
	for _, l := range st.Loops {
		t.Conns += l.Conns
		t.Accepted += l.Accepted
		t.Closed += l.Closed
		t.BytesIn += l.BytesIn
		t.BytesOut += l.BytesOut
		t.WriteStalls += l.WriteStalls
		t.Panics += l.Panics
		t.Refused += l.Refused
		t.AcceptErrors += l.AcceptErrors
		t.SlowConsumers += l.SlowConsumers
		t.Dropped += l.Dropped
		t.Timeouts += l.Timeouts
		t.Frames += l.Frames
		t.FrameErrors += l.FrameErrors
		for i, n := range l.ClosedBy {
			t.ClosedBy[i] += n
		}
		t.OutboundBytes += l.OutboundBytes
		t.InboundBytes += l.InboundBytes
		t.BudgetPauses += l.BudgetPauses
		t.TaskQueue += l.TaskQueue
		t.Stalls += l.Stalls
	}
}

// counters are the atomically updated counters behind LoopStats.
type counters struct {
	conns        atomic.Int64
	accepted     atomic.Uint64
	closed       atomic.Uint64
	bytesIn      atomic.Uint64
	bytesOut     atomic.Uint64
	stalls       atomic.Uint64
	panics       atomic.Uint64
	refused      atomic.Uint64
	acceptEr     atomic.Uint64
	slow         atomic.Uint64
	dropped      atomic.Uint64
	closedBy     [NumCloseReasons]atomic.Uint64
	frames       atomic.Uint64
	frameErr     atomic.Uint64
	outBytes     atomic.Int64 // bytes queued and not yet sent, sharedRefCost per Shared (its bytes are the Group's: Group.shared)
	inBytes      atomic.Int64 // capacity of the input buffers held between callbacks
	budgetPauses atomic.Uint64
	loopStalls   atomic.Uint64

	// Set by the event-loop engine; nil for the portable engine.
	iterations *histogram // loop iteration durations (WithLoopStats)
	events     *histogram // events per wake-up (WithLoopStats)
	tasks      func() int // task queue depth
}

func (c *counters) snapshot() LoopStats {
	var by [NumCloseReasons]uint64
	for i := range by {
		by[i] = c.closedBy[i].Load()
	}
	by[ReasonLimit] += c.refused.Load()
	st := LoopStats{
		OutboundBytes: c.outBytes.Load(),
		InboundBytes:  c.inBytes.Load(),
		BudgetPauses:  c.budgetPauses.Load(),
		Stalls:        c.loopStalls.Load(),
		ClosedBy:      by,
		Conns:         c.conns.Load(),
		Accepted:      c.accepted.Load(),
		Closed:        c.closed.Load(),
		BytesIn:       c.bytesIn.Load(),
		BytesOut:      c.bytesOut.Load(),
		WriteStalls:   c.stalls.Load(),
		Panics:        c.panics.Load(),
		Refused:       c.refused.Load(),
		AcceptErrors:  c.acceptEr.Load(),
		SlowConsumers: c.slow.Load(),
		Dropped:       c.dropped.Load(),
		Timeouts:      c.closedBy[ReasonTimeout].Load(),
		Frames:        c.frames.Load(),
		FrameErrors:   c.frameErr.Load(),
	}
	if c.iterations != nil {
		st.Iterations = c.iterations.snapshot()
		st.EventsPerWake = c.events.snapshot()
	}
	if c.tasks != nil {
		st.TaskQueue = c.tasks()
	}
	return st
}
