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
	park     func(uintptr) bool
	n        int        // result of the last parked wait
	errno    unix.Errno // error of the last parked wait
	deadline bool       // a read deadline is set on file
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
	p.park = func(uintptr) bool {
		p.n, p.errno = p.rawWait()
		return p.n != 0 || (p.errno != 0 && p.errno != unix.EINTR)
	}
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

// Wait waits up to msec milliseconds (-1: forever, 0: do not block) and
// returns how many events Event can report. EINTR returns 0 events and no
// error. A zero timeout polls with a raw system call (it cannot block, so
// the scheduler need not know); otherwise the loop goroutine parks in the
// runtime's netpoller until epfd is readable or the timeout passes.
func (p *Poller) Wait(msec int) (int, error) {
	if msec == 0 {
		return result(p.rawWait())
	}
	if msec > 0 {
		p.file.SetReadDeadline(time.Now().Add(time.Duration(msec) * time.Millisecond))
		p.deadline = true
	} else if p.deadline {
		p.file.SetReadDeadline(time.Time{})
		p.deadline = false
	}
	if err := p.rc.Read(p.park); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil
		}
		return 0, err
	}
	return result(p.n, p.errno)
}

func (p *Poller) rawWait() (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
	return int(r), e
}

func result(n int, errno unix.Errno) (int, error) {
	switch errno {
	case 0:
		return n, nil
	case unix.EINTR:
		return 0, nil
	}
	return 0, os.NewSyscallError("epoll_wait", errno)
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
