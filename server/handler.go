package server

import "net"

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
	// io.EOF when the peer closed, ErrServerClosed when the server closed, or
	// the error that broke the connection.
	OnClose(c Conn, err error)
}

// WakeHandler is implemented by handlers that want Conn.Wake: OnWake runs on
// the connection's loop goroutine, like every Handler callback.
type WakeHandler interface {
	OnWake(c Conn)
}

// Conn is one connection. Its methods say from which goroutines they may be
// called: "loop only" methods may be called only from a Handler callback of
// this connection (they touch state owned by its loop); the others are safe
// for concurrent use.
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
	// AsyncWrite queues p from any goroutine through the loop's task queue.
	// p must not be modified until done runs (or, with a nil done, at all).
	// done, if not nil, runs on the loop goroutine once p has been handed to
	// the kernel (err nil) or the connection has closed first (ErrClosed).
	// Writes from one goroutine keep their order. It returns ErrQueueFull
	// instead of blocking when the loop's task queue is full, and ErrClosed
	// on a closed connection. Safe for concurrent use.
	AsyncWrite(p []byte, done func(c Conn, err error)) error
	// Wake asks the loop to run the handler's OnWake for this connection.
	// Calls made before the loop gets to it collapse into one OnWake.
	// Safe for concurrent use.
	Wake() error
	// Close flushes what is queued and then closes the connection; OnClose
	// follows. Safe for concurrent use; calls after the first do nothing.
	Close() error

	// Context returns the value set by SetContext. Loop only.
	Context() any
	// SetContext attaches a value to the connection. Loop only.
	SetContext(v any)
	// LocalAddr returns the local address. Safe for concurrent use.
	LocalAddr() net.Addr
	// RemoteAddr returns the peer's address. Safe for concurrent use.
	RemoteAddr() net.Addr
	// LoopIndex returns the index of the loop that owns the connection.
	// Safe for concurrent use.
	LoopIndex() int
}

// Requests from other goroutines, set in a connection's signal word.
const (
	sigWake uint32 = 1 << iota
	sigClose
)
