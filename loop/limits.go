package loop

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// limiter enforces WithMaxConns and WithMaxConnsPerIP across all loops.
// It is safe for concurrent use.
type limiter struct {
	max   int64 // 0: unlimited
	perIP int   // 0: unlimited
	total atomic.Int64

	mu   sync.Mutex // guards byIP
	byIP map[netip.Addr]int
}

func newLimiter(max, perIP int) *limiter {
	l := &limiter{max: int64(max), perIP: perIP}
	if perIP > 0 {
		l.byIP = make(map[netip.Addr]int)
	}
	return l
}

// admit reserves a slot for a connection from ip, or reports that a limit
// is reached. Every admitted connection must be released.
func (l *limiter) admit(ip netip.Addr) bool {
	if n := l.total.Add(1); l.max > 0 && n > l.max {
		l.total.Add(-1)
		return false
	}
	if l.perIP > 0 && ip.IsValid() {
		l.mu.Lock()
		n := l.byIP[ip]
		if n >= l.perIP {
			l.mu.Unlock()
			l.total.Add(-1)
			return false
		}
		l.byIP[ip] = n + 1
		l.mu.Unlock()
	}
	return true
}

func (l *limiter) release(ip netip.Addr) {
	l.total.Add(-1)
	if l.perIP > 0 && ip.IsValid() {
		l.mu.Lock()
		if n := l.byIP[ip]; n <= 1 {
			delete(l.byIP, ip)
		} else {
			l.byIP[ip] = n - 1
		}
		l.mu.Unlock()
	}
}

// addrIP returns the IP of a std net address, or the zero Addr.
func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// logLimiter lets one message through per interval, for events that can
// repeat per connection or per accept. Safe for concurrent use.
type logLimiter struct {
	interval time.Duration
	last     atomic.Int64 // unix nanoseconds of the last message let through
	dropped  atomic.Int64 // messages suppressed since
}

// allow reports whether to log now, and how many were suppressed before.
func (r *logLimiter) allow() (bool, int64) {
	now := time.Now().UnixNano()
	last := r.last.Load()
	if now-last < int64(r.interval) || !r.last.CompareAndSwap(last, now) {
		r.dropped.Add(1)
		return false, 0
	}
	return true, r.dropped.Swap(0)
}
