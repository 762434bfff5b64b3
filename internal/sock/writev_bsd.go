//go:build freebsd || netbsd || dragonfly

package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Writev writes bufs with one writev call, using iov as scratch space.
func Writev(fd int, bufs [][]byte, iov *[]unix.Iovec) (int, error) {
	v := fillIovec(bufs, iov)
	if len(v) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
		if e == 0 {
			return int(n), nil
		}
		if e != unix.EINTR {
			return 0, e
		}
	}
}
