//go:build (linux && 386) || freebsd || dragonfly

package sock

import "golang.org/x/sys/unix"

// Accept accepts a connection as a non-blocking, close-on-exec descriptor.
func Accept(fd int) (int, unix.Sockaddr, error) {
	for {
		nfd, sa, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != unix.EINTR {
			return nfd, sa, err
		}
	}
}
