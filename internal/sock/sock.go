//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

// Package sock holds the socket system calls of the event-loop engine:
// listening sockets, accept, socket options, address conversion and
// non-blocking reads and writes. Nothing here allocates per call except
// where the kernel hands back an address.
package sock

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotSocket is returned by Dup for a listener that has no descriptor.
var ErrNotSocket = errors.New("sock: listener has no file descriptor")

// Dup duplicates the descriptor of a std listener as a non-blocking,
// close-on-exec descriptor owned by the caller.
func Dup(ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, ErrNotSocket
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd, derr := -1, error(nil)
	if err := raw.Control(func(fd uintptr) {
		nfd, derr = unix.Dup(int(fd))
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("dup", derr)
	}
	unix.CloseOnExec(nfd)
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("setnonblock", err)
	}
	return nfd, nil
}

// File returns a duplicate of the socket fd as a file (close-on-exec),
// e.g. to pass a listener to another process.
func File(fd int) (*os.File, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(nfd), "socket"), nil
}

// ReusePort reports whether the listener's socket has SO_REUSEPORT set.
func ReusePort(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT)
	return err == nil && v != 0
}

// SetReusePort is a net.ListenConfig Control function that sets SO_REUSEADDR
// and SO_REUSEPORT before bind.
func SetReusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}

// ListenReplica opens another non-blocking TCP listening socket with
// SO_REUSEPORT bound to addr, so the kernel spreads connections over all of
// them.
func ListenReplica(addr *net.TCPAddr, backlog int) (int, error) {
	sa, family := ToSockaddr(addr)
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	unix.CloseOnExec(fd)
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("listen tcp %s: %w", addr, os.NewSyscallError(op, err))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail("setnonblock", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fail("setsockopt", err)
	}
	if family == unix.AF_INET6 {
		// Match Go's listeners: a wildcard IPv6 listener accepts IPv4 too.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// ToSockaddr converts a TCP address to a socket address and its family.
func ToSockaddr(a *net.TCPAddr) (unix.Sockaddr, int) {
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	if a.Zone != "" {
		if ifi, err := net.InterfaceByName(a.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6
}

// Addr converts a socket address to a net.Addr. It allocates; call it only
// when an address is asked for.
func Addr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: sa.Port}
	case *unix.SockaddrInet6:
		a := &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// LocalAddr returns the local address of fd.
func LocalAddr(fd int) net.Addr {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	return Addr(sa)
}

// Options are the per-connection socket options applied after accept.
type Options struct {
	NoDelay   bool
	KeepAlive time.Duration // 0: leave the system default; <0: disable
	SndBuf    int           // 0: system default
	RcvBuf    int           // 0: system default
}

// Apply sets the options on an accepted TCP socket. Unix sockets ignore the
// TCP-only options.
func (o *Options) Apply(fd int, tcp bool) error {
	if tcp && o.NoDelay {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return os.NewSyscallError("setsockopt TCP_NODELAY", err)
		}
	}
	if tcp && o.KeepAlive != 0 {
		if err := setKeepAlive(fd, o.KeepAlive); err != nil {
			return err
		}
	}
	if o.SndBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.SndBuf); err != nil {
			return os.NewSyscallError("setsockopt SO_SNDBUF", err)
		}
	}
	if o.RcvBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.RcvBuf); err != nil {
			return os.NewSyscallError("setsockopt SO_RCVBUF", err)
		}
	}
	return nil
}

func setKeepAlive(fd int, d time.Duration) error {
	if d < 0 {
		return os.NewSyscallError("setsockopt SO_KEEPALIVE", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return os.NewSyscallError("setsockopt SO_KEEPALIVE", err)
	}
	secs := int((d + time.Second - 1) / time.Second)
	return os.NewSyscallError("setsockopt keepalive period", setKeepAlivePeriod(fd, secs))
}

// IsTemporary reports whether an accept error should be retried later
// rather than treated as the end of the listener.
func IsTemporary(err error) bool {
	switch err {
	case unix.EAGAIN, unix.EINTR, unix.ECONNABORTED, unix.EPROTO,
		unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		return true
	}
	return false
}

// Close closes fd.
func Close(fd int) error { return unix.Close(fd) }

// Shutdown half-closes fd: how is unix.SHUT_WR, SHUT_RD or SHUT_RDWR.
func Shutdown(fd, how int) error { return unix.Shutdown(fd, how) }

// IP returns the IP of an Internet socket address (IPv4-mapped addresses
// unmapped), or the zero Addr for other kinds. It does not allocate.
func IP(sa unix.Sockaddr) netip.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

// Err returns the pending error of a socket (SO_ERROR), or nil.
func Err(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if v != 0 {
		return os.NewSyscallError("socket", unix.Errno(v))
	}
	return nil
}
