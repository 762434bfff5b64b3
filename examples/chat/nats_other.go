//go:build plan9

package main

import (
	"errors"
	"time"

	"github.com/shoalnet/shoal/pubsub"
)

// newNATS: nats.go, and so package natsbroker, does not build on Plan 9.
func newNATS(string, int, int, time.Duration) (pubsub.Broker, error) {
	return nil, errors.New("-nats: no NATS client on plan9")
}
