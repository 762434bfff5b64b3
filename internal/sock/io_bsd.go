//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package sock

import "golang.org/x/sys/unix"

// Read reads from a non-blocking fd. It returns unix.EAGAIN when nothing is
// there and (0, nil) at end of stream.
func Read(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// Write writes to a non-blocking fd and returns unix.EAGAIN when the send
// buffer is full.
func Write(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}
