//go:build linux && !386

package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Accepter accepts connections into an address buffer it reuses, so that
// an accept allocates nothing but the peer's address: unix.Accept4 makes
// a fresh 112-byte raw address each time, garbage that a burst of
// connections turns into a heap the GC lets grow to twice what is live.
// One per loop; not safe for concurrent use.
type Accepter struct {
	rsa unix.RawSockaddrAny
	n   uint32
}

// accepterReuses says that an accept allocates only the peer's address.
const accepterReuses = true

// Accept accepts a connection as a non-blocking, close-on-exec descriptor.
func (a *Accepter) Accept(fd int) (int, unix.Sockaddr, error) {
	for {
		a.n = unix.SizeofSockaddrAny
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&a.rsa)),
			uintptr(unsafe.Pointer(&a.n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			return int(r), a.peer(int(r)), nil
		case unix.EINTR:
			continue
		}
		return -1, nil, e
	}
}

// peer decodes the accepted address. Internet addresses, the hot case,
// are read here; any other family is asked of the kernel again, as
// x/sys decodes it.
func (a *Accepter) peer(fd int) unix.Sockaddr {
	switch a.rsa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.rsa))
		return &unix.SockaddrInet4{Port: netPort(&p.Port), Addr: p.Addr}
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.rsa))
		return &unix.SockaddrInet6{Port: netPort(&p.Port), ZoneId: p.Scope_id, Addr: p.Addr}
	}
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return &unix.SockaddrUnix{} // an unnamed peer, as accept reports one
	}
	return sa
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(p))
	return int(b[0])<<8 | int(b[1])
}
