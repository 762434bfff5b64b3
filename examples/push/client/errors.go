package client

import (
	"errors"
	"fmt"

	"github.com/shoalnet/shoal/examples/push/proto"
)

// ErrClosed is returned by the requests of a closed Client.
var ErrClosed = errors.New("client: closed")

// Error is an ERR reply of the server. A request that fails with it
// changed nothing on the server. Code CodeMalformed (request id 0) means
// the server closed the connection; Client.Err returns it then.
type Error struct {
	Code    proto.Code
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: server error %d (%v): %s", uint16(e.Code), e.Code, e.Message)
}
