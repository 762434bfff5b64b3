package loop

import (
	"crypto/tls"
	"net"
	"time"
)

// Handler receives the events of every connection. All of its methods run on
// the connection's loop goroutine, one at a time per connection, and must not
// block: a blocked callback stalls every connection of that loop. Hand slow
// work to another goroutine and answer with Conn.AsyncWrite.
type Handler interface {
	// OnOpen runs once when a connection has been accepted, before any
	// OnData. It may write to and close the connection.
	OnOpen(c Conn)
	// OnData runs when new bytes have arrived. The bytes are read with
	// Peek/Next/Discard; what the handler leaves unconsumed is kept and
	// offered again, after the new bytes, on the next OnData. Slices returned
	// by Peek and Next are valid only until OnData returns.
	OnData(c Conn)
	// OnClose runs exactly once per connection, after its last OnData and
	// before its descriptor is closed. err is nil after a local Close,
	// io.EOF when the peer closed, ErrStopped when the server closed, or
	// the error that broke the connection.
	OnClose(c Conn, err error)
}

// WakeHandler is implemented by handlers that want Conn.Wake: OnWake runs on
// the connection's loop goroutine, like every Handler callback.
type WakeHandler interface {
	OnWake(c Conn)
}

// WritableHandler is implemented by handlers that want to know when a
// connection that had no room has room again: its outbound queue, after
// passing the high watermark (or after a TryWrite failed on it), has
// drained below the low watermark, or the memory budget that refused a
// TryWrite allows again. OnWritable runs on the connection's loop
// goroutine, outside any read.
type WritableHandler interface {
	OnWritable(c Conn)
}

// EOFHandler is implemented by handlers that serve half-closed
// connections. When the peer closes its sending side, OnEOF runs on the
// loop goroutine instead of the connection being closed: the handler may
// still write, and closes the connection (Close, or CloseWrite, after which
// it closes once flushed) when it is done. Without an EOFHandler the
// connection is flushed and closed, and OnClose receives io.EOF.
type EOFHandler interface {
	OnEOF(c Conn)
}

// GoodbyeHandler is implemented by handlers whose protocol says goodbye
// before a graceful shutdown: OnGoodbye runs once per connection, on its
// loop, when the drain begins. It writes the goodbye the peer understands
// (a WebSocket close 1001, an HTTP "Connection: close", a GOAWAY with a
// reconnect hint) and may then stop reading with PauseRead, since the peer
// now knows that what it sends next will not be served. The connection
// closes once it is idle.
//
// A protocol without a goodbye (an echo, a raw stream) must not implement
// it only to pause: its peer cannot know, and what it sent after the pause
// would be read and dropped at the close. Without OnGoodbye the drain goes
// on reading and serving each connection until its peer has been quiet for
// the drain's quiet period, then closes it with a FIN after the flush.
type GoodbyeHandler interface {
	OnGoodbye(c Conn)
}

// FrameHandler is implemented by handlers of a server with WithCodec:
// OnFrame then runs once per whole frame, in order, instead of OnData. The
// frame is a view into the input, valid until OnFrame returns. It runs on
// the connection's loop goroutine and must not block; reply with
// Conn.WriteFrame (or Write). OnFrame must not consume input itself (Next,
// Discard): the server does.
type FrameHandler interface {
	OnFrame(c Conn, frame []byte)
}

// FrameErrorHandler is implemented by frame handlers that answer input the
// codec rejects before the connection closes, as a protocol's own error
// reply (Redis's "-ERR Protocol error: ..."). OnFrameError runs on the
// connection's loop with the codec's error, after OnFrame has run for every
// whole frame before the bad one; what it writes is flushed, then the
// connection closes with err as the reason. It must not block.
type FrameErrorHandler interface {
	OnFrameError(c Conn, err error)
}

