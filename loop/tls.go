package loop

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TLS on the loops, with crypto/tls as the Go team ships it.
//
// A connection of a group with Config.TLS is served in two phases.
//
// The handshake runs on a goroutine: crypto/tls's handshake is a blocking
// call on a net.Conn, and that net.Conn is the connection's tlsConn, whose
// Read waits for the ciphertext the loop reads and whose Write hands the
// goroutine's output to the loop (signalled like Wake). No goroutine is
// taken before the client's first record has arrived whole, and at most
// Config.MaxHandshakes run at once; the others wait in a queue, their
// input bounded by maxHandshakeInput. Config.HandshakeTimeout, on the
// loop's wheel, bounds the whole handshake, waiting included. The handler
// sees nothing of a connection until its handshake has succeeded: OnOpen
// runs then, on the loop, and a connection whose handshake fails closes
// without any callback.
//
// After the handshake the same tls.Conn is driven on the loop, never
// blocking: its net.Conn hands it the bytes of the current read and then
// reports errWouldBlock, a temporary net.Error, which crypto/tls returns
// without recording it (conn.go, readRecordOrCCS: only errors that are not
// temporary are sticky), so the next read goes on where it stopped. A
// record split across reads waits, its start in the tls.Conn's raw input,
// for the rest; several records in one read are all decrypted in that
// read. Writes encrypt at once: tls.Conn.Write seals records and its
// net.Conn queues them as the connection's output. An alert from the peer
// or a record that does not authenticate is an error from tls.Conn.Read:
// the connection closes with a TLSError (crypto/tls has queued its own
// alert, which is flushed first). The peer's close_notify is the end of
// its input (OnEOF, as a FIN is); a FIN without close_notify is the same
// at a record boundary and ErrTLSTruncated inside a record. A graceful
// close sends close_notify before its FIN.

// Defaults of the TLS settings.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxHandshakes    = 1024
)

// maxHandshakeInput bounds the ciphertext a connection buffers before its
// handshake is done: the largest TLS record with its header, and a little
// of what a client sends right behind its Finished. Reading stops there.
const maxHandshakeInput = 16<<10 + 5 + 2048

// maxHandshakeRecord is the largest first record a ClientHello may come in
// (RFC 8446 5.1: 2^14 bytes of plaintext).
const maxHandshakeRecord = 16 << 10

// tlsPlainBuffer is each loop's buffer for decrypted input: one record.
const tlsPlainBuffer = 16 << 10

var (
	// ErrTLSHandshakeTimeout closes a connection whose handshake did not
	// finish within Config.HandshakeTimeout (waiting for a slot included).
	ErrTLSHandshakeTimeout error = &timeoutError{"loop: tls: handshake timeout"}
	// ErrNotTLS closes a connection whose first bytes are not a TLS
	// handshake record (plain HTTP on a TLS port, garbage), or announce one
	// larger than a ClientHello may be. No goroutine is taken for it.
	ErrNotTLS = errors.New("loop: tls: first record is not a handshake")
	// ErrTLSTruncated closes a connection whose peer closed TCP in the
	// middle of a record.
	ErrTLSTruncated = errors.New("loop: tls: connection closed inside a record")
	// errWouldBlock is what a tlsConn reads when the loop has nothing more
	// for crypto/tls: temporary, so tls.Conn does not keep it.
	errWouldBlock net.Error = wouldBlock{}
	// errHandshakeAborted ends a handshake whose connection the loop closed.
	errHandshakeAborted = errors.New("loop: tls: connection closed during the handshake")
)

// TLSError is why a TLS connection closed: Op is "handshake" or "record"
// and Err is what crypto/tls said (an alert from the peer, a record that
// failed to authenticate, a renegotiation attempt, ...).
type TLSError struct {
	Op  string
	Err error
}

func (e *TLSError) Error() string { return "loop: tls " + e.Op + ": " + e.Err.Error() }
func (e *TLSError) Unwrap() error { return e.Err }

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "loop: tls: no more input in this read" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// tlsServer is a group's TLS: the configuration and the handshakes.
type tlsServer struct {
	cfg     *tls.Config
	timeout time.Duration
	max     int

	mu      sync.Mutex // guards active and waiting
	active  int        // goroutines running handshakes
	waiting []*tlsConn // connections whose first record is in, waiting for a goroutine
	wg      sync.WaitGroup

	handshakes atomic.Uint64 // succeeded
	failures   atomic.Uint64 // failed, timed out or abandoned
}

func newTLSServer(o *Config) *tlsServer {
	s := &tlsServer{cfg: o.TLS.Clone(), timeout: o.HandshakeTimeout, max: o.MaxHandshakes}
	if s.timeout <= 0 {
		s.timeout = DefaultHandshakeTimeout
	}
	if s.max <= 0 {
		s.max = DefaultMaxHandshakes
	}
	return s
}

// start gives t a goroutine, or a place in the queue when all are busy.
func (s *tlsServer) start(t *tlsConn) {
	s.mu.Lock()
	if s.active >= s.max {
		s.waiting = append(s.waiting, t)
		s.mu.Unlock()
		return
	}
	s.active++
	s.mu.Unlock()
	s.wg.Go(func() { s.work(t) })
}

