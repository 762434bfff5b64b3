package server

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/loop"
)

// Server runs a Handler over the connections of one or more listeners on a
// group of event loops (package loop). Its methods are safe for concurrent
// use.
type Server struct {
	h    Handler
	opts options

	mu          sync.Mutex         // guards g, drainErr and cancelDrain
	g           *loop.Group        // nil until the first Serve
	drainErr    error              // Shutdown's result
	cancelDrain context.CancelFunc // ends a Shutdown's drain early (Close)
	closing     atomic.Bool
	done        chan struct{} // closed when Close or Shutdown has finished
}

// New returns a server that runs h. It validates the options and returns an
// error for a bad configuration (or one the engine cannot honour on this
// platform); nothing is started until Serve.
func New(h Handler, opts ...Option) (*Server, error) {
	if h == nil {
		return nil, errors.New("server: nil handler")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	if _, framed := h.(FrameHandler); o.cfg.Codec != nil && !framed {
		return nil, errors.New("server: WithCodec needs a handler that implements FrameHandler")
	}
	return &Server{h: h, opts: o, done: make(chan struct{})}, nil
}

// Serve accepts connections on ln until Close or Shutdown and returns
// ErrServerClosed, or the error that stopped a loop. The server owns ln
// from then on, also when Serve returns an error. Serve may be called for
// several listeners; each call blocks. Serve is Start followed by Wait.
//
// On Linux, a TCP listener made by Listen has SO_REUSEPORT set, and the
// server opens one more listener on the same address per loop so that the
// kernel spreads connections over the loops.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.Start(ln); err != nil {
		return err
	}
	return s.Wait()
}

// Start hands ln to the loops and returns once they accept on it, or with
// the reason they cannot; the server owns ln from then on. replicas are
// the other members of ln's SO_REUSEPORT group, handed over by the
// process this one replaces (its ListenerFiles): with them the restart
// resets no connection that waits in a listener (loop.Group.Adopt). Start
// returns ErrServerClosed after Close or Shutdown.
func (s *Server) Start(ln net.Listener, replicas ...net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		for _, r := range replicas {
			r.Close()
		}
		return ErrServerClosed
	}
	if s.g == nil {
		g, err := loop.NewGroup(s.h, s.opts.cfg)
		if err != nil {
			s.mu.Unlock()
			ln.Close()
			for _, r := range replicas {
				r.Close()
			}
			return err
		}
		s.g = g
	}
	g := s.g
	s.mu.Unlock()
	if err := g.Adopt(ln, replicas...); err != nil {
		if s.closing.Load() {
			// Close or Shutdown came while the listener was being handed
			// to the loops, which refused it as stopping.
			return ErrServerClosed
		}
		return err
	}
	return nil
}

// Wait blocks until Close or Shutdown, and returns ErrServerClosed, or
// until a loop fails, and then closes the server and returns the error.
func (s *Server) Wait() error {
	s.mu.Lock()
	g := s.g
	s.mu.Unlock()
	var failed <-chan struct{}
	if g != nil {
		failed = g.Failed()
	}
	select {
	case <-s.done:
		return ErrServerClosed
	case <-failed:
		s.Close()
		return g.Err()
	}
}

// ListenerFiles returns a duplicate of every socket the server accepts on,
// for a new process that takes over (a zero-downtime restart; package
// serve does it with tableflip): that process passes the files of one
// address to Start as a listener and its replicas. The caller closes the
// files.
func (s *Server) ListenerFiles() ([]*os.File, error) {
	s.mu.Lock()
	g := s.g
	s.mu.Unlock()
	if g == nil {
		return nil, errors.New("server: not serving")
	}
	return g.ListenerFiles()
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
// returns ErrServerClosed. During a Shutdown, Close ends the drain at once
// (Shutdown then returns context.Canceled). Close is idempotent and
// always returns nil; the error is there for io.Closer.
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
	g := s.g
	s.mu.Unlock()
	var err error
	if g != nil {
		err = g.Drain(ctx)
	}
	s.stop(err)
	return err
}

// stop stops the loops and releases Serve and every waiter.
func (s *Server) stop(drainErr error) {
	s.mu.Lock()
	g := s.g
	s.drainErr = drainErr
	s.mu.Unlock()
	if g != nil {
		g.Stop()
	}
	close(s.done)
}

// group returns the loop group, nil before the first Serve.
func (s *Server) group() *loop.Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.g
}

// Listen opens a listener for Serve. For TCP on Linux it sets SO_REUSEPORT so
// that Serve can give every loop a listener of its own.
func Listen(network, address string) (net.Listener, error) {
	lc := net.ListenConfig{Control: listenControl(network)}
	return lc.Listen(context.Background(), network, address)
}

// Health reports whether the server's event loops are turning: every loop
// must run a no-op task before ctx ends. A loop blocked by a handler fails
// it. It is the liveness check behind the admin server's /healthz. Safe for
// concurrent use.
func (s *Server) Health(ctx context.Context) error {
	if g := s.group(); g != nil {
		return g.Health(ctx)
	}
	return nil
}

// CodecName returns the name of the codec attached with WithCodec, or "".
func (s *Server) CodecName() string {
	if s.opts.cfg.Codec == nil {
		return ""
	}
	return s.opts.cfg.Codec.Name()
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	if g := s.group(); g != nil {
		return g.Stats()
	}
	return Stats{}
}

// Throttle pauses (on) or resumes (off) accepting and reading on every
// connection of every loop, so that TCP pushes back on all senders while
// memory is short. Writing goes on: queues drain. It is the memory
// governor's first step and is safe for concurrent use; the change reaches
// each loop through its task queue.
func (s *Server) Throttle(on bool) {
	if g := s.group(); g != nil {
		g.Throttle(on)
	}
}

// ShedSlowConsumers closes the connections holding the most outbound bytes,
// largest first (only those holding at least the low watermark), until at
// least target bytes are freed (or none is left holding any), with
// ErrSlowConsumer as the reason. It returns how many it closed and the bytes
// they held. It is the memory governor's step at the hard mark. Safe for
// concurrent use.
func (s *Server) ShedSlowConsumers(ctx context.Context, target int64) (closed int, freed int64) {
	if g := s.group(); g != nil {
		return g.ShedSlowConsumers(ctx, target)
	}
	return 0, 0
}

// ShedStalledConsumers closes, with ErrSlowConsumer as the reason, every
// connection holding at least 64 KiB of output (or the low watermark, if
// lower) that has not sent a byte for at least stalled (when stalled is
// positive): consumers that take nothing while their queues hold memory.
// It returns how many it closed and the bytes they held. The memory
// governor calls it while it throttles. Safe for concurrent use.
func (s *Server) ShedStalledConsumers(ctx context.Context, stalled time.Duration) (closed int, freed int64) {
	if g := s.group(); g != nil {
		return g.ShedStalledConsumers(ctx, stalled)
	}
	return 0, 0
}

// SetMemoryBudget sets the memory budget (WithMemoryBudget; 0: none), also
// while serving. The memory governor calls it with a share of the
// container's limit. Safe for concurrent use.
func (s *Server) SetMemoryBudget(bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.cfg.MemoryBudget = max(bytes, 0)
	if s.g != nil {
		s.g.SetMemoryBudget(bytes)
	}
}

// OutboundBytes returns the output queued on all connections and not yet
// sent: Stats().OutboundBytes, without the rest of the snapshot (a few
// atomic loads). Safe for concurrent use.
func (s *Server) OutboundBytes() int64 {
	if g := s.group(); g != nil {
		return g.OutboundBytes()
	}
	return 0
}
