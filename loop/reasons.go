package loop

import (
	"errors"
	"io"
	"os"

	"github.com/shoalnet/shoal/codec"
)

// CloseReason classifies why a connection closed, for metrics and logs.
// The set is small and fixed, so it is safe as a metric label.
type CloseReason int

// Close reasons.
const (
	ReasonLocal         CloseReason = iota // the application closed it (Close)
	ReasonEOF                              // the peer closed it
	ReasonReset                            // the peer reset it, or it broke (ECONNRESET, EPIPE)
	ReasonTimeout                          // an idle timeout or a deadline
	ReasonSlowConsumer                     // the slow-consumer policy
	ReasonProtocolError                    // input the codec rejected, or too much unconsumed input
	ReasonPanic                            // a callback panicked
	ReasonShutdown                         // the server closed
	ReasonLimit                            // refused by a connection limit
	ReasonError                            // any other error, e.g. CloseWithError's
	NumCloseReasons
)

var reasonNames = [NumCloseReasons]string{
	"local", "eof", "reset", "timeout", "slow_consumer", "protocol_error", "panic", "shutdown", "limit", "error",
}

func (r CloseReason) String() string {
	if r < 0 || r >= NumCloseReasons {
		return "unknown"
	}
	return reasonNames[r]
}

// ReasonOf classifies the error OnClose receives.
func ReasonOf(err error) CloseReason {
	var pe *PanicError
	switch {
	case err == nil:
		return ReasonLocal
	case errors.Is(err, io.EOF):
		return ReasonEOF
	case errors.Is(err, ErrStopped):
		return ReasonShutdown
	case errors.Is(err, ErrSlowConsumer):
		return ReasonSlowConsumer
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout
	case errors.As(err, &pe):
		return ReasonPanic
	case errors.Is(err, ErrInputTooLarge), errors.Is(err, codec.ErrFrameTooLarge), errors.Is(err, codec.ErrMalformed),
		errors.As(err, new(*TLSError)), errors.Is(err, ErrNotTLS), errors.Is(err, ErrTLSTruncated):
		return ReasonProtocolError
	case isReset(err):
		return ReasonReset
	}
	return ReasonError
}
