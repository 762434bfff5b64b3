package loop

import (
	"errors"
	"net"
	"net/netip"
	"os"

	"github.com/shoalnet/shoal/internal/poller"
)

// The loops and the connection state machine are written once. What differs
// between the engines is only how bytes move: through the kernel's sockets
// with epoll or kqueue (transport_poll.go), or through std net with a
// reader and a writer goroutine per connection (transport_portable.go),
// which makes a net.Conn look like a non-blocking socket with
// level-triggered readiness. Both speak the small vocabulary below.

// errAgain is a transport's EAGAIN: nothing to read or accept, or no room
// to write, right now; readiness will be reported when there is.
var errAgain = errors.New("loop: would block")

// netsys is the socket layer of one server: it opens each loop's
// transport, adopts listeners and, at the end, releases what is left.
type netsys interface {
	// transport opens the transport of loop i.
	transport(i int) (transport, error)
	// adopt takes lns over (the server owns them from then on): one
	// listener, or the members of one SO_REUSEPORT group that an earlier
	// process handed over. It returns the listeners to serve; listeners[i]
	// is served by loop i%loops, and one with spread set hands its
	// connections to all loops.
	adopt(lns []net.Listener, loops int) ([]*listener, error)
	// stop closes whatever is still open and waits for the goroutines of
	// the socket layer. It runs after every loop has exited.
	stop()
	// held returns the bytes the socket layer itself holds in process
	// memory (the portable engine's read and write buffers; 0 for the
	// kernel's), which count against the memory budget.
	held() int64
}

// transport is one loop's view of the socket layer: a readiness poller
// and non-blocking operations on descriptors. Descriptors are small
// integers (file descriptors, or the portable engine's ids). Only wake is
// safe for concurrent use; everything else is called by the loop goroutine.
type transport interface {
	// run waits for events and hands each batch to round, as poller.Run.
	run(first int, round func(n int) (next int, stop bool)) error
	// event returns the descriptor and conditions of the i-th event of the
	// current batch; a wake-up is poller.WakeFD.
	event(i int) (fd int, ev poller.Events)
	// wake makes the loop's wait return.
	wake() error
	// add registers fd with the given interest; mod changes it.
	add(fd int, in poller.Interest) error
	mod(fd int, in poller.Interest) error
	// closePoller releases the poller.
	closePoller() error

	// accept takes a pending connection from the listener lfd: errAgain
	// when there is none.
	accept(lfd int) (fd int, peer any, err error)
	// configure applies the socket options to an accepted connection.
	configure(fd int, tcp bool) error
	// read reads into p: (0, nil) at the peer's FIN, errAgain when empty.
	read(fd int, p []byte) (int, error)
	// writev writes bufs: errAgain, or fewer bytes than asked, when full.
	writev(fd int, bufs [][]byte) (int, error)
	// shutdownWrite sends FIN after what has been written.
	shutdownWrite(fd int)
	// close closes fd; what was written before is still sent.
	close(fd int)
	// sockErr returns the pending error of fd, or nil.
	sockErr(fd int) error
	// localAddr returns fd's local address.
	localAddr(fd int) net.Addr
	// remoteAddr and peerIP describe the peer returned by accept.
	remoteAddr(peer any) net.Addr
	peerIP(peer any) netip.Addr
	// temporary reports whether an accept error should be retried after
	// a pause (out of descriptors, buffers) rather than reported.
	temporary(err error) bool
	// file returns a duplicate of the listener lfd, to hand to another
	// process.
	file(lfd int) (*os.File, error)
	// closeListener closes the listener lfd and returns a connection it
	// had already taken from the kernel when it closed (fd -1: none),
	// which the caller serves: closing it would reset a connection the
	// peer sees as established.
	closeListener(lfd int) (fd int, peer any)
}

// listener is a listening socket registered with one loop.
type listener struct {
	fd     int
	tcp    bool
	local  net.Addr // nil for wildcard addresses: ask the transport per connection
	spread bool     // hand connections to other loops (single acceptor)

	// Owned by the loop goroutine.
	paused  bool  // accepting paused after an error (EMFILE, ...)
	backoff timer // ends the pause
}
