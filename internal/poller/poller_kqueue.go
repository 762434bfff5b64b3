//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Poller is a kqueue instance plus a wake-up source (EVFILT_USER where the
// kernel has it, a pipe elsewhere).
type Poller struct {
	kq     int
	edge   bool
	waking atomic.Uint32 // 1 while a wake-up is pending; de-duplicates Wake
	wake   waker
	events []unix.Kevent_t
	chg    [2]unix.Kevent_t
}

// Open creates a poller. With edge set, filters are registered with EV_CLEAR
// and the caller must read and write until EAGAIN. maxEvents bounds how many
// events one Wait returns.
func Open(edge bool, maxEvents int) (*Poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	unix.CloseOnExec(kq)
	if maxEvents <= 0 {
		maxEvents = 128
	}
	p := &Poller{kq: kq, edge: edge, events: make([]unix.Kevent_t, maxEvents)}
	if err := p.wake.open(kq); err != nil {
		unix.Close(kq)
		return nil, err
	}
	return p, nil
}

func (p *Poller) filter(k *unix.Kevent_t, fd, filter int, on bool) {
	flags := unix.EV_ADD | unix.EV_DISABLE
	if on {
		flags = unix.EV_ADD | unix.EV_ENABLE
	}
	if p.edge {
		flags |= unix.EV_CLEAR
	}
	unix.SetKevent(k, fd, filter, flags)
}

func (p *Poller) apply(fd int, in Interest) error {
	p.filter(&p.chg[0], fd, unix.EVFILT_READ, in&InterestRead != 0)
	p.filter(&p.chg[1], fd, unix.EVFILT_WRITE, in&InterestWrite != 0)
	for {
		_, err := unix.Kevent(p.kq, p.chg[:], nil, nil)
		if err != unix.EINTR {
			return os.NewSyscallError("kevent", err)
		}
	}
}

// Add registers fd with the given interest.
func (p *Poller) Add(fd int, in Interest) error { return p.apply(fd, in) }

// Mod changes the interest of a registered fd.
func (p *Poller) Mod(fd int, in Interest) error { return p.apply(fd, in) }

// Del removes fd from the poller. Closing the descriptor removes its filters
// too; Del exists so that a descriptor can leave one loop for another.
func (p *Poller) Del(fd int) error {
	unix.SetKevent(&p.chg[0], fd, unix.EVFILT_READ, unix.EV_DELETE)
	unix.SetKevent(&p.chg[1], fd, unix.EVFILT_WRITE, unix.EV_DELETE)
	_, err := unix.Kevent(p.kq, p.chg[:], nil, nil)
	if err == unix.ENOENT {
		err = nil
	}
	return os.NewSyscallError("kevent", err)
}

// Wait waits up to msec milliseconds (-1: forever, 0: do not block) and
// returns how many events Event can report. EINTR returns 0 events.
func (p *Poller) Wait(msec int) (int, error) {
	var ts *unix.Timespec
	if msec >= 0 {
		t := unix.NsecToTimespec(int64(msec) * 1e6)
		ts = &t
	}
	n, err := unix.Kevent(p.kq, nil, p.events, ts)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, os.NewSyscallError("kevent", err)
	}
	return n, nil
}

// Event returns the descriptor and conditions of the i-th event of the last
// Wait. A wake-up is reported as WakeFD; it has already been consumed.
func (p *Poller) Event(i int) (fd int, ev Events) {
	e := &p.events[i]
	if p.wake.is(e) {
		p.wake.consume()
		p.waking.Store(0)
		return WakeFD, 0
	}
	switch int(e.Filter) {
	case unix.EVFILT_READ:
		ev = Readable // with EV_EOF too: a read returns the FIN (0) or the error
	case unix.EVFILT_WRITE:
		ev = Writable
		if int(e.Flags)&unix.EV_EOF != 0 {
			ev |= Hangup // the peer can no longer receive
		}
	}
	if int(e.Flags)&unix.EV_ERROR != 0 {
		ev |= Error
	}
	return int(e.Ident), ev
}

// Wake makes a blocked or the next Wait return. Concurrent calls collapse into
// one trigger until the loop has consumed the wake-up.
func (p *Poller) Wake() error {
	if !p.waking.CompareAndSwap(0, 1) {
		return nil
	}
	if err := p.wake.trigger(p.kq); err != nil {
		p.waking.Store(0)
		return err
	}
	return nil
}

// Close releases the kqueue and the wake-up source.
func (p *Poller) Close() error {
	p.wake.close()
	return os.NewSyscallError("close", unix.Close(p.kq))
}
