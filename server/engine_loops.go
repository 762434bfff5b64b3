package server

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

// loopEngine runs one eventLoop per configured loop over a socket layer:
// the kernel's with epoll or kqueue, or the portable one.
type loopEngine struct {
	s     *Server
	sys   netsys
	loops []*eventLoop
	wg    sync.WaitGroup
	rr    atomic.Uint32
	stop  chan struct{} // closed by close: stops the watchdog
}

// newNetsys picks the socket layer for the options.
func newNetsys(o *options) (netsys, error) {
	switch {
	case o.engine == EnginePortable || (o.engine == EngineAuto && !hasPoller):
		if o.edge {
			return nil, fmt.Errorf("server: the portable engine has no edge-triggered mode")
		}
		if o.reusePortSet && o.reusePort {
			return nil, fmt.Errorf("server: the portable engine cannot use SO_REUSEPORT listeners")
		}
		return newPortableNet(o), nil
	case !hasPoller:
		return nil, fmt.Errorf("server: the event-loop engine is not available on %s", runtime.GOOS)
	}
	return newPollNet(o), nil
}

func newLoopEngine(s *Server) (*loopEngine, error) {
	sys, err := newNetsys(&s.opts)
	if err != nil {
		return nil, err
	}
	e := &loopEngine{s: s, sys: sys, stop: make(chan struct{})}
	for i := range s.opts.loops {
		l, err := newEventLoop(e, i)
		if err != nil {
			for _, l := range e.loops {
				l.t.closePoller()
			}
			sys.stop()
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	if d := s.opts.stallAfter; d > 0 {
		e.wg.Go(func() { e.watchdog(d, e.stop) })
	}
	for _, l := range e.loops {
		e.wg.Go(func() {
			if err := l.run(); err != nil {
				s.fail(fmt.Errorf("server: loop %d: %w", l.idx, err))
			}
		})
	}
	return e, nil
}

// serve hands ln's listeners to the loops.
func (e *loopEngine) serve(ln net.Listener) error {
	lns, err := e.sys.adopt(ln, len(e.loops))
	if err != nil {
		return err
	}
	for i, l := range lns {
		if err := e.loops[i].addListener(l); err != nil {
			for _, l := range lns[i:] {
				e.loops[i].t.close(l.fd)
			}
			return err
		}
	}
	return nil
}

// pick chooses the loop for a connection accepted by a spreading listener.
func (e *loopEngine) pick() *eventLoop {
	if e.s.opts.balance == LeastConnections {
		best := e.loops[0]
		for _, l := range e.loops[1:] {
			if l.cnt.conns.Load() < best.cnt.conns.Load() {
				best = l
			}
		}
		return best
	}
	return e.loops[int(e.rr.Add(1)-1)%len(e.loops)]
}

func (e *loopEngine) close() {
	close(e.stop)
	for _, l := range e.loops {
		l.requestStop()
	}
	e.wg.Wait()
	e.sys.stop()
}

func (e *loopEngine) stats(st *Stats) {
	for _, l := range e.loops {
		st.Loops = append(st.Loops, l.cnt.snapshot())
	}
}

// drain runs a graceful shutdown over every loop; see Server.Shutdown.
func (e *loopEngine) drain(ctx context.Context) error {
	dones := make([]chan struct{}, len(e.loops))
	for i, l := range e.loops {
		dones[i] = make(chan struct{})
		l.requestDrain(dones[i])
	}
	for _, done := range dones {
		select {
		case <-done:
		case <-ctx.Done():
			for _, l := range e.loops {
				l.requestForce()
			}
			for _, done := range dones {
				<-done
			}
			return ctx.Err()
		}
	}
	return nil
}
