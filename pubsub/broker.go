package pubsub

import (
	"context"
	"errors"
	"fmt"
)

// Broker carries publications and presence between the nodes of a
// cluster (or within one, for Memory) and keeps each topic's history.
// Its methods may block on the network: the Node calls them from its
// workers, never from a loop. Safe for concurrent use.
type Broker interface {
	// Start begins delivering to d every publication (messages and
	// presence events) of the topics this node is subscribed to, from
	// every node; each topic's messages in offset order. It is called
	// once, before any other method.
	Start(d Deliverer) error
	// Subscribe and Unsubscribe set this node's interest in a topic;
	// a broker may deliver other topics too (the Node drops them).
	Subscribe(topic string) error
	Unsubscribe(topic string) error
	// Publish stores a message in the topic's history and delivers it to
	// every node; it returns once the message is stored (for a cluster:
	// acknowledged), with its position. A presence event (Kind Join or
	// Leave) is delivered without being stored.
	Publish(ctx context.Context, p *Publication) (Position, error)
	// History returns the topic's messages after since, oldest first, at
	// most limit of them, and the topic's current position. With a nil
	// since it returns the last limit messages. ErrCannotRecover: since
	// is of another epoch, or some messages after it are gone, or there
	// are more than limit.
	History(ctx context.Context, topic string, since *Position, limit int) ([]*Publication, Position, error)
	// AddPresence records c in the topic's presence (ErrLimit past the
	// broker's presence limit); RemovePresence removes it. Presence
	// returns who is there.
	AddPresence(ctx context.Context, topic string, c ClientInfo) error
	RemovePresence(ctx context.Context, topic string, id string) error
	Presence(ctx context.Context, topic string) ([]ClientInfo, error)
	// Close stops deliveries and releases the broker's resources.
	Close() error
}

// Deliverer receives a broker's publications: the Node.
type Deliverer interface {
	Deliver(p *Publication)
}

// Errors of the package. Each is the cause a client is told.
var (
	// ErrCannotRecover: the messages a client missed are not all in the
	// topic's history any more; it must start again from the present.
	ErrCannotRecover = errors.New("pubsub: cannot recover: history does not reach back")
	// ErrSlow closes a subscriber whose queue passed Config.MaxQueued.
	ErrSlow = errors.New("pubsub: slow subscriber")
	// ErrLost closes a subscriber that missed publications between the
	// broker and its loop (a node overwhelmed, a broker gap): it must
	// resubscribe and recover.
	ErrLost = errors.New("pubsub: publications lost on the way, resubscribe to recover")
	// ErrBusy: the node's workers are all taken; try again later.
	ErrBusy = errors.New("pubsub: node busy")
	// ErrClosed: the node has been closed.
	ErrClosed = errors.New("pubsub: node closed")
	// ErrDraining: Node.Drain was called; the node publishes no more.
	ErrDraining = errors.New("pubsub: node draining, not publishing")
	// ErrNotSubscribed: Unsubscribe of a topic the client is not in.
	// (PublishFrom does not ask for a subscription: an application that
	// wants one checks it.)
	ErrNotSubscribed = errors.New("pubsub: not subscribed")
	// ErrAlreadySubscribed: the client is already in the topic.
	ErrAlreadySubscribed = errors.New("pubsub: already subscribed")
)

// LimitError is a limit that a request would pass.
type LimitError struct {
	What  string // "topics per client", "subscribers per topic", ...
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("pubsub: limit reached: %s (%d)", e.What, e.Limit)
}

// ErrLimit matches every *LimitError (errors.Is).
var ErrLimit = errors.New("pubsub: limit reached")

func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// TopicError is a topic name that is not allowed.
type TopicError struct{ Topic string }

func (e *TopicError) Error() string {
	return fmt.Sprintf("pubsub: bad topic %q: 1 to %d of A-Z a-z 0-9 _ - =", e.Topic, MaxTopicLen)
}

// MaxTopicLen is the longest topic name.
const MaxTopicLen = 128

// ValidTopic checks a topic name: 1 to MaxTopicLen letters, digits, '_',
// '-' or '='. The set is what every broker can carry as it is (a NATS
// subject token and key-value key).
func ValidTopic(t string) error {
	if len(t) == 0 || len(t) > MaxTopicLen {
		return &TopicError{t}
	}
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '=':
		default:
			return &TopicError{t}
		}
	}
	return nil
}
