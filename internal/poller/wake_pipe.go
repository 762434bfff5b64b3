//go:build netbsd || openbsd

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// waker wakes a kqueue through a non-blocking pipe, for kernels without
// EVFILT_USER.
type waker struct{ r, w int }

func (wk *waker) open(kq int) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	wk.r, wk.w = p[0], p[1]
	var k unix.Kevent_t
	unix.SetKevent(&k, wk.r, unix.EVFILT_READ, unix.EV_ADD)
	if _, err := unix.Kevent(kq, []unix.Kevent_t{k}, nil, nil); err != nil {
		wk.close()
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

func (wk *waker) is(e *unix.Kevent_t) bool {
	return int(e.Filter) == unix.EVFILT_READ && int(e.Ident) == wk.r
}

func (wk *waker) consume() {
	var buf [64]byte
	for {
		if n, err := unix.Read(wk.r, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

func (wk *waker) trigger(int) error {
	for {
		_, err := unix.Write(wk.w, []byte{1})
		switch err {
		case nil, unix.EAGAIN:
			return nil
		case unix.EINTR:
			continue
		default:
			return os.NewSyscallError("write", err)
		}
	}
}

func (wk *waker) close() {
	unix.Close(wk.r)
	unix.Close(wk.w)
}
