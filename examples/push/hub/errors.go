package hub

import (
	"errors"

	"github.com/shoalnet/shoal/examples/push/proto"
)

var (
	// ErrBadTopic: the topic is not valid (proto.ValidTopic).
	ErrBadTopic = errors.New("hub: invalid topic")
	// ErrPayloadTooLarge: the payload is above WithMaxPayload.
	ErrPayloadTooLarge = errors.New("hub: payload too large")
	// ErrTooManyTopics: the subscriber has WithMaxTopics subscriptions.
	ErrTooManyTopics = errors.New("hub: too many topics for one subscriber")
	// ErrAlreadySubscribed: the subscriber is subscribed to the topic.
	ErrAlreadySubscribed = errors.New("hub: already subscribed")
	// ErrNotSubscribed: the subscriber is not subscribed to the topic.
	ErrNotSubscribed = errors.New("hub: not subscribed")
	// ErrDraining: Drain was called; the hub accepts no more publishes.
	ErrDraining = errors.New("hub: draining, not accepting publishes")
)

// Code returns the protocol error code for an error of the hub, and false
// for any other error.
func Code(err error) (proto.Code, bool) {
	switch {
	case errors.Is(err, ErrBadTopic):
		return proto.CodeBadTopic, true
	case errors.Is(err, ErrPayloadTooLarge):
		return proto.CodePayloadTooLarge, true
	case errors.Is(err, ErrTooManyTopics):
		return proto.CodeTooManyTopics, true
	case errors.Is(err, ErrAlreadySubscribed):
		return proto.CodeAlreadySubscribed, true
	case errors.Is(err, ErrNotSubscribed):
		return proto.CodeNotSubscribed, true
	case errors.Is(err, ErrDraining):
		return proto.CodeGoingAway, true
	}
	return 0, false
}
