package server

import (
	"strings"
	"syscall"

	"github.com/shoalnet/shoal/internal/sock"
)

// reusePortBalances says whether the kernel spreads connections over
// SO_REUSEPORT listeners (Linux does; most BSDs only allow the rebinding).
const reusePortBalances = true

func listenControl(network string) func(string, string, syscall.RawConn) error {
	if strings.HasPrefix(network, "tcp") {
		return sock.SetReusePort
	}
	return nil
}
