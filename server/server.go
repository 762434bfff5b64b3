package server

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server runs a Handler over the connections of one or more listeners.
// Its methods are safe for concurrent use.
type Server struct {
	h    Handler
	opts options

	mu          sync.Mutex // guards eng, err, drainErr and cancelDrain
	eng         *loopEngine
	err         error              // first fatal engine error, returned by Serve
	drainErr    error              // Shutdown's result
	cancelDrain context.CancelFunc // ends a Shutdown's drain early (Close)
	closing     atomic.Bool
	done        chan struct{} // closed when Close has finished

	lim       *limiter
	acceptLog logLimiter
	panicLog  logLimiter
	closeLog  logLimiter

	fh              FrameHandler      // h as a FrameHandler, if it is one
	feh             FrameErrorHandler // h as a FrameErrorHandler, if it is one
	eofHandler      bool              // h implements EOFHandler
	goodbyeHandler  bool              // h implements GoodbyeHandler
	writableHandler bool              // h implements WritableHandler
}

// New returns a server that runs h. It validates the options and returns an
// error for a bad configuration; nothing is started until Serve.
func New(h Handler, opts ...Option) (*Server, error) {
	if h == nil {
		return nil, errors.New("server: nil handler")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	fh, framed := h.(FrameHandler)
	if o.codec != nil && !framed {
		return nil, errors.New("server: WithCodec needs a handler that implements FrameHandler")
	}
	feh, _ := h.(FrameErrorHandler)
	_, eof := h.(EOFHandler)
	_, writable := h.(WritableHandler)
	_, goodbye := h.(GoodbyeHandler)
	return &Server{
		fh:              fh,
		feh:             feh,
		eofHandler:      eof,
		goodbyeHandler:  goodbye,
		writableHandler: writable,
		h:               h,
		opts:            o,
		done:            make(chan struct{}),
		lim:             newLimiter(o.maxConns, o.maxConnsPerIP),
		acceptLog:       logLimiter{interval: time.Second},
		panicLog:        logLimiter{interval: time.Second},
		closeLog:        logLimiter{interval: time.Second},
	}, nil
}

// Serve accepts connections on ln until Close and returns ErrServerClosed,
// or the error that stopped the engine. The server owns ln from then on.
// Serve may be called for several listeners; each call blocks.
//
// On Linux, a TCP listener made by Listen has SO_REUSEPORT set, and the
// server opens one more listener on the same address per loop so that the
// kernel spreads connections over the loops.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.eng == nil {
		eng, err := newLoopEngine(s)
		if err != nil {
			s.mu.Unlock()
			ln.Close()
			return err
		}
		s.eng = eng
	}
	eng := s.eng
	s.mu.Unlock()
	if err := eng.serve(ln); err != nil {
		if s.closing.Load() {
			// Close or Shutdown came while the listener was being handed
			// to the loops, which refused it as stopping.
			return ErrServerClosed
		}
		return err
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return ErrServerClosed
}

// ListenAndServe listens on network ("tcp", "tcp4", "tcp6", "unix") and
// address with Listen and serves it like Serve.
func (s *Server) ListenAndServe(network, address string) error {
	ln, err := Listen(network, address)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Close stops accepting, closes every connection at once (OnClose receives
// ErrServerClosed) and waits until the loops have exited. Every Serve then
// returns. During a Shutdown, Close ends the drain early. Close is
// idempotent.
func (s *Server) Close() error {
	if !s.closing.CompareAndSwap(false, true) {
		s.mu.Lock()
		cancel := s.cancelDrain
		s.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		<-s.done
		return nil
	}
	s.stop(nil)
	return nil
}

// Shutdown drains the server gracefully. It closes the listeners first
// (with SO_REUSEPORT a replacement process may already listen on the same
// port), runs OnGoodbye on every connection (GoodbyeHandler), keeps serving
// the connections while they finish what is in flight, and closes each one
// once it is idle — nothing unread, nothing queued, no traffic for the
// WithDrainQuiet period — with a FIN after its output, then reads until the
// peer's FIN so that the close is not a reset. When ctx ends first, the
// rest are closed at once and Shutdown returns ctx.Err(). OnClose receives
// ErrServerClosed. Serve returns ErrServerClosed. Calls from any number of
// goroutines run one drain; all return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closing.CompareAndSwap(false, true) {
		<-s.done
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.drainErr
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.cancelDrain = cancel
	eng := s.eng
	s.mu.Unlock()
	var err error
	if eng != nil {
		err = eng.drain(ctx)
	}
	s.stop(err)
	return err
}

// stop closes the engine and releases Serve and every waiter.
func (s *Server) stop(drainErr error) {
	s.mu.Lock()
	eng := s.eng
	s.drainErr = drainErr
	s.mu.Unlock()
	if eng != nil {
		eng.close()
	}
	close(s.done)
}

// fail records a fatal engine error and closes the server in the background.
func (s *Server) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.opts.logger.Error("engine failed", "err", err)
	go s.Close()
}

// countClose counts a closed connection by its reason, and logs the
// reasons an operator should hear of (slow consumers, protocol errors) at
// most once a second.
func (s *Server) countClose(err error, cnt *counters) {
	r := ReasonOf(err)
	cnt.closedBy[r].Add(1)
	if r != ReasonSlowConsumer && r != ReasonProtocolError {
		return
	}
	if ok, dropped := s.closeLog.allow(); ok {
		s.opts.logger.Warn("connection closed", "reason", r.String(), "err", err, "suppressed", dropped)
	}
}

