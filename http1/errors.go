package http1

import (
	"fmt"
	"os"

	"github.com/shoalnet/shoal/codec"
)

// Error is a request the parser rejects: the status to answer with, and
// whether the connection must close after it because the framing of what
// follows is unknown (every parse error closes: after a bad head or a bad
// chunk the next request cannot be found). Compare with errors.Is against
// the Err values.
type Error struct {
	Status int    // 400, 413, 414, 417, 431, 501 or 505
	Reason string // what was wrong, for logs; not sent to the client
	kind   *Error // the Err value it is an instance of
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("http1: %d %s", e.Status, StatusText(e.Status))
	}
	return fmt.Sprintf("http1: %d %s: %s", e.Status, StatusText(e.Status), e.Reason)
}

// Is makes errors.Is(err, ErrBadHeader) true for every bad-header error.
// A timeout is also an os.ErrDeadlineExceeded, and every other Error a
// codec.ErrMalformed, so that the engine counts the close as a timeout or
// a protocol error.
func (e *Error) Is(target error) bool {
	switch target {
	case os.ErrDeadlineExceeded:
		return e.kind == ErrTimeout
	case codec.ErrMalformed:
		return e.kind != ErrTimeout
	}
	t, ok := target.(*Error)
	return ok && (t == e || t == e.kind)
}

func newKind(status int, reason string) *Error {
	e := &Error{Status: status, Reason: reason}
	e.kind = e
	return e
}

// The errors the parser returns, each an *Error with its status.
var (
	ErrRequestLine      = newKind(400, "malformed request line")
	ErrVersion          = newKind(505, "HTTP version not supported")
	ErrBadHeader        = newKind(400, "malformed header line")
	ErrMissingHost      = newKind(400, "missing Host header")
	ErrDuplicateHost    = newKind(400, "more than one Host header")
	ErrBadHost          = newKind(400, "invalid Host header")
	ErrContentLength    = newKind(400, "invalid Content-Length")
	ErrSmuggling        = newKind(400, "both Content-Length and Transfer-Encoding")
	ErrTransferEncoding = newKind(501, "unsupported Transfer-Encoding")
	ErrExpectation      = newKind(417, "unsupported Expect")
	ErrURITooLong       = newKind(414, "request line too long")
	ErrHeadersTooLarge  = newKind(431, "request header fields too large")
	ErrBodyTooLarge     = newKind(413, "request body too large")
	ErrChunk            = newKind(400, "malformed chunked body")
	ErrTimeout          = newKind(408, "request not received in time")
)

// with returns an instance of kind with a more precise reason.
func (kind *Error) with(reason string) *Error {
	return &Error{Status: kind.Status, Reason: kind.Reason + ": " + reason, kind: kind}
}

// StatusText returns the reason phrase of the statuses the package uses
// and a few common others ("" for the rest).
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 200:
		return "OK"
	case 204:
		return "No Content"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}
