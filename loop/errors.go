package loop

import (
	"errors"
	"os"
)

var (
	// ErrStopped is passed to OnClose for connections closed by Stop or
	// Drain, and returned by Execute and Submit on a stopped loop.
	ErrStopped = errors.New("loop: stopped")
	// ErrClosed is returned by writes to, and passed to the completion
	// callbacks of writes on, a connection that has closed.
	ErrClosed = errors.New("loop: connection closed")
	// ErrQueueFull is returned by AsyncWrite when the loop's task queue is full.
	ErrQueueFull = errors.New("loop: task queue full")
	// ErrInputTooLarge closes a connection whose unconsumed input exceeds the
	// MaxBufferedInput option.
	ErrInputTooLarge = errors.New("loop: buffered input exceeds limit")
	// ErrNegativeCount is returned by Peek, Next and Discard for n < 0.
	ErrNegativeCount = errors.New("loop: negative count")
	// ErrShortBuffer is returned by Peek and Next when fewer than n bytes are buffered.
	ErrShortBuffer = errors.New("loop: fewer bytes buffered than asked for")
	// ErrUnsupportedListener is returned by Adopt for a listener the engine
	// cannot take the descriptor of.
	ErrUnsupportedListener = errors.New("loop: unsupported listener")
)

var (
	// ErrSlowConsumer closes a connection whose outbound queue would pass
	// the high watermark under the SlowConsumerClose policy.
	ErrSlowConsumer = errors.New("loop: slow consumer: outbound queue above high watermark")
	// ErrDropped is returned by a write dropped under the SlowConsumerDrop
	// policy.
	ErrDropped = errors.New("loop: write dropped: outbound queue above high watermark")
	// ErrWouldBlock is returned by TryWrite when the write would take the
	// outbound queue above the high watermark. OnWritable follows once the
	// queue has drained below the low watermark.
	ErrWouldBlock = errors.New("loop: outbound queue above high watermark")
	// ErrIdleTimeout closes a connection that saw no traffic for its idle
	// timeout.
	ErrIdleTimeout error = &timeoutError{"loop: idle timeout"}
	// ErrReadTimeout closes a connection whose read deadline passed before
	// input arrived.
	ErrReadTimeout error = &timeoutError{"loop: read deadline exceeded"}
	// ErrWriteTimeout closes a connection whose write deadline passed with
	// output still queued.
	ErrWriteTimeout error = &timeoutError{"loop: write deadline exceeded"}
	// ErrCloseTimeout closes a connection that could not flush its output
	// within the close timeout after Close.
	ErrCloseTimeout error = &timeoutError{"loop: close timeout: output not flushed"}
)

// timeoutError is a close reason that is a timeout: it has Timeout() true,
// like net.Error, and matches os.ErrDeadlineExceeded with errors.Is.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
