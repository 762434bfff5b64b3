//go:build !plan9

package natsbroker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// attemptTimeout bounds one try of a broker call: a NATS cluster electing
// a leader (a server restarting, a cluster forming) answers nothing for a
// moment, and the call is tried again within its context's deadline.
const attemptTimeout = 2 * time.Second

// transient reports an error that a retry may not meet: no answer yet,
// no leader yet, no responders.
func transient(err error) bool {
	var ae *jetstream.APIError
	if errors.As(err, &ae) {
		// The server's codes for a cluster without a leader or without
		// enough peers for the moment (nats-server's jetstream errors).
		switch ae.ErrorCode {
		case 10005, // no suitable peers for placement (one restarting)
			10006, // JetStream not in clustered mode yet
			10008, // cluster not available
			10009: // not the leader
			return true
		}
		return ae.Code == 503
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}

// retry runs f until it succeeds, fails for good, or ctx ends; each try
// gets attemptTimeout at most.
func retry(ctx context.Context, f func(ctx context.Context) error) error {
	wait := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := f(actx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil {
				return errors.Join(err, ctx.Err())
			}
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
		wait = min(2*wait, time.Second)
	}
}
