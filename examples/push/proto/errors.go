package proto

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed reports a body that is not a body of this protocol. The
	// server closes a connection that sends one.
	ErrMalformed = errors.New("proto: malformed body")
	// ErrTopicTooLong is returned by AppendBody for a topic longer than
	// MaxTopic bytes.
	ErrTopicTooLong = errors.New("proto: topic longer than 255 bytes")
)

// malformed wraps ErrMalformed with a reason.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Code says why a request failed; it travels in ERR bodies.
type Code uint16

// The error codes. A request that fails with one of them changed nothing.
const (
	// CodeBadTopic: the topic is empty or has a byte outside 0x21..0x7e.
	CodeBadTopic Code = 1
	// CodePayloadTooLarge: the PUB payload is above the server's limit.
	CodePayloadTooLarge Code = 2
	// CodeTooManyTopics: the connection already has the most subscriptions
	// the server allows.
	CodeTooManyTopics Code = 3
	// CodeAlreadySubscribed: SUB for a topic the connection is subscribed to.
	CodeAlreadySubscribed Code = 4
	// CodeNotSubscribed: UNSUB for a topic the connection is not subscribed to.
	CodeNotSubscribed Code = 5
	// CodeMalformed: the last body could not be decoded, or is not a
	// request. The server closes the connection after this ERR (req 0).
	CodeMalformed Code = 6
	// CodeGoingAway: the server is shutting down and accepts no more
	// publishes; a GOAWAY follows on the connection.
	CodeGoingAway Code = 7
	// CodeSlow: the subscriber fell behind, more than -max-pending bytes
	// queued for it; the server closes the connection after this ERR
	// (req 0).
	CodeSlow Code = 8
	// CodeLost: messages for the subscriber were lost inside the server
	// (overwhelmed); it closes the connection after this ERR (req 0).
	CodeLost Code = 9
	// CodeBusy: the server cannot take the request now; try again later.
	CodeBusy Code = 10
	// CodeLimit: a server limit other than those above (subscribers per
	// topic, publishes in flight).
	CodeLimit Code = 11
)

// String returns the code's name.
func (c Code) String() string {
	switch c {
	case CodeBadTopic:
		return "bad topic"
	case CodePayloadTooLarge:
		return "payload too large"
	case CodeTooManyTopics:
		return "too many topics"
	case CodeAlreadySubscribed:
		return "already subscribed"
	case CodeNotSubscribed:
		return "not subscribed"
	case CodeMalformed:
		return "malformed"
	case CodeGoingAway:
		return "going away"
	case CodeSlow:
		return "slow subscriber"
	case CodeLost:
		return "messages lost"
	case CodeBusy:
		return "busy"
	case CodeLimit:
		return "limit reached"
	}
	return fmt.Sprintf("code %d", uint16(c))
}