// Conn is one connection. Its methods say from which goroutines they may be
// called: "loop only" methods may be called only from a Handler callback of
// this connection (they touch state owned by its loop) — with the event-loop
// engine also from a callback of another connection of the same loop
// (LoopIndex tells), which is how a handler relays between connections
// without a task; the others are safe for concurrent use. To fan out to
// connections on other loops, queue the data under a lock of your own and
// call Wake: OnWake then writes it with Writev on the right loop.
type Conn interface {
	// Buffered returns how many inbound bytes are waiting. Loop only.
	Buffered() int
	// Peek returns the next n buffered bytes without consuming them (n = 0:
	// all of them). It returns ErrShortBuffer, and the bytes there are, when
	// fewer than n are buffered. The slice is valid until the callback
	// returns. Loop only.
	Peek(n int) ([]byte, error)
	// Next returns and consumes the next n buffered bytes (n = 0: all), like
	// Peek. Loop only.
	Next(n int) ([]byte, error)
	// Discard consumes up to n buffered bytes (n = 0: all) and returns how
	// many it dropped. Loop only.
	Discard(n int) (int, error)

	// Write queues p on the connection's outbound queue; the queue is
	// flushed with one writev at the end of the loop's event batch. p is
	// copied and may be reused when Write returns. Loop only.
	Write(p []byte) (int, error)
	// Writev queues several buffers, like Write. Loop only.
	Writev(bs [][]byte) (int, error)
	// WriteShared queues s by reference, without a copy: the queue holds
	// s (Retain) until its last byte is handed to the kernel or the
	// connection closes, then releases it. The caller keeps its own
	// reference. Admitted like Write. Loop only.
	WriteShared(s *Shared) (int, error)
	// WriteFrame frames msg with the server's codec (WithCodec) and queues
	// it like Write. Loop only.
	WriteFrame(msg []byte) error
	// TryWrite queues p like Write unless that would take the outbound
	// queue above the high watermark, or, past three quarters of the
	// memory budget, the queue above its fair share or the total above the
	// budget: then it queues nothing, sheds nothing, and returns
	// ErrWouldBlock, and OnWritable runs once the queue has drained below
	// the low watermark or the budget has room again. A fan-out writer
	// that flushes its own store-once backlog with TryWrite so never has
	// more copies queued than the budget allows. Loop only.
	TryWrite(p []byte) (int, error)
	// OutboundBuffered returns how many bytes are queued and not yet handed
	// to the kernel. Loop only.
	OutboundBuffered() int
	// Writable reports whether the outbound queue is at or below the low
	// watermark. When it is not, OnWritable runs once it has drained
	// there: a protocol that answers requests stops taking new ones while
	// Writable is false (a pipelining client that does not read), instead
	// of queueing answers up to the slow-consumer policy. Loop only.
	Writable() bool
	// AsyncWrite queues p from any goroutine through the loop's task queue.
	// p must not be modified until done runs (or, with a nil done, at all).
	// done, if not nil, runs on the loop goroutine once p has been handed to
	// the kernel (err nil) or the connection has closed first (ErrClosed).
	// Writes from one goroutine keep their order. It returns ErrQueueFull
	// instead of blocking when the loop's task queue is full, and ErrClosed
	// on a closed connection. Safe for concurrent use.
	AsyncWrite(p []byte, done func(c Conn, err error)) error
	// Wake asks the loop to run the handler's OnWake for this connection.
	// Calls made before the loop gets to it collapse into one OnWake; on a
	// closed connection it does nothing. Safe for concurrent use.
	Wake()
	// Close flushes what is queued, sends FIN, waits (up to the close
	// timeout) for the peer's FIN so that no unread input turns the close
	// into a reset, and closes; OnClose follows with a nil error. Safe for
	// concurrent use; calls after the first do nothing. The error is always
	// nil: it is there so that a Conn is an io.Closer.
	Close() error
	// CloseWithError closes like Close; OnClose receives err. Loop only.
	CloseWithError(err error)
	// CloseWrite flushes what is queued and then half-closes the
	// connection (FIN): reading goes on until the peer closes too. Loop only.
	CloseWrite() error

	// PauseRead stops reading from the connection: read interest is
	// removed, so TCP pushes back on the peer. With a codec, the frames
	// already read and not yet handed to OnFrame wait too (a handler that
	// pauses inside OnFrame gets no more frames from that read). Loop only.
	PauseRead()
	// ResumeRead undoes PauseRead; frames that waited are handed to
	// OnFrame later in the loop's round. Loop only.
	ResumeRead()
	// SetReadDeadline closes the connection with ErrReadTimeout unless
	// input arrives before t; arriving input clears it. The zero t clears
	// it. It fires within one timer tick. Loop only.
	SetReadDeadline(t time.Time) error
	// SetWriteDeadline closes the connection with ErrWriteTimeout if
	// output is still queued at t. The zero t clears it. Loop only.
	SetWriteDeadline(t time.Time) error
	// SetBusy marks the connection as serving a request whose answer is
	// made elsewhere (on a worker goroutine): while it is busy, a drain does
	// not close it as idle, though its deadline still does. Loop only.
	SetBusy(on bool)
	// SetIdleTimeout closes the connection with ErrIdleTimeout after d
	// without reads or writes (0: never), overriding WithIdleTimeout.
	// Loop only.
	SetIdleTimeout(d time.Duration) error
	// AfterFunc runs f on the connection's loop after d, unless the
	// connection has closed by then. Loop only; the returned Timer too.
	AfterFunc(d time.Duration, f func(Conn)) *Timer

	// Context returns the value set by SetContext. Loop only.
	Context() any
	// SetContext attaches a value to the connection. Loop only.
	SetContext(v any)
	// LocalAddr returns the local address. Safe for concurrent use.
	LocalAddr() net.Addr
	// RemoteAddr returns the peer's address. Safe for concurrent use.
	RemoteAddr() net.Addr
	// TLS returns the state of the connection's TLS (version, cipher
	// suite, SNI, ALPN, resumption), or nil on a plain connection. Loop
	// only.
	TLS() *tls.ConnectionState
	// LoopIndex returns the index of the loop that owns the connection.
	// Safe for concurrent use.
	LoopIndex() int
	// Loop returns the loop that owns the connection, to run tasks and
	// timers there (Execute, AfterFunc) without locks. Safe for concurrent
	// use.
	Loop() *Loop
}

