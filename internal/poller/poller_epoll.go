//go:build linux

package poller

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller is an epoll instance plus an eventfd used for wake-ups.
type Poller struct {
	epfd     int
	wakefd   int
	edge     bool
	waking   atomic.Uint32 // 1 while a wake-up is pending; de-duplicates Wake
	events   []unix.EpollEvent
	wakeBuf  [8]byte
	file     *os.File        // epfd, registered with the Go runtime's netpoller
	rc       syscall.RawConn // parks the loop goroutine until epfd is readable
	deadline bool            // a read deadline is set on file
}

// Open creates a poller. With edge set, descriptors are registered
// edge-triggered (EPOLLET) and the caller must read and write until EAGAIN.
// maxEvents bounds how many events one Wait returns.
func Open(edge bool, maxEvents int) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(wfd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	if maxEvents <= 0 {
		maxEvents = 128
	}
	p := &Poller{epfd: epfd, wakefd: wfd, edge: edge, events: make([]unix.EpollEvent, maxEvents)}
	// A blocking epoll_wait would hold the loop's P (and keep sysmon busy
	// retaking it). Instead the epoll fd itself is registered with the
	// runtime's netpoller: an epoll fd is readable when it has events, so the
	// loop goroutine parks there like any goroutine waiting on a socket, and
	// its thread serves other goroutines meanwhile.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(wfd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	p.file = os.NewFile(uintptr(epfd), "epoll")
	rc, err := p.file.SyscallConn()
	if err != nil {
		unix.Close(wfd)
		p.file.Close()
		return nil, err
	}
	p.rc = rc
	return p, nil
}

func (p *Poller) mask(in Interest) uint32 {
	var m uint32
	if in&InterestRead != 0 {
		m |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if in&InterestWrite != 0 {
		m |= unix.EPOLLOUT
	}
	if p.edge {
		m |= unix.EPOLLET
	}
	return m
}

// Add registers fd with the given interest.
func (p *Poller) Add(fd int, in Interest) error {
	ev := unix.EpollEvent{Events: p.mask(in), Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl add", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev))
}

// Mod changes the interest of a registered fd.
func (p *Poller) Mod(fd int, in Interest) error {
	ev := unix.EpollEvent{Events: p.mask(in), Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl mod", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev))
}

// Del removes fd from the poller.
func (p *Poller) Del(fd int) error {
	return os.NewSyscallError("epoll_ctl del", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil))
}

// Run is the loop: it polls, hands each batch of events to round (Event
// reads them) and polls again, until round says stop or the poll fails.
// round returns how long the next poll may wait: -1 forever, 0 not at all,
// or milliseconds; first is that of the first poll. Polls that find events
// are raw system calls (they cannot block, so the scheduler need not know).
// When a poll finds nothing and may wait, the loop goroutine parks in the
// runtime's netpoller until epfd is readable or the time is up, and its
// thread serves other goroutines meanwhile. A timeout calls round with 0
// events.
//
// The goroutine stays inside one RawRead while it parks and wakes, which
// lets a round that followed an empty poll park at once: the epoll fd
// raises readiness in the netpoller for every event queued after that poll
// (an interest change included), so nothing queued is missed, and an idle
// loop makes one empty poll before it sleeps instead of two.
func (p *Poller) Run(first int, round func(n int) (next int, stop bool)) error {
	next := first
	var stop bool
	var errno unix.Errno
	step := func(uintptr) bool {
		for {
			n, e := p.rawWait()
			switch e {
			case 0:
			case unix.EINTR:
				n = 0
			default:
				errno = e
				return true
			}
			if n == 0 && next != 0 {
				p.setDeadline(next)
				return false
			}
			if next, stop = round(n); stop {
				return true
			}
			if n == 0 && next != 0 {
				p.setDeadline(next)
				return false
			}
		}
	}
	for {
		err := p.rc.Read(step)
		switch {
		case errno != 0:
			return os.NewSyscallError("epoll_wait", errno)
		case stop:
			return nil
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return err
		}
		p.setDeadline(-1) // spent; a fresh RawRead polls before it parks
		if next, stop = round(0); stop {
			return nil
		}
	}
}

// Wait waits up to msec milliseconds (-1: forever, 0: do not block) and
// returns how many events Event can report; EINTR returns 0 events and no
// error. It is one round of Run.
func (p *Poller) Wait(msec int) (int, error) {
	got := 0
	err := p.Run(msec, func(n int) (int, bool) {
		got = n
		return 0, true
	})
	return got, err
}

// setDeadline bounds the next park to msec milliseconds (-1: none).
func (p *Poller) setDeadline(msec int) {
	if msec > 0 {
		p.file.SetReadDeadline(time.Now().Add(time.Duration(msec) * time.Millisecond))
		p.deadline = true
	} else if p.deadline {
		p.file.SetReadDeadline(time.Time{})
		p.deadline = false
	}
}

func (p *Poller) rawWait() (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
	return int(r), e
}

// Event returns the descriptor and conditions of the i-th event of the last
// Wait. A wake-up is reported as WakeFD; it has already been consumed.
func (p *Poller) Event(i int) (fd int, ev Events) {
	e := &p.events[i]
	if int(e.Fd) == p.wakefd {
		unix.RawSyscall(unix.SYS_READ, uintptr(p.wakefd), uintptr(unsafe.Pointer(&p.wakeBuf[0])), 8)
		p.waking.Store(0)
		return WakeFD, 0
	}
	m := e.Events
	if m&(unix.EPOLLIN|unix.EPOLLPRI|unix.EPOLLRDHUP) != 0 {
		ev |= Readable // a read returns the data, the FIN (0) or the error
	}
	if m&unix.EPOLLOUT != 0 {
		ev |= Writable
	}
	if m&unix.EPOLLHUP != 0 {
		ev |= Hangup
	}
	if m&unix.EPOLLERR != 0 {
		ev |= Error
	}
	return int(e.Fd), ev
}

// Wake makes a blocked or the next Wait return. Concurrent calls collapse into
// one eventfd write until the loop has consumed the wake-up.
func (p *Poller) Wake() error {
	if !p.waking.CompareAndSwap(0, 1) {
		return nil
	}
	one := [8]byte{1}
	for {
		_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(p.wakefd), uintptr(unsafe.Pointer(&one[0])), 8)
		switch e {
		case 0, unix.EAGAIN: // EAGAIN: the counter is saturated, a wake-up is pending anyway
			return nil
		case unix.EINTR:
			continue
		default:
			p.waking.Store(0)
			return os.NewSyscallError("eventfd write", e)
		}
	}
}

// Close releases the epoll instance and the eventfd.
func (p *Poller) Close() error {
	unix.Close(p.wakefd)
	return p.file.Close()
}
