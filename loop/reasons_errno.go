//go:build !plan9

package loop

import (
	"errors"
	"syscall"
)

// isReset reports whether err says the peer reset the connection or it
// broke under a write.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
