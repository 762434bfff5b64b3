package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The descriptors passed here are non-blocking, so these calls cannot block:
// they use raw system calls and skip the scheduler's enter/exit bookkeeping.

// Read reads from a non-blocking fd. It returns unix.EAGAIN when nothing is
// there and (0, nil) at end of stream.
func Read(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == 0 {
			return int(n), nil
		}
		if e != unix.EINTR {
			return 0, e
		}
	}
}

// Write writes to a non-blocking fd and returns unix.EAGAIN when the send
// buffer is full.
func Write(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == 0 {
			return int(n), nil
		}
		if e != unix.EINTR {
			return 0, e
		}
	}
}

// Writev writes bufs with one writev call, using iov as scratch space (it
// grows as needed and is kept by the caller to avoid allocating).
func Writev(fd int, bufs [][]byte, iov *[]unix.Iovec) (int, error) {
	if len(bufs) == 1 {
		return Write(fd, bufs[0])
	}
	v := fillIovec(bufs, iov)
	if len(v) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
		if e == 0 {
			return int(n), nil
		}
		if e != unix.EINTR {
			return 0, e
		}
	}
}
