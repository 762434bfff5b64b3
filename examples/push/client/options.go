package client

import (
	"fmt"
	"net"
	"time"

	"github.com/shoalnet/shoal/examples/push/proto"
)

// Option configures a Client.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	localAddr   net.Addr
	readBuf     int
	readBufMax  int
	maxBody     int
	msgBuf      int
	onMessage   func(Message)
	dialTimeout time.Duration
}

func defaultOptions() options {
	return options{
		readBuf:     4 << 10,
		readBufMax:  64 << 10,
		maxBody:     proto.MaxOverhead + proto.DefaultMaxPayload,
		msgBuf:      256,
		dialTimeout: 10 * time.Second,
	}
}

func (o *options) validate() error {
	switch {
	case o.readBuf < 64 || o.readBufMax < o.readBuf:
		return fmt.Errorf("client: read buffer must be at least 64 bytes and at most its max, got %d and %d",
			o.readBuf, o.readBufMax)
	case o.maxBody < proto.MaxOverhead:
		return fmt.Errorf("client: max body must be at least %d, got %d", proto.MaxOverhead, o.maxBody)
	case o.msgBuf < 0:
		return fmt.Errorf("client: negative message buffer %d", o.msgBuf)
	}
	return nil
}

// WithLocalAddr sets the local address to dial from (for example a
// 127.0.0.x address, to spread many connections over source addresses).
func WithLocalAddr(a net.Addr) Option { return optionFunc(func(o *options) { o.localAddr = a }) }

// WithReadBuffer sets the initial read buffer (default 4 KiB) and how far
// it may grow (default 64 KiB): it doubles when a read fills it, so that a
// batch of messages takes one read. It also grows for a frame that does not
// fit, up to the max body. It does not shrink.
func WithReadBuffer(initial, max int) Option {
	return optionFunc(func(o *options) { o.readBuf, o.readBufMax = initial, max })
}

// WithMaxBody sets the largest frame body the client reads or writes
// (default proto.MaxOverhead + proto.DefaultMaxPayload). A larger frame
// from the server closes the connection.
func WithMaxBody(n int) Option { return optionFunc(func(o *options) { o.maxBody = n }) }

// WithMessageBuffer sets the capacity of the Messages channel (default
// 256). While the channel is full the client stops reading, and the
// server's slow-consumer policy applies to the connection.
func WithMessageBuffer(n int) Option { return optionFunc(func(o *options) { o.msgBuf = n }) }

// WithHandler makes the client call fn, on its reading goroutine, for
// every MSG instead of sending it to the Messages channel. The Topic and
// Payload of the Message are valid only until fn returns; fn must not call
// the Client's request methods synchronously (their replies arrive on the
// goroutine that fn blocks), but may use PublishAsync.
func WithHandler(fn func(Message)) Option { return optionFunc(func(o *options) { o.onMessage = fn }) }

// WithDialTimeout bounds the connect when the context has no deadline
// (default 10s).
func WithDialTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.dialTimeout = d })
}
