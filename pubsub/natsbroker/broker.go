//go:build !plan9

// Package natsbroker is a pubsub.Broker on NATS JetStream, for a cluster
// of nodes: every node sees every publication in the same order, and
// history and presence live in the NATS cluster, not in any node.
//
// The layout, under a prefix (default "shoal"):
//
//   - Messages are JetStream messages on PREFIX.pub.TOPIC in one stream
//     (PREFIX_pub) that keeps each topic's last HistorySize messages for
//     HistoryTTL (MaxMsgsPerSubject, MaxAge). A publish is acknowledged
//     once the stream has stored it: with Replicas 3, once a quorum has.
//   - A topic's offsets count its messages without gaps, as the pubsub
//     package wants (a client can ask for everything after offset N).
//     JetStream numbers a stream, not a subject, so the broker numbers a
//     topic itself: a publish reads the topic's last message (cached
//     from the node's own deliveries), writes offset+1 into the headers
//     and publishes with Nats-Expected-Last-Subject-Sequence set to that
//     message's stream sequence. If another node published in between,
//     JetStream refuses it and the broker reads the last message again
//     and retries: the topic's order is the stream's, and an offset is
//     never given twice. A Nats-Msg-Id makes a retried publish whose
//     first attempt did land a duplicate JetStream drops.
//   - An empty topic gets an epoch marker (offset 0, a new random epoch),
//     published the same way, so that a client that subscribed to an
//     empty topic holds a position it can recover from. When a topic's
//     whole history has expired, the next reader or publisher starts a
//     new epoch, and positions of the old one are not recoverable: that
//     is the truth, its messages are gone.
//   - Each node reads the stream with one ordered consumer from the
//     moment it starts (every topic; the Node drops those it has no
//     subscribers of). An ordered consumer that loses a message is
//     recreated from the last sequence it saw, so a node misses nothing
//     once started; what a client missed while its node was down it
//     recovers from history.
//   - Presence is a key-value bucket (PREFIX_presence, key TOPIC.ID)
//     whose entries expire after PresenceTTL unless the node that added
//     them refreshes them, so the clients of a node that died leave the
//     presence on their own. Join and leave events are core NATS
//     messages on PREFIX.ev.TOPIC.
//
// It builds wherever nats.go does: not on Plan 9.
package natsbroker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shoalnet/shoal/internal/jsonx"
	"github.com/shoalnet/shoal/pubsub"
)

// Config configures a Broker. Zero fields take the defaults.
type Config struct {
	// Prefix of the subjects, stream and bucket names (default "shoal").
	Prefix string
	// HistorySize is how many messages each topic keeps (default 100).
	HistorySize int
	// HistoryTTL is how long a message is kept (default 5 minutes).
	HistoryTTL time.Duration
	// Replicas of the stream and the bucket (default 1; 3 in a cluster
	// of three or more, so that a node of NATS may restart).
	Replicas int
	// MemoryStorage keeps the stream in memory instead of on disk.
	MemoryStorage bool
	// PresenceTTL is how long a presence entry lives without a refresh
	// (default 30s); the node refreshes its own every third of it.
	PresenceTTL time.Duration
	// MaxPresence bounds the presence entries this node holds per topic
	// (default 10,000).
	MaxPresence int
	// StartTimeout bounds New and Start, which wait for a cluster that is
	// still electing its leaders (default 60s).
	StartTimeout time.Duration
	// PublishAttempts bounds the retries of a publish that lost a race
	// with another node for its topic's next offset (default 50); each
	// retry waits a random time that grows with the attempts (backoff).
	PublishAttempts int
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "shoal"
	}
	if c.HistorySize <= 0 {
		c.HistorySize = 100
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = 5 * time.Minute
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.PresenceTTL <= 0 {
		c.PresenceTTL = 30 * time.Second
	}
	if c.MaxPresence <= 0 {
		c.MaxPresence = 10_000
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = time.Minute
	}
	if c.PublishAttempts <= 0 {
		c.PublishAttempts = 50
	}
}

// Headers of a message.
const (
	hOffset = "Shoal-Offset"
	hEpoch  = "Shoal-Epoch"
	hClient = "Shoal-Client"
)

