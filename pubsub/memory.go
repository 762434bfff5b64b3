package pubsub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// MemoryConfig configures a Memory broker. Zero fields take the defaults.
type MemoryConfig struct {
	// HistorySize is how many messages each topic keeps (default 100;
	// negative: none).
	HistorySize int
	// HistoryTTL is how long a message stays in the history (default 5
	// minutes; negative: until pushed out by HistorySize).
	HistoryTTL time.Duration
	// MaxTopics bounds the topics with a history or a presence (default
	// 100,000). A topic whose history has expired and whose presence is
	// empty is forgotten when room is needed, and starts a new epoch.
	MaxTopics int
	// MaxPresence bounds the clients in one topic's presence (default
	// 10,000).
	MaxPresence int
}

func (c *MemoryConfig) defaults() {
	if c.HistorySize == 0 {
		c.HistorySize = 100
	}
	if c.HistoryTTL == 0 {
		c.HistoryTTL = 5 * time.Minute
	}
	if c.MaxTopics <= 0 {
		c.MaxTopics = 100_000
	}
	if c.MaxPresence <= 0 {
		c.MaxPresence = 10_000
	}
}

// Memory is the broker of a single node: topics, histories and presence
// in this process. Publish delivers synchronously, under the topic's
// lock, so each topic's messages reach the Node in offset order.
type Memory struct {
	cfg MemoryConfig
	d   Deliverer
	now func() time.Time

	mu     sync.Mutex
	topics map[string]*memTopic
}

type memTopic struct {
	mu       sync.Mutex
	epoch    string
	offset   uint64         // the last message's
	hist     []*Publication // a ring of the last messages
	head, n  int            // the oldest message's index in hist, and the count
	presence map[string]ClientInfo
}

// NewMemory returns a Memory broker.
func NewMemory(cfg MemoryConfig) *Memory {
	cfg.defaults()
	return &Memory{cfg: cfg, now: time.Now, topics: make(map[string]*memTopic)}
}

// Start implements Broker.
func (m *Memory) Start(d Deliverer) error { m.d = d; return nil }

// Subscribe implements Broker: one node has every topic.
func (m *Memory) Subscribe(string) error { return nil }

// Unsubscribe implements Broker.
func (m *Memory) Unsubscribe(string) error { return nil }

// Close implements Broker.
func (m *Memory) Close() error { return nil }

// newEpoch returns a random epoch name.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// topic returns the topic's state, made if need be; nil when MaxTopics
// topics are in use.
func (m *Memory) topic(name string) *memTopic {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.topics[name]; t != nil {
		return t
	}
	if len(m.topics) >= m.cfg.MaxTopics {
		m.sweep()
		if len(m.topics) >= m.cfg.MaxTopics {
			return nil
		}
	}
	t := &memTopic{epoch: newEpoch()}
	if m.cfg.HistorySize > 0 {
		t.hist = make([]*Publication, m.cfg.HistorySize)
	}
	m.topics[name] = t
	return t
}

// sweep forgets the topics with nothing kept. m.mu is held.
func (m *Memory) sweep() {
	now := m.now()
	for name, t := range m.topics {
		t.mu.Lock()
		t.expire(now, m.cfg.HistoryTTL)
		empty := t.n == 0 && len(t.presence) == 0
		t.mu.Unlock()
		if empty {
			delete(m.topics, name)
		}
	}
}

// expire drops the messages older than ttl. t.mu is held.
func (t *memTopic) expire(now time.Time, ttl time.Duration) {
	if ttl < 0 {
		return
	}
	for t.n > 0 && now.Sub(t.hist[t.head].Time) > ttl {
		t.hist[t.head] = nil
		t.head = (t.head + 1) % len(t.hist)
		t.n--
	}
}

// Publish implements Broker.
func (m *Memory) Publish(_ context.Context, p *Publication) (Position, error) {
	if p.Kind != Message {
		m.d.Deliver(p)
		return Position{}, nil
	}
	t := m.topic(p.Topic)
	if t == nil {
		return Position{}, &LimitError{"topics", m.cfg.MaxTopics}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.offset++
	p.Offset, p.Epoch, p.Time = t.offset, t.epoch, m.now()
	if len(t.hist) > 0 {
		if t.n == len(t.hist) {
			t.head = (t.head + 1) % len(t.hist)
			t.n--
		}
		t.hist[(t.head+t.n)%len(t.hist)] = p
		t.n++
	}
	m.d.Deliver(p)
	return p.Position(), nil
}

// History implements Broker.
func (m *Memory) History(_ context.Context, topic string, since *Position, limit int) ([]*Publication, Position, error) {
	t := m.topic(topic)
	if t == nil {
		return nil, Position{}, &LimitError{"topics", m.cfg.MaxTopics}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(m.now(), m.cfg.HistoryTTL)
	top := Position{t.offset, t.epoch}
	from := t.offset - uint64(t.n) + 1 // the oldest offset kept
	switch {
	case since == nil:
		if n := uint64(max(limit, 0)); t.offset-from+1 > n {
			from = t.offset - n + 1
		}
	case since.Epoch != t.epoch || since.Offset > t.offset || since.Offset+1 < from || t.offset-since.Offset > uint64(max(limit, 0)):
		return nil, top, ErrCannotRecover
	default:
		from = since.Offset + 1
	}
	var out []*Publication
	for o := from; o <= t.offset; o++ {
		out = append(out, t.hist[(t.head+int(o-(t.offset-uint64(t.n)+1)))%len(t.hist)])
	}
	return out, top, nil
}

// AddPresence implements Broker.
func (m *Memory) AddPresence(_ context.Context, topic string, c ClientInfo) error {
	t := m.topic(topic)
	if t == nil {
		return &LimitError{"topics", m.cfg.MaxTopics}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.presence[c.ID]; !ok && len(t.presence) >= m.cfg.MaxPresence {
		return &LimitError{"clients in a presence", m.cfg.MaxPresence}
	}
	if t.presence == nil {
		t.presence = make(map[string]ClientInfo)
	}
	t.presence[c.ID] = c
	return nil
}

// RemovePresence implements Broker.
func (m *Memory) RemovePresence(_ context.Context, topic string, id string) error {
	m.mu.Lock()
	t := m.topics[topic]
	m.mu.Unlock()
	if t != nil {
		t.mu.Lock()
		delete(t.presence, id)
		t.mu.Unlock()
	}
	return nil
}

// Presence implements Broker.
func (m *Memory) Presence(_ context.Context, topic string) ([]ClientInfo, error) {
	m.mu.Lock()
	t := m.topics[topic]
	m.mu.Unlock()
	if t == nil {
		return nil, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ClientInfo, 0, len(t.presence))
	for _, c := range t.presence {
		out = append(out, c)
	}
	return out, nil
}
