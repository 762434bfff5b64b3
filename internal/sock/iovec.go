//go:build linux || freebsd || netbsd || dragonfly

package sock

import "golang.org/x/sys/unix"

// maxIovec bounds one writev; POSIX guarantees at least 1024 (IOV_MAX).
const maxIovec = 1024

func fillIovec(bufs [][]byte, iov *[]unix.Iovec) []unix.Iovec {
	v := (*iov)[:0]
	for _, b := range bufs {
		if len(v) == maxIovec {
			break
		}
		if len(b) == 0 {
			continue
		}
		var e unix.Iovec
		e.Base = &b[0]
		e.SetLen(len(b))
		v = append(v, e)
	}
	*iov = v
	return v
}