// acceptFailed counts an accept error and logs it at most once a second.
func (s *Server) acceptFailed(err error, loop int, cnt *counters, backoff time.Duration) {
	cnt.acceptEr.Add(1)
	if ok, dropped := s.acceptLog.allow(); ok {
		s.opts.logger.Warn("accept failed; existing connections are still served",
			"loop", loop, "err", err, "backoff", backoff, "suppressed", dropped)
	}
}

// Listen opens a listener for Serve. For TCP on Linux it sets SO_REUSEPORT so
// that Serve can give every loop a listener of its own.
func Listen(network, address string) (net.Listener, error) {
	lc := net.ListenConfig{Control: listenControl(network)}
	return lc.Listen(context.Background(), network, address)
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Conns    int64  // open connections
	Accepted uint64 // connections accepted since start
	Closed   uint64 // connections closed since start
	BytesIn  uint64 // bytes read from connections
	BytesOut uint64 // bytes written to connections
	// WriteStalls counts the times a connection's send buffer filled and it
	// waited for writability (event-loop engine only).
	WriteStalls uint64
	// Panics counts callbacks that panicked; each closed its connection.
	Panics uint64
	// Refused counts connections closed at accept by WithMaxConns or
	// WithMaxConnsPerIP.
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
	// Frames counts frames decoded by the codec (WithCodec).
	Frames uint64
	// FrameErrors counts connections closed for input the codec rejected.
	FrameErrors uint64
	// ClosedBy counts closed (and refused) connections by reason.
	ClosedBy [NumCloseReasons]uint64
	// OutboundBytes is the output queued on all connections.
	OutboundBytes int64
	// Stalls counts loop stalls found by the watchdog.
	Stalls uint64
	Loops  []LoopStats
}

// LoopStats are the counters of one loop.
type LoopStats struct {
	Conns    int64
	Accepted uint64
	Closed   uint64
	BytesIn  uint64
	BytesOut uint64
	// WriteStalls counts waits for writability.
	WriteStalls   uint64
	Panics        uint64
	Refused       uint64
	AcceptErrors  uint64
	SlowConsumers uint64
	Dropped       uint64
	Timeouts      uint64
	Frames        uint64
	FrameErrors   uint64
	// ClosedBy counts closed connections by reason; connections refused
	// by a limit count as ReasonLimit.
	ClosedBy [NumCloseReasons]uint64
	// OutboundBytes is the output queued and not yet sent.
	OutboundBytes int64
	// TaskQueue is the number of tasks (AsyncWrite) waiting for the loop.
	TaskQueue int
	// Stalls counts the times the watchdog found the loop busy for longer
	// than the stall threshold.
	Stalls uint64
	// Iterations and EventsPerWake are histograms of the loop's iteration
	// durations (seconds) and events per wake-up (WithLoopStats).
	Iterations    Histogram
	EventsPerWake Histogram
}

// Health reports whether the server's event loops are turning: every loop
// must run a no-op task before ctx ends. A loop blocked by a handler fails
// it. It is the liveness check behind the admin server's /healthz. Safe for
// concurrent use.
func (s *Server) Health(ctx context.Context) error {
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	if eng == nil {
		return nil
	}
	return eng.health(ctx)
}

// CodecName returns the name of the codec attached with WithCodec, or "".
func (s *Server) CodecName() string {
	if s.opts.codec == nil {
		return ""
	}
	return s.opts.codec.Name()
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	var st Stats
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	if eng != nil {
		eng.stats(&st)
	}
	for _, l := range st.Loops {
		st.Conns += l.Conns
		st.Accepted += l.Accepted
		st.Closed += l.Closed
		st.BytesIn += l.BytesIn
		st.BytesOut += l.BytesOut
		st.WriteStalls += l.WriteStalls
		st.Panics += l.Panics
		st.Refused += l.Refused
		st.AcceptErrors += l.AcceptErrors
		st.SlowConsumers += l.SlowConsumers
		st.Dropped += l.Dropped
		st.Timeouts += l.Timeouts
		st.Frames += l.Frames
		st.FrameErrors += l.FrameErrors
		for i, n := range l.ClosedBy {
			st.ClosedBy[i] += n
		}
		st.OutboundBytes += l.OutboundBytes
		st.Stalls += l.Stalls
	}
	return st
}

// counters are the atomically updated counters behind LoopStats.
type counters struct {
	conns      atomic.Int64
	accepted   atomic.Uint64
	closed     atomic.Uint64
	bytesIn    atomic.Uint64
	bytesOut   atomic.Uint64
	stalls     atomic.Uint64
	panics     atomic.Uint64
	refused    atomic.Uint64
	acceptEr   atomic.Uint64
	slow       atomic.Uint64
	dropped    atomic.Uint64
	closedBy   [NumCloseReasons]atomic.Uint64
	frames     atomic.Uint64
	frameErr   atomic.Uint64
	outBytes   atomic.Int64 // bytes queued and not yet sent
	loopStalls atomic.Uint64

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
