package client

import (
	"errors"
	"fmt"

	"github.com/shoalnet/shoal/examples/push/proto"
)

var (
	// ErrClosed is returned by the requests of a closed Client.
	ErrClosed = errors.New("client: closed")
	// ErrGoingAway is returned by requests the server did not answer
	// before its GOAWAY, and by requests made after it: the server did not
	// apply them. Client.Err returns it once the server has closed the
	// connection cleanly after its GOAWAY.
	ErrGoingAway = errors.New("client: the server is going away")
)

// errAfterGoAway ends a connection on which the server sent something
// after its GOAWAY.
var errAfterGoAway = errors.New("client: the server sent data after its GOAWAY")

// Error is an ERR reply of the server. A request that fails with it
// changed nothing on the server. Code CodeMalformed (request id 0) means
// the server closed the connection; Client.Err returns it then. Code
// CodeGoingAway answers a PUB the server refused because it is shutting
// down; a GOAWAY follows.
type Error struct {
	Code    proto.Code
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: server error %d (%v): %s", uint16(e.Code), e.Code, e.Message)
}
