//go:build linux

package poller

import (
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller is an epoll instance plus an eventfd used for wake-ups.
type Poller struct {
	epfd   int
	wakefd int
	edge   bool
	// A wake-up: Wake sets pending and writes the eventfd only if the
	// loop is, or is about to be, blocked in epoll_wait (sleeping). The
	// loop sets sleeping before it checks pending and blocks, Wake sets
	// pending before it checks sleeping (sequentially consistent
	// atomics), so one of them sees the other: a loop that is busy gets
	// its wake-ups without a system call on either side.
	pending  atomic.Uint32
	sleeping atomic.Uint32
	events   []unix.EpollEvent
	wakeBuf  [8]byte
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
	// One more event than asked for: room for a wake-up that came without
	// an eventfd write (see Wait).
	return &Poller{epfd: epfd, wakefd: wfd, edge: edge, events: make([]unix.EpollEvent, maxEvents+1)}, nil
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
// returns how many events Event can report; EINTR returns 0 events and no
// error.
//
// It polls first with a raw system call, which cannot block, so the
// scheduler need not know. Only when nothing is ready and it may wait does
// it yield (so that goroutines the last round made runnable run before the
// loop's thread sleeps) and then block in epoll_wait as a system call the
// runtime accounts for, which lets another thread take the loop's P if the
// wait lasts. The kernel then wakes the loop's own thread when an event
// arrives. Parking the goroutine in the runtime's netpoller instead costs
// the same here, but one netpoller wake-up can make several loops runnable
// at once, and every loop past the first then waits for another thread to
// be scheduled: on a busy machine that doubled the p99.9 latency of echo.
//
// A wake-up that came while the loop was not blocked is reported as a
// WakeFD event after the others.
func (p *Poller) Wait(msec int) (int, error) {
	n, e := p.rawWait()
	if (e == 0 && n > 0) || msec == 0 {
		return p.withWake(result(n, e))
	}
	runtime.Gosched()
	p.sleeping.Store(1)
	if p.pending.Load() != 0 {
		p.sleeping.Store(0)
		return p.withWake(result(p.rawWait()))
	}
	n, err := unix.EpollWait(p.epfd, p.events[:len(p.events)-1], msec)
	p.sleeping.Store(0)
	switch err {
	case nil:
	case unix.EINTR:
		n = 0
	default:
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	return p.withWake(n, nil)
}

// withWake adds a pending wake-up to the n events of a wait as a WakeFD
// event, in the slot kept for it.
func (p *Poller) withWake(n int, err error) (int, error) {
	if err == nil && p.pending.Load() != 0 && p.pending.Swap(0) != 0 {
		p.events[n] = unix.EpollEvent{Fd: -1}
		n++
	}
	return n, err
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

func (p *Poller) rawWait() (int, unix.Errno) {
	// epoll_pwait with no signal mask is epoll_wait, and it exists on
	// every architecture (arm64 and loong64 have no epoll_wait).
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)-1), 0, 0, 0)
	return int(r), e
}

// Event returns the descriptor and conditions of the i-th event of the last
// Wait. A wake-up is reported as WakeFD; it has already been consumed.
func (p *Poller) Event(i int) (fd int, ev Events) {
	e := &p.events[i]
	switch int(e.Fd) {
	case p.wakefd: // the eventfd was written: reset it
		unix.RawSyscall(unix.SYS_READ, uintptr(p.wakefd), uintptr(unsafe.Pointer(&p.wakeBuf[0])), 8)
		return WakeFD, 0
	case -1: // withWake's
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
	if p.pending.Swap(1) != 0 || p.sleeping.Load() == 0 {
		return nil // a wake-up is pending, or the loop will see it before it blocks
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
			return os.NewSyscallError("eventfd write", e)
		}
	}
}

// Close releases the epoll instance and the eventfd.
func (p *Poller) Close() error {
	unix.Close(p.wakefd)
	return os.NewSyscallError("close", unix.Close(p.epfd))
}
