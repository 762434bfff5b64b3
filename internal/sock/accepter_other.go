//go:build (linux && 386) || darwin || freebsd || netbsd || openbsd || dragonfly

package sock

import "golang.org/x/sys/unix"

// Accepter accepts connections (see Accept). Where the kernel is reached
// through libc or a socketcall, it makes unix.Accept4's or unix.Accept's
// allocations per accept.
type Accepter struct{}

// accepterReuses says that an accept allocates only the peer's address.
const accepterReuses = false

// Accept accepts a connection as a non-blocking, close-on-exec descriptor.
func (*Accepter) Accept(fd int) (int, unix.Sockaddr, error) { return Accept(fd) }
