//go:build darwin || freebsd || dragonfly

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// waker wakes a kqueue with an EVFILT_USER event.
type waker struct{}

const wakeIdent = 0

func (waker) open(kq int) error {
	var k unix.Kevent_t
	unix.SetKevent(&k, wakeIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	_, err := unix.Kevent(kq, []unix.Kevent_t{k}, nil, nil)
	return os.NewSyscallError("kevent", err)
}

func (waker) is(e *unix.Kevent_t) bool {
	return int(e.Filter) == unix.EVFILT_USER && e.Ident == wakeIdent
}

func (waker) consume() {}

func (waker) trigger(kq int) error {
	var k unix.Kevent_t
	unix.SetKevent(&k, wakeIdent, unix.EVFILT_USER, 0)
	k.Fflags = unix.NOTE_TRIGGER
	for {
		_, err := unix.Kevent(kq, []unix.Kevent_t{k}, nil, nil)
		if err != unix.EINTR {
			return os.NewSyscallError("kevent", err)
		}
	}
}

func (waker) close() {}
