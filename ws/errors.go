package ws

import (
	"errors"
	"strconv"
)

// Close codes of RFC 6455 7.4.1 that the server sends or checks.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseUnsupported     = 1003
	CloseNoStatus        = 1005 // never on the wire: the close frame had no code
	CloseAbnormal        = 1006 // never on the wire: the connection dropped
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseTooBig          = 1009
	CloseMandatoryExt    = 1010
	CloseInternalError   = 1011
)

// CloseError is a violation of the protocol by the peer, or a limit it
// passed: Code is the close code to send it, Reason a short text for the
// close frame and the logs.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return "ws: " + e.Reason + " (close " + strconv.Itoa(e.Code) + ")"
}

// Is makes errors.Is(err, ErrProtocol) (and the others) match by code.
func (e *CloseError) Is(target error) bool {
	t, ok := target.(*CloseError)
	return ok && t.Reason == "" && t.Code == e.Code
}

// Sentinels for errors.Is, one per close code the reader fails with.
var (
	ErrProtocol       error = &CloseError{Code: CloseProtocolError}
	ErrInvalidPayload error = &CloseError{Code: CloseInvalidPayload}
	ErrTooBig         error = &CloseError{Code: CloseTooBig}
)

func protocolError(reason string) error {
	return &CloseError{Code: CloseProtocolError, Reason: reason}
}

// CloseCode returns the code to close the connection with after err: the
// CloseError's code, or 1011 (internal error) for anything else.
func CloseCode(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return CloseInternalError
}

// ValidCloseCode reports whether a peer may send code in a close frame
// (RFC 6455 7.4): the defined codes but those never sent (1004 reserved,
// 1005, 1006, 1015), and 3000-4999 for libraries and applications.
func ValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
