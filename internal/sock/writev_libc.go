//go:build darwin || openbsd

package sock

import "golang.org/x/sys/unix"

// Writev writes bufs with one writev call (at most 1024 buffers).
func Writev(fd int, bufs [][]byte, _ *[]unix.Iovec) (int, error) {
	if len(bufs) > 1024 {
		bufs = bufs[:1024]
	}
	for {
		n, err := unix.Writev(fd, bufs)
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}