// work runs handshakes until none is waiting.
func (s *tlsServer) work(t *tlsConn) {
	for t != nil {
		t.handshake(s.cfg)
		t = nil
		s.mu.Lock()
		for t == nil && len(s.waiting) > 0 {
			t = s.waiting[0]
			s.waiting[0] = nil
			s.waiting = s.waiting[1:]
			if t.abandoned() {
				t = nil
			}
		}
		if t == nil {
			s.active--
		}
		s.mu.Unlock()
	}
}

// tlsConn is a connection's TLS state and the net.Conn under its
// tls.Conn. What only the handshake needs is in its tlsHandshake,
// embedded so that those fields read as the tlsConn's, and dropped when
// the handshake succeeds: an idle connection keeps 64 bytes here.
type tlsConn struct {
	c  *conn
	tc *tls.Conn // set by the handshake goroutine; the loop's once live

	*tlsHandshake // nil once live; its fields are used only before

	// The loop's, once live.
	src         []byte // the ciphertext of the read being decrypted
	rec         records
	live        bool // the handshake succeeded
	eof         bool // the peer closed TCP
	failed      bool // closed for a TLS error: no close_notify after crypto/tls's alert
	closeNotify bool // close_notify sent
}

// tlsHandshake is a connection's TLS state until its handshake is done.
// The fields below mu are shared with the handshake goroutine.
type tlsHandshake struct {
	mu      sync.Mutex
	cond    sync.Cond
	in      []byte // ciphertext read by the loop, not yet taken by the handshake
	out     []byte // ciphertext written by the handshake, not yet queued by the loop
	dead    bool   // the loop closed the connection: the handshake's Read fails
	done    bool   // the handshake returned; err is its result
	err     error
	started bool // the first record is in: a goroutine has it, or it waits for one

	// The loop's.
	held  bool   // reading stopped: in is full
	timer *Timer // the handshake timeout
	acct  int    // cap(in) as counted in the loop's inBytes: the budget sees it
}

func newTLSConn(c *conn) *tlsConn {
	t := &tlsConn{c: c, tlsHandshake: new(tlsHandshake)}
	t.cond.L = &t.mu
	return t
}

// handshake runs the server handshake, on a handshake goroutine, and tells
// the loop how it ended.
func (t *tlsConn) handshake(cfg *tls.Config) {
	tc := tls.Server(t, cfg)
	err := tc.Handshake()
	t.mu.Lock()
	t.tc, t.done, t.err = tc, true, err
	t.mu.Unlock()
	t.c.signalTLS()
}

// abandoned reports whether the loop gave t up while it waited.
func (t *tlsConn) abandoned() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dead
}

// abort ends a handshake in progress: its Read fails from now on.
func (t *tlsConn) abort() {
	t.mu.Lock()
	t.dead = true
	t.in = nil
	t.mu.Unlock()
	t.cond.Broadcast()
}

// room is how much more ciphertext the connection may read before its
// handshake is done.
func (t *tlsConn) room() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maxHandshakeInput - len(t.in)
}

// Read is crypto/tls's input. During the handshake it waits for what the
// loop has read; afterwards it hands over the current read's bytes, then
// errWouldBlock. Either way a Read ends at the end of a record (see
// records).
func (t *tlsConn) Read(b []byte) (int, error) {
	if t.live {
		if len(t.src) == 0 {
			if t.eof {
				return 0, io.EOF // at a record boundary tls.Conn says io.EOF, inside one io.ErrUnexpectedEOF
			}
			return 0, errWouldBlock
		}
		n := copy(b, t.src[:t.rec.span(t.src[:min(len(b), len(t.src))])])
		t.src = t.src[n:]
		return n, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.in) == 0 && !t.dead {
		t.cond.Wait()
	}
	if t.dead {
		return 0, errHandshakeAborted
	}
	n := copy(b, t.in[:t.rec.span(t.in[:min(len(b), len(t.in))])])
	t.in = t.in[:copy(t.in, t.in[n:])]
	return n, nil
}

// Write is crypto/tls's output: queued on the connection when it comes
// from the loop, handed to the loop when it comes from the handshake.
func (t *tlsConn) Write(b []byte) (int, error) {
	if t.live {
		t.c.queueRaw(b)
		return len(b), nil
	}
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		return 0, errHandshakeAborted
	}
	t.out = append(t.out, b...)
	t.mu.Unlock()
	t.c.signalTLS()
	return len(b), nil
}

// Close does nothing: the loop closes the connection.
func (t *tlsConn) Close() error { return nil }

// LocalAddr and RemoteAddr are the connection's. crypto/tls does not use
// them on a server; they are read on the handshake goroutine, and both
// read only what register set before the handshake began.
func (t *tlsConn) LocalAddr() net.Addr  { return t.c.LocalAddr() }
func (t *tlsConn) RemoteAddr() net.Addr { return t.c.loop.t.remoteAddr(t.c.peer) }

// The deadlines crypto/tls sets (around close_notify) mean nothing here:
// writes never block, and the handshake is bounded by the loop's timer.
func (t *tlsConn) SetDeadline(time.Time) error      { return nil }
func (t *tlsConn) SetReadDeadline(time.Time) error  { return nil }
func (t *tlsConn) SetWriteDeadline(time.Time) error { return nil }