// NopHandler is a Handler whose callbacks do nothing. Embed it to
// implement only the callbacks a protocol needs, such as a FrameHandler's
// OnFrame, which replaces OnData when the server has a codec.
type NopHandler struct{}

func (NopHandler) OnOpen(Conn)         {}
func (NopHandler) OnData(Conn)         {}
func (NopHandler) OnClose(Conn, error) {}

// handlers is a Handler with its optional interfaces, detected once when
// the group is made; a nil field means the handler lacks that callback.
type handlers struct {
	Handler
	wake     WakeHandler
	writable WritableHandler
	eof      EOFHandler
	goodbye  GoodbyeHandler
	frame    FrameHandler
	frameErr FrameErrorHandler
}

func detect(h Handler) handlers {
	hs := handlers{Handler: h}
	hs.wake, _ = h.(WakeHandler)
	hs.writable, _ = h.(WritableHandler)
	hs.eof, _ = h.(EOFHandler)
	hs.goodbye, _ = h.(GoodbyeHandler)
	hs.frame, _ = h.(FrameHandler)
	hs.frameErr, _ = h.(FrameErrorHandler)
	return hs
}

// Requests from other goroutines, set in a connection's signal word.
const (
	sigWake uint32 = 1 << iota
	sigClose
	sigTLS // the handshake goroutine wrote or ended (tls.go)
)

// Timer is a function scheduled with Conn.AfterFunc or Loop.AfterFunc, an
// entry of its loop's timing wheel. Its methods are loop only.
type Timer struct {
	t  timer
	l  *Loop
	c  *conn      // Conn.AfterFunc's connection, and its function
	f  func(Conn) //
	lf func()     // Loop.AfterFunc's function
}

// Stop cancels the timer and reports whether it was still pending.
func (t *Timer) Stop() bool {
	armed := t.t.armed
	t.l.w.cancel(&t.t)
	return armed
}

// Reset arms the timer again to run its function after d, whether it has
// run, was stopped or is still pending, and reports whether it was
// pending. A timer re-armed with Reset costs no allocation, so a periodic
// task (a heartbeat) keeps one Timer for its connection's life.
func (t *Timer) Reset(d time.Duration) bool {
	armed := t.t.armed
	t.t.owner = t
	t.l.w.schedule(&t.t, t.l.now+t.l.ticks(d))
	return armed
}

// fire runs the function, unless its connection has closed (or is
// closing), with the loop's panic isolation.
func (t *Timer) fire() {
	l := t.l
	if t.c == nil {
		if err := l.e.guardCall("Loop.AfterFunc", t.lf, l.idx, &l.cnt); err != nil {
			l.opts.Logger.Error("loop timer failed", "loop", l.idx, "err", err)
		}
		return
	}
	c := t.c
	if c.state&(stClosed|stClosing) != 0 {
		return
	}
	if err := t.call(); err != nil {
		c.closeNow(err)
		return
	}
	c.afterCallback()
}

// call runs a Conn.AfterFunc function, as guardCall does (without the
// closure that binding the connection would allocate at every run).
func (t *Timer) call() (perr error) {
	defer func() {
		if r := recover(); r != nil {
			perr = t.l.e.panicked(r, "AfterFunc", t.l.idx, &t.l.cnt)
		}
	}()
	t.f(t.c)
	return nil
}