// Broker is a pubsub.Broker on a NATS connection.
type Broker struct {
	cfg    Config
	nc     *nats.Conn
	own    bool // nc was dialled by Dial: Close closes it
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue

	d    pubsub.Deliverer
	cons jetstream.ConsumeContext
	ev   *nats.Subscription

	mu       sync.Mutex
	last     map[string]lastMsg           // topic → its last message seen (a cache; bounded)
	presence map[string]map[string][]byte // topic → id → entry, the ones this node added

	stop chan struct{}
	wg   sync.WaitGroup
}

// lastMsg is where a topic is: its last message's stream sequence and
// position.
type lastMsg struct {
	seq uint64
	pos pubsub.Position
}

// maxCached bounds the last-message cache; past it, it starts again.
const maxCached = 100_000

// Dial connects to the NATS servers at url (comma-separated) and returns
// a Broker that closes the connection with it. Servers that do not
// answer yet (a cluster starting with the application) are retried for
// up to Config.StartTimeout, and reconnected to for ever afterwards.
func Dial(url string, cfg Config) (*Broker, error) {
	nc, err := nats.Connect(url, nats.Name("shoal"), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("natsbroker: %w", err)
	}
	b, err := New(nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	b.own = true
	return b, nil
}

// New returns a Broker on nc, creating (or updating) its stream and
// bucket.
func New(nc *nats.Conn, cfg Config) (*Broker, error) {
	cfg.defaults()
	if err := pubsub.ValidTopic(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("natsbroker: prefix: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: %w", err)
	}
	// A cluster that is starting too (pods started together) may take a
	// while to elect its leaders: the calls are retried until StartTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	storage := jetstream.FileStorage
	if cfg.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	var st jetstream.Stream
	err = retry(ctx, func(ctx context.Context) (err error) {
		st, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:              cfg.Prefix + "_pub",
			Subjects:          []string{cfg.Prefix + ".pub.>"},
			MaxMsgsPerSubject: int64(cfg.HistorySize),
			MaxAge:            cfg.HistoryTTL,
			Discard:           jetstream.DiscardOld,
			Storage:           storage,
			Replicas:          cfg.Replicas,
			Duplicates:        2 * time.Minute,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: stream: %w", err)
	}
	var kv jetstream.KeyValue
	err = retry(ctx, func(ctx context.Context) (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   cfg.Prefix + "_presence",
			TTL:      cfg.PresenceTTL,
			Storage:  storage,
			Replicas: cfg.Replicas,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: presence bucket: %w", err)
	}
	return &Broker{
		cfg: cfg, nc: nc, js: js, stream: st, kv: kv,
		last:     make(map[string]lastMsg),
		presence: make(map[string]map[string][]byte),
		stop:     make(chan struct{}),
	}, nil
}

func (b *Broker) subject(topic string) string { return b.cfg.Prefix + ".pub." + topic }

// Start implements pubsub.Broker: the node's ordered consumer of the
// stream, from now on, and its subscription to presence events.
func (b *Broker) Start(d pubsub.Deliverer) error {
	b.d = d
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.StartTimeout)
	defer cancel()
	var cons jetstream.Consumer
	err := retry(ctx, func(ctx context.Context) (err error) {
		cons, err = b.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{b.cfg.Prefix + ".pub.>"},
			DeliverPolicy:  jetstream.DeliverNewPolicy,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("natsbroker: consumer: %w", err)
	}
	b.cons, err = cons.Consume(b.onMessage)
	if err != nil {
		return fmt.Errorf("natsbroker: consume: %w", err)
	}
	b.ev, err = b.nc.Subscribe(b.cfg.Prefix+".ev.*", b.onEvent)
	if err != nil {
		b.cons.Stop()
		return fmt.Errorf("natsbroker: events: %w", err)
	}
	b.wg.Go(b.refresh)
	return nil
}

// onMessage delivers one message of the stream, in stream order.
func (b *Broker) onMessage(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	p, err := b.publication(m.Subject(), md.Sequence.Stream, m.Headers(), m.Data(), md.Timestamp)
	if err != nil {
		return
	}
	b.remember(p.Topic, lastMsg{md.Sequence.Stream, p.Position()})
	if p.Offset > 0 { // not an epoch marker
		b.d.Deliver(p)
	}
}

// publication decodes a stored message.
func (b *Broker) publication(subject string, seq uint64, h nats.Header, data []byte, t time.Time) (*pubsub.Publication, error) {
	topic, ok := strings.CutPrefix(subject, b.cfg.Prefix+".pub.")
	if !ok {
		return nil, fmt.Errorf("natsbroker: subject %q", subject)
	}
	off, err := strconv.ParseUint(h.Get(hOffset), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: message %d: offset: %w", seq, err)
	}
	p := &pubsub.Publication{Topic: topic, Kind: pubsub.Message, Offset: off, Epoch: h.Get(hEpoch), Data: data, Time: t}
	if c := h.Get(hClient); c != "" {
		jsonx.Unmarshal([]byte(c), &p.Client)
	}
	return p, nil
}

func (b *Broker) remember(topic string, l lastMsg) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.last[topic]; ok && old.seq >= l.seq {
		return
	}
	if len(b.last) >= maxCached {
		clear(b.last)
	}
	b.last[topic] = l
}

// event is a presence event on the wire.
type event struct {
	Kind   pubsub.Kind       `json:"kind"`
	Client pubsub.ClientInfo `json:"client"`
	Time   int64             `json:"time"`
}

func (b *Broker) onEvent(m *nats.Msg) {
	topic := strings.TrimPrefix(m.Subject, b.cfg.Prefix+".ev.")
	var e event
	if err := jsonx.Unmarshal(m.Data, &e); err != nil || (e.Kind != pubsub.Join && e.Kind != pubsub.Leave) {
		return
	}
	b.d.Deliver(&pubsub.Publication{Topic: topic, Kind: e.Kind, Client: e.Client, Time: time.UnixMilli(e.Time)})
}

// Subscribe implements pubsub.Broker: the node's consumer has every
// topic already.
func (b *Broker) Subscribe(string) error { return nil }

// Unsubscribe implements pubsub.Broker.
func (b *Broker) Unsubscribe(string) error { return nil }

// Close implements pubsub.Broker.
func (b *Broker) Close() error {
	select {
	case <-b.stop:
		return nil
	default:
	}
	close(b.stop)
	b.wg.Wait()
	if b.cons != nil {
		b.cons.Stop()
	}
	if b.ev != nil {
		b.ev.Unsubscribe()
	}
	if b.own {
		b.nc.Close()
	}
	return nil
}

func newID() string {
	var r [12]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// wrongLast reports a refused Nats-Expected-Last-Subject-Sequence.
// backoff waits before a publish tries again after losing the race for
// its topic's next offset: a random time below 1 ms doubling with each
// attempt up to 16 ms, so that nodes racing for one topic spread out
// instead of colliding again, and none loses every time. It reports
// false if ctx ends first.
func backoff(ctx context.Context, attempt int) bool {
	t := time.NewTimer(time.Duration(mrand.Int64N(int64(time.Millisecond) << min(attempt-1, 4))))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func wrongLast(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && (ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// top reads the topic's last message from the stream (not the cache).
// An empty topic gets an epoch marker first.
func (b *Broker) top(ctx context.Context, topic string) (lastMsg, error) {
	for range b.cfg.PublishAttempts {
		var m *jetstream.RawStreamMsg
		err := retry(ctx, func(ctx context.Context) (err error) {
			m, err = b.stream.GetLastMsgForSubject(ctx, b.subject(topic))
			return err
		})
		if err == nil {
			p, err := b.publication(m.Subject, m.Sequence, m.Header, m.Data, m.Time)
			if err != nil {
				return lastMsg{}, err
			}
			l := lastMsg{m.Sequence, p.Position()}
			b.remember(topic, l)
			return l, nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return lastMsg{}, fmt.Errorf("natsbroker: %w", err)
		}
		// Empty: start an epoch. If another node does too, one wins and
		// the next read finds it.
		msg := nats.NewMsg(b.subject(topic))
		msg.Header.Set(hOffset, "0")
		msg.Header.Set(hEpoch, newID()[:16])
		var ack *jetstream.PubAck
		err = retry(ctx, func(ctx context.Context) (err error) {
			ack, err = b.js.PublishMsg(ctx, msg, jetstream.WithMsgID("epoch-"+msg.Header.Get(hEpoch)), jetstream.WithExpectLastSequencePerSubject(0))
			return err
		})
		switch {
		case err == nil:
			l := lastMsg{ack.Sequence, pubsub.Position{Offset: 0, Epoch: msg.Header.Get(hEpoch)}}
			b.remember(topic, l)
			return l, nil
		case !wrongLast(err):
			return lastMsg{}, fmt.Errorf("natsbroker: %w", err)
		}
	}
	return lastMsg{}, fmt.Errorf("natsbroker: %s: no stable last message after %d attempts", topic, b.cfg.PublishAttempts)
}

// Publish implements pubsub.Broker.
func (b *Broker) Publish(ctx context.Context, p *pubsub.Publication) (pubsub.Position, error) {
	if p.Kind != pubsub.Message {
		data, err := jsonx.Marshal(event{Kind: p.Kind, Client: p.Client, Time: p.Time.UnixMilli()})
		if err != nil {
			return pubsub.Position{}, err
		}
		return pubsub.Position{}, b.nc.Publish(b.cfg.Prefix+".ev."+p.Topic, data)
	}
	cj, err := jsonx.Marshal(p.Client)
	client := string(cj)
	if err != nil {
		return pubsub.Position{}, err
	}
	id := newID()
	b.mu.Lock()
	l, ok := b.last[p.Topic]
	b.mu.Unlock()
	for attempt := range b.cfg.PublishAttempts {
		if !ok {
			if attempt > 0 && !backoff(ctx, attempt) {
				return pubsub.Position{}, fmt.Errorf("natsbroker: %s: publish: %w", p.Topic, ctx.Err())
			}
			if l, err = b.top(ctx, p.Topic); err != nil {
				return pubsub.Position{}, err
			}
		}
		msg := nats.NewMsg(b.subject(p.Topic))
		msg.Data = p.Data
		msg.Header.Set(hOffset, strconv.FormatUint(l.pos.Offset+1, 10))
		msg.Header.Set(hEpoch, l.pos.Epoch)
		msg.Header.Set(hClient, client)
		var ack *jetstream.PubAck
		err := retry(ctx, func(ctx context.Context) (err error) {
			ack, err = b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectLastSequencePerSubject(l.seq))
			return err
		})
		switch {
		case err == nil && ack.Duplicate:
			// An earlier attempt landed: its position is in the stream.
			var m *jetstream.RawStreamMsg
			err := retry(ctx, func(ctx context.Context) (err error) {
				m, err = b.stream.GetMsg(ctx, ack.Sequence)
				return err
			})
			if err != nil {
				return pubsub.Position{}, fmt.Errorf("natsbroker: %w", err)
			}
			q, err := b.publication(m.Subject, m.Sequence, m.Header, m.Data, m.Time)
			if err != nil {
				return pubsub.Position{}, err
			}
			return q.Position(), nil
		case err == nil:
			pos := pubsub.Position{Offset: l.pos.Offset + 1, Epoch: l.pos.Epoch}
			b.remember(p.Topic, lastMsg{ack.Sequence, pos})
			return pos, nil
		case wrongLast(err):
			ok = false // another node published: read the topic again
		default:
			return pubsub.Position{}, fmt.Errorf("natsbroker: publish: %w", err)
		}
	}
	return pubsub.Position{}, fmt.Errorf("natsbroker: %s: publish lost the race %d times", p.Topic, b.cfg.PublishAttempts)
}

// History implements pubsub.Broker: the topic's messages (at most
// HistorySize are kept) through a short-lived ordered consumer.
func (b *Broker) History(ctx context.Context, topic string, since *pubsub.Position, limit int) ([]*pubsub.Publication, pubsub.Position, error) {
	l, err := b.top(ctx, topic)
	if err != nil {
		return nil, pubsub.Position{}, err
	}
	top := l.pos
	if since != nil {
		switch {
		case since.Epoch != top.Epoch || since.Offset > top.Offset || top.Offset-since.Offset > uint64(max(limit, 0)):
			return nil, top, pubsub.ErrCannotRecover
		case since.Offset == top.Offset:
			return nil, top, nil
		}
	} else if limit <= 0 || top.Offset == 0 {
		return nil, top, nil
	}
	var all []*pubsub.Publication
	err = retry(ctx, func(ctx context.Context) error {
		all = all[:0]
		cons, err := b.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects:    []string{b.subject(topic)},
			DeliverPolicy:     jetstream.DeliverAllPolicy,
			InactiveThreshold: 10 * time.Second,
		})
		if err != nil {
			return err
		}
		batch, err := cons.FetchNoWait(b.cfg.HistorySize + 1)
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil || md.Sequence.Stream > l.seq {
				continue // published after top was read: live delivery brings it
			}
			p, err := b.publication(m.Subject(), md.Sequence.Stream, m.Headers(), m.Data(), md.Timestamp)
			if err != nil || p.Offset == 0 || p.Epoch != top.Epoch {
				continue
			}
			all = append(all, p)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, top, fmt.Errorf("natsbroker: history: %w", err)
	}
	if since == nil {
		return all[max(0, len(all)-limit):], top, nil
	}
	// Everything after since must be there, without a gap.
	for i, p := range all {
		if p.Offset == since.Offset+1 {
			if uint64(len(all)-i) != top.Offset-since.Offset {
				return nil, top, pubsub.ErrCannotRecover
			}
			return all[i:], top, nil
		}
	}
	return nil, top, pubsub.ErrCannotRecover
}

// presenceKey is the bucket's key for a client in a topic (IDs are
// encoded to the characters keys allow).
func presenceKey(topic, id string) string {
	return topic + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// AddPresence implements pubsub.Broker.
func (b *Broker) AddPresence(ctx context.Context, topic string, c pubsub.ClientInfo) error {
	v, err := jsonx.Marshal(c)
	if err != nil {
		return err
	}
	b.mu.Lock()
	m := b.presence[topic]
	if _, ok := m[c.ID]; !ok && len(m) >= b.cfg.MaxPresence {
		b.mu.Unlock()
		return &pubsub.LimitError{What: "clients in a presence on this node", Limit: b.cfg.MaxPresence}
	}
	if m == nil {
		m = make(map[string][]byte)
		b.presence[topic] = m
	}
	m[c.ID] = v
	b.mu.Unlock()
	if err := retry(ctx, func(ctx context.Context) error { _, err := b.kv.Put(ctx, presenceKey(topic, c.ID), v); return err }); err != nil {
		return fmt.Errorf("natsbroker: presence: %w", err)
	}
	return nil
}

// RemovePresence implements pubsub.Broker.
func (b *Broker) RemovePresence(ctx context.Context, topic string, id string) error {
	b.mu.Lock()
	if m := b.presence[topic]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(b.presence, topic)
		}
	}
	b.mu.Unlock()
	err := retry(ctx, func(ctx context.Context) error { return b.kv.Delete(ctx, presenceKey(topic, id)) })
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("natsbroker: presence: %w", err)
	}
	return nil
}

// Presence implements pubsub.Broker: the bucket's entries of the topic.
// It reads the replica the watch is served from, so a change made through
// another node shows once that replica has applied it (in a healthy
// cluster, within milliseconds), not always by the time the change's call
// has returned.
func (b *Broker) Presence(ctx context.Context, topic string) ([]pubsub.ClientInfo, error) {
	var out []pubsub.ClientInfo
	err := retry(ctx, func(ctx context.Context) error {
		out = out[:0]
		w, err := b.kv.Watch(ctx, topic+".*", jetstream.IgnoreDeletes())
		if err != nil {
			return err
		}
		defer w.Stop()
		for {
			select {
			case e := <-w.Updates():
				if e == nil { // the end of the current entries
					return nil
				}
				var c pubsub.ClientInfo
				if jsonx.Unmarshal(e.Value(), &c) == nil {
					out = append(out, c)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: presence: %w", err)
	}
	return out, nil
}

// refresh re-puts this node's presence entries every third of their TTL.
func (b *Broker) refresh() {
	t := time.NewTicker(b.cfg.PresenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		b.mu.Lock()
		var keys [][2]string
		for topic, m := range b.presence {
			for id := range m {
				keys = append(keys, [2]string{topic, id})
			}
		}
		b.mu.Unlock()
		for _, k := range keys {
			b.mu.Lock()
			v, ok := b.presence[k[0]][k[1]] // not removed meanwhile
			b.mu.Unlock()
			if ok {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				b.kv.Put(ctx, presenceKey(k[0], k[1]), v)
				cancel()
			}
		}
	}
}
