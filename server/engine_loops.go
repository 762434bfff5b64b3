//go:build unix

package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shoalnet/shoal/internal/sock"
)

// listenBacklog is the backlog of the extra SO_REUSEPORT listeners.
const listenBacklog = 4096

// loopEngine runs one eventLoop per configured loop.
type loopEngine struct {
	s     *Server
	loops []*eventLoop
	wg    sync.WaitGroup
	rr    atomic.Uint32
	sopts sock.Options

	mu      sync.Mutex    // guards unlinks
	unlinks []string      // Unix socket paths to remove on close
	stop    chan struct{} // closed by close: stops the watchdog
}

func newLoopEngine(s *Server) (*loopEngine, error) {
	e := &loopEngine{s: s, stop: make(chan struct{}), sopts: sock.Options{
		NoDelay:   s.opts.noDelay,
		KeepAlive: s.opts.keepAlive,
		SndBuf:    s.opts.sndBuf,
		RcvBuf:    s.opts.rcvBuf,
	}}
	for i := range s.opts.loops {
		l, err := newEventLoop(e, i)
		if err != nil {
			for _, l := range e.loops {
				l.p.Close()
			}
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	if d := s.opts.stallAfter; d > 0 {
		e.wg.Go(func() { e.watchdog(d, e.stop) })
	}
	for _, l := range e.loops {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := l.run(); err != nil {
				s.fail(fmt.Errorf("server: loop %d: %w", l.idx, err))
			}
		}()
	}
	return e, nil
}

// serve takes over ln's descriptor. With SO_REUSEPORT on a TCP listener
// (Linux) every loop gets a listener of its own; otherwise loop 0 accepts
// and spreads connections over all loops.
func (e *loopEngine) serve(ln net.Listener) error {
	fd, err := sock.Dup(ln)
	if err != nil {
		ln.Close()
		return fmt.Errorf("%w: %w", ErrUnsupportedListener, err)
	}
	addr := ln.Addr()
	tcp := strings.HasPrefix(addr.Network(), "tcp")
	if ul, ok := ln.(*net.UnixListener); ok {
		// Our duplicate keeps the socket; the path goes when the server closes.
		ul.SetUnlinkOnClose(false)
		e.mu.Lock()
		e.unlinks = append(e.unlinks, addr.String())
		e.mu.Unlock()
	}
	ln.Close()

	local := addr
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		local = nil // each connection asks the kernel
	}
	if tcp && e.s.opts.reusePort && reusePortBalances && len(e.loops) > 1 && sock.ReusePort(fd) {
		fds := []int{fd}
		for range len(e.loops) - 1 {
			rfd, err := sock.ListenReplica(addr.(*net.TCPAddr), listenBacklog)
			if err != nil {
				for _, fd := range fds {
					sock.Close(fd)
				}
				return err
			}
			fds = append(fds, rfd)
		}
		for i, l := range e.loops {
			if err := l.addListener(&listener{fd: fds[i], tcp: tcp, local: local}); err != nil {
				for _, fd := range fds[i:] {
					sock.Close(fd)
				}
				return err
			}
		}
		return nil
	}
	if err := e.loops[0].addListener(&listener{fd: fd, tcp: tcp, local: local, spread: len(e.loops) > 1}); err != nil {
		sock.Close(fd)
		return err
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
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.unlinks {
		os.Remove(p)
	}
	e.unlinks = nil
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
