//go:build !plan9

package natsbroker

import (
	"testing"

	"github.com/shoalnet/shoal/internal/natstest"
)

// startNATS runs a cluster of n embedded NATS servers (natstest.Start).
func startNATS(t testing.TB, n int) []string { return natstest.Start(t, n) }
