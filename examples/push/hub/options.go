package hub

import (
	"fmt"
	"time"

	"github.com/shoalnet/shoal/examples/push/proto"
)

// LimitPolicy says what Publish does for a subscriber whose pending
// messages, not yet handed to its connection, would pass WithMaxPending.
type LimitPolicy int

const (
	// CloseSubscriber closes the subscriber's connection: subscribers that
	// stay connected miss nothing.
	CloseSubscriber LimitPolicy = iota
	// DropMessage skips the message for that subscriber and counts it in
	// Subscriber.Dropped and Stats.Dropped.
	DropMessage
)

// Option configures a Hub.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	maxTopics  int
	maxPayload int
	maxPending int
	overLimit  LimitPolicy
	now        func() int64
}

func defaultOptions() options {
	return options{
		maxTopics:  64,
		maxPayload: proto.DefaultMaxPayload,
		maxPending: 4 << 20,
		overLimit:  CloseSubscriber,
		now:        func() int64 { return time.Now().UnixNano() },
	}
}

func (o *options) validate() error {
	switch {
	case o.maxTopics < 1:
		return fmt.Errorf("hub: max topics per subscriber must be positive, got %d", o.maxTopics)
	case o.maxPayload < 0:
		return fmt.Errorf("hub: max payload must not be negative, got %d", o.maxPayload)
	case o.maxPending < 1:
		return fmt.Errorf("hub: max pending bytes must be positive, got %d", o.maxPending)
	case o.overLimit != CloseSubscriber && o.overLimit != DropMessage:
		return fmt.Errorf("hub: unknown pending-limit policy %d", o.overLimit)
	case o.now == nil:
		return fmt.Errorf("hub: nil clock")
	}
	return nil
}

// WithMaxTopics caps the subscriptions of one subscriber (default 64).
func WithMaxTopics(n int) Option { return optionFunc(func(o *options) { o.maxTopics = n }) }

// WithMaxPayload caps the payload of a publish (default
// proto.DefaultMaxPayload, 64 KiB).
func WithMaxPayload(n int) Option { return optionFunc(func(o *options) { o.maxPayload = n }) }

// WithMaxPending bounds the bytes of MSG frames queued for one subscriber
// and not yet handed to its connection (default 4 MiB). They pile up only
// while the subscriber's loop is behind; once handed over, the server's
// outbound watermarks and slow-consumer policy take over. One message is
// always accepted into an empty queue, whatever its size.
func WithMaxPending(bytes int) Option { return optionFunc(func(o *options) { o.maxPending = bytes }) }

// WithLimitPolicy sets what happens to a subscriber above WithMaxPending
// (default CloseSubscriber).
func WithLimitPolicy(p LimitPolicy) Option { return optionFunc(func(o *options) { o.overLimit = p }) }

// WithClock sets the clock that stamps MSG frames, in Unix nanoseconds
// (default time.Now().UnixNano).
func WithClock(now func() int64) Option { return optionFunc(func(o *options) { o.now = now }) }
