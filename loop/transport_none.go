//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package loop

// hasPoller says whether this platform has the epoll/kqueue engine: not
// this one, which runs the portable engine only.
const hasPoller = false

func newPollNet(*Config) netsys { panic("unreachable: no poller on this platform") }
