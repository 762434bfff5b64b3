package server

import (
	"strings"
	"syscall"

	"github.com/shoalnet/shoal/internal/sock"
)

func listenControl(network string) func(string, string, syscall.RawConn) error {
	if strings.HasPrefix(network, "tcp") {
		return sock.SetReusePort
	}
	return nil
}
