package server

import "errors"

var (
	// ErrServerClosed is returned by Serve after Close, and passed to OnClose
	// for connections closed by it.
	ErrServerClosed = errors.New("server: closed")
	// ErrClosed is returned by writes to, and passed to the completion
	// callbacks of writes on, a connection that has closed.
	ErrClosed = errors.New("server: connection closed")
	// ErrQueueFull is returned by AsyncWrite when the loop's task queue is full.
	ErrQueueFull = errors.New("server: loop task queue full")
	// ErrInputTooLarge closes a connection whose unconsumed input exceeds the
	// MaxBufferedInput option.
	ErrInputTooLarge = errors.New("server: buffered input exceeds limit")
	// ErrNegativeCount is returned by Peek, Next and Discard for n < 0.
	ErrNegativeCount = errors.New("server: negative count")
	// ErrShortBuffer is returned by Peek and Next when fewer than n bytes are buffered.
	ErrShortBuffer = errors.New("server: fewer bytes buffered than asked for")
	// ErrUnsupportedListener is returned by Serve for a listener the engine
	// cannot take the descriptor of.
	ErrUnsupportedListener = errors.New("server: unsupported listener")
)
