//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package loop

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/shoalnet/shoal/internal/poller"
	"github.com/shoalnet/shoal/internal/sock"
)

// hasPoller says whether this platform has the epoll/kqueue engine.
const hasPoller = true

// listenBacklog is the backlog of the extra SO_REUSEPORT listeners.
const listenBacklog = 4096

// pollNet is the kernel's socket layer, driven by epoll or kqueue.
type pollNet struct {
	opts  *Config
	sopts sock.Options

	mu      sync.Mutex // guards unlinks
	unlinks []string   // Unix socket paths to remove at stop
}

func newPollNet(o *Config) *pollNet {
	return &pollNet{opts: o, sopts: sock.Options{
		NoDelay:   o.NoDelay,
		KeepAlive: o.KeepAlive,
		SndBuf:    o.SendBuffer,
		RcvBuf:    o.RecvBuffer,
	}}
}

func (n *pollNet) transport(int) (transport, error) {
	p, err := poller.Open(n.opts.EdgeTriggered, 256)
	if err != nil {
		return nil, err
	}
	return &pollTransport{p: p, sopts: &n.sopts}, nil
}

// adopt takes over the descriptors of lns. A TCP listener with
// SO_REUSEPORT (Linux) gets one more listener on its address for every
// loop that has none, so that each loop accepts its own connections;
// otherwise loop 0 accepts and spreads them over all loops.
func (n *pollNet) adopt(lns []net.Listener, loops int) ([]*listener, error) {
	addr := lns[0].Addr()
	tcp := strings.HasPrefix(addr.Network(), "tcp")
	local := addr
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		local = nil // each connection asks the kernel
	}
	var out []*listener
	fail := func(err error) ([]*listener, error) {
		for _, l := range out {
			sock.Close(l.fd)
		}
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	for _, ln := range lns {
		if ln.Addr().String() != addr.String() {
			return fail(fmt.Errorf("%w: replica on %s, not %s", ErrUnsupportedListener, ln.Addr(), addr))
		}
		fd, err := sock.Dup(ln)
		if err != nil {
			return fail(fmt.Errorf("%w: %w", ErrUnsupportedListener, err))
		}
		if ul, ok := ln.(*net.UnixListener); ok {
			// Our duplicate keeps the socket; the path goes when the server closes.
			ul.SetUnlinkOnClose(false)
			n.mu.Lock()
			n.unlinks = append(n.unlinks, addr.String())
			n.mu.Unlock()
		}
		ln.Close()
		out = append(out, &listener{fd: fd, tcp: tcp, local: local})
	}
	if !tcp || !n.opts.ReusePort || !reusePortBalances || !sock.ReusePort(out[0].fd) {
		for _, l := range out {
			l.spread = loops > len(out)
		}
		return out, nil
	}
	for len(out) < loops {
		rfd, err := sock.ListenReplica(addr.(*net.TCPAddr), listenBacklog)
		if err != nil {
			return fail(err)
		}
		out = append(out, &listener{fd: rfd, tcp: tcp, local: local})
	}
	return out, nil
}

func (n *pollNet) held() int64 { return 0 } // socket buffers are the kernel's

func (n *pollNet) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.unlinks {
		os.Remove(p)
	}
	n.unlinks = nil
}

// pollTransport is one loop's poller and the socket calls on its
// descriptors.
type pollTransport struct {
	p     *poller.Poller
	sopts *sock.Options
	iov   []unix.Iovec // writev scratch
	acc   sock.Accepter
}

func (t *pollTransport) run(first int, round func(int) (int, bool)) error {
	return t.p.Run(first, round)
}
func (t *pollTransport) event(i int) (int, poller.Events)     { return t.p.Event(i) }
func (t *pollTransport) wake() error                          { return t.p.Wake() }
func (t *pollTransport) add(fd int, in poller.Interest) error { return t.p.Add(fd, in) }
func (t *pollTransport) mod(fd int, in poller.Interest) error { return t.p.Mod(fd, in) }
func (t *pollTransport) closePoller() error                   { return t.p.Close() }
func (t *pollTransport) configure(fd int, tcp bool) error     { return t.sopts.Apply(fd, tcp) }
func (t *pollTransport) shutdownWrite(fd int)                 { sock.Shutdown(fd, unix.SHUT_WR) }
func (t *pollTransport) close(fd int)                         { sock.Close(fd) }
func (t *pollTransport) sockErr(fd int) error                 { return sock.Err(fd) }
func (t *pollTransport) localAddr(fd int) net.Addr            { return sock.LocalAddr(fd) }
func (t *pollTransport) remoteAddr(peer any) net.Addr         { return sock.Addr(peer.(unix.Sockaddr)) }
func (t *pollTransport) temporary(err error) bool             { return sock.IsTemporary(err) }
func (t *pollTransport) file(lfd int) (*os.File, error)       { return sock.File(lfd) }
func (t *pollTransport) closeListener(lfd int) (int, any)     { sock.Close(lfd); return -1, nil }
func (t *pollTransport) peerIP(peer any) netip.Addr {
	sa, _ := peer.(unix.Sockaddr)
	return sock.IP(sa)
}

func (t *pollTransport) accept(lfd int) (int, any, error) {
	fd, sa, err := t.acc.Accept(lfd)
	switch err {
	case nil:
		return fd, sa, nil
	case unix.EAGAIN, unix.ECONNABORTED, unix.EPROTO:
		// Nothing left, or the peer gave up in the backlog: level-triggered
		// polling comes back when there is more.
		return -1, nil, errAgain
	}
	return -1, nil, err
}

func (t *pollTransport) read(fd int, p []byte) (int, error) {
	n, err := sock.Read(fd, p)
	switch err {
	case nil:
		return n, nil
	case unix.EAGAIN:
		return 0, errAgain
	}
	return 0, os.NewSyscallError("read", err)
}

func (t *pollTransport) writev(fd int, bufs [][]byte) (int, error) {
	n, err := sock.Writev(fd, bufs, &t.iov)
	switch err {
	case nil:
		return n, nil
	case unix.EAGAIN:
		return 0, errAgain
	}
	return 0, os.NewSyscallError("writev", err)
}
