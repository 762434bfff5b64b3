//go:build !plan9

package main

import (
	"time"

	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/pubsub/natsbroker"
)

// newNATS dials the cluster's broker. Package natsbroker builds
// everywhere but on Plan 9, where nats.go does not (nats_other.go).
func newNATS(url string, replicas, history int, ttl time.Duration) (pubsub.Broker, error) {
	return natsbroker.Dial(url, natsbroker.Config{Replicas: replicas, HistorySize: history, HistoryTTL: ttl})
}
