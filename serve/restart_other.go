//go:build !unix

package serve

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"

	"github.com/shoalnet/shoal/server"
)

// errNoRestart: tableflip passes sockets between Unix processes only.
var errNoRestart = fmt.Errorf("restart: not supported on %s", runtime.GOOS)

type restarter struct{}

// Listen returns a listener for network and address like server.Listen;
// Restart is not supported on this platform.
func (c *Config) Listen(network, address string) (net.Listener, error) {
	if c.Restart {
		return nil, errNoRestart
	}
	return server.Listen(network, address)
}

func (c *Config) listenAdmin() (net.Listener, error) { return net.Listen("tcp", c.Admin) }

func (*restarter) start(*server.Server, net.Listener) error { return errNoRestart }
func (*restarter) stop()                                    {}
func (*restarter) watch(*slog.Logger, func()) (restart, stop func()) {
	return func() {}, func() {}
}
