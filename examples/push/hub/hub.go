package hub

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/examples/push/proto"
)

// Sink is a subscriber's connection as the hub uses it; server.Conn
// implements it. Both methods must be safe for concurrent use.
type Sink interface {
	// Wake asks the connection's loop to call the handler's OnWake, which
	// calls Subscriber.Flush. Calls before the loop gets to it collapse
	// into one.
	Wake()
	// Close closes the connection.
	Close() error
}

// Writer is what Hub.Flush and Hub.Goodbye write to: the subscriber's own
// connection, inside its callbacks (server.Conn implements it).
type Writer interface {
	// TryWrite queues p unless the connection's queue or the server's
	// memory budget has no room for it; then it returns an error, and the
	// connection's OnWritable runs once there is room again.
	TryWrite(p []byte) (int, error)
	// Writev queues every buffer, whatever the room (Goodbye's last write).
	Writev(bufs [][]byte) (int, error)
}

// Hub maps topics to subscribers. It is safe for concurrent use; the
// per-subscriber rules are on Subscriber.
//
// Lock order: Hub.gate, then Hub.mu, then topic.mu, then Subscriber.mu.
// Publish holds gate for reading from its check to its last enqueue, takes
// Hub.mu for reading only, and no other lock but the subscribers' once a
// topic's subscriber snapshot is current.
type Hub struct {
	enc  codec.Encoder
	opts options

	gate     sync.RWMutex // held for reading by Publish; Drain takes it to wait out publishes in flight
	draining bool         // guarded by gate: Publish fails with ErrDraining
	drained  atomic.Bool  // draining is set: a fast path for the later Drain calls

	mu     sync.RWMutex      // guards topics
	topics map[string]*topic // topics with at least one subscriber

	publishes  atomic.Uint64
	encodes    atomic.Uint64
	delivered  atomic.Uint64
	dropped    atomic.Uint64
	slowClosed atomic.Uint64
	flushes    atomic.Uint64
	flushed    atomic.Uint64
	subs       atomic.Int64
}

// topic is one topic's subscriber set.
type topic struct {
	seq atomic.Uint64 // the last sequence number handed out

	mu   sync.Mutex                    // guards subs and rebuilding snap
	subs map[*Subscriber]struct{}      // current subscribers
	snap atomic.Pointer[[]*Subscriber] // immutable list of subs; nil after a change
}

// Subscriber is one connection's subscriptions and the messages waiting
// for its loop. Hub.Subscribe, Hub.Unsubscribe, Hub.Leave, Hub.Flush and
// Hub.Goodbye for one Subscriber must not run concurrently (a connection's
// callbacks never do); Publish may run at any time. After Goodbye a
// Subscriber gets no more messages: do not subscribe it again.
type Subscriber struct {
	sink   Sink
	topics map[string]*topic // owned by the subscriber's connection

	mu       sync.Mutex // guards pending, pendingN and gone
	pending  [][]byte   // MSG frames not yet handed to the connection, oldest first
	pendingN int        // bytes in pending
	gone     bool       // Goodbye took the last pending messages: nothing is queued from then on
	spare    [][]byte   // the previous pending slice, reused; owned by Flush

	dropped atomic.Uint64
	closed  atomic.Bool // closed by the pending limit; skipped from then on
}

// Stats is a snapshot of the hub's counters.
type Stats struct {
	Topics        int    // topics with at least one subscriber
	Subscriptions int64  // subscriber-topic pairs
	Publishes     uint64 // successful Publish calls
	Encodes       uint64 // MSG frames encoded: one per publish that had subscribers
	Delivered     uint64 // MSG frames queued for a subscriber
	Dropped       uint64 // MSG frames skipped for a subscriber above its pending limit (DropMessage)
	SlowClosed    uint64 // subscribers closed above their pending limit (CloseSubscriber)
	Flushes       uint64 // Subscriber.Flush calls that wrote something
	Flushed       uint64 // MSG frames written by Flush
}

// New returns a hub that frames MSG bodies with enc (the server's codec).
// It checks that enc can frame the largest MSG: one with a topic of
// proto.MaxTopic bytes and a payload of WithMaxPayload bytes.
func New(enc codec.Encoder, opts ...Option) (*Hub, error) {
	if enc == nil {
		return nil, errors.New("hub: nil encoder")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if _, err := enc.AppendFrame(nil, make([]byte, proto.MaxOverhead+o.maxPayload)); err != nil {
		return nil, fmt.Errorf("hub: the codec cannot frame a MSG with a %d-byte payload: %w", o.maxPayload, err)
	}
	return &Hub{enc: enc, opts: o, topics: make(map[string]*topic)}, nil
}

// NewSubscriber returns the subscriber for a connection, with no
// subscriptions.
func (h *Hub) NewSubscriber(sink Sink) *Subscriber {
	return &Subscriber{sink: sink, topics: make(map[string]*topic)}
}

// Subscribe adds s to the topic and returns the topic's number of
// subscribers afterwards. Messages published after it returns reach s.
func (h *Hub) Subscribe(s *Subscriber, name string) (int, error) {
	switch {
	case !proto.ValidTopic(name):
		return 0, ErrBadTopic
	case s.topics[name] != nil:
		return 0, ErrAlreadySubscribed
	case len(s.topics) >= h.opts.maxTopics:
		return 0, ErrTooManyTopics
	}
	h.mu.Lock()
	t := h.topics[name]
	if t == nil {
		t = &topic{subs: make(map[*Subscriber]struct{})}
		h.topics[name] = t
	}
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.snap.Store(nil)
	n := len(t.subs)
	t.mu.Unlock()
	h.mu.Unlock()
	s.topics[name] = t
	h.subs.Add(1)
	return n, nil
}

// Unsubscribe removes s from the topic and returns the topic's number of
// subscribers afterwards. A message published concurrently may still
// reach s after Unsubscribe has returned.
func (h *Hub) Unsubscribe(s *Subscriber, name string) (int, error) {
	t := s.topics[name]
	if t == nil {
		if !proto.ValidTopic(name) {
			return 0, ErrBadTopic
		}
		return 0, ErrNotSubscribed
	}
	delete(s.topics, name)
	return h.remove(s, name, t), nil
}

// Leave removes s from all its topics; call it when the connection closes.
func (h *Hub) Leave(s *Subscriber) {
	for name, t := range s.topics {
		h.remove(s, name, t)
	}
	clear(s.topics)
}

// remove takes s out of t and drops t from the map when it is empty.
func (h *Hub) remove(s *Subscriber, name string, t *topic) int {
	h.mu.Lock()
	t.mu.Lock()
	delete(t.subs, s)
	t.snap.Store(nil)
	n := len(t.subs)
	t.mu.Unlock()
	if n == 0 && h.topics[name] == t {
		delete(h.topics, name)
	}
	h.mu.Unlock()
	h.subs.Add(-1)
	return n
}

// Publish sends payload to the subscribers of the topic and returns how
// many it was queued for. The MSG frame is encoded once, stamped with the
// topic's next sequence number and the time, and the same slice is queued
// for every subscriber, whose loop is woken to write it (Subscriber.Flush).
// Publish does not keep topic or payload. It may be called from any
// goroutine and does not block on subscribers. After Drain it fails with
// ErrDraining.
//
// Messages of one publisher (one goroutine, or one connection's callbacks)
// reach every subscriber in the order published. Messages of concurrent
// publishers to one topic interleave in no fixed order, so sequence numbers
// increase per publisher but not necessarily across publishers.
func (h *Hub) Publish(name, payload []byte) (int, error) {
	switch {
	case !proto.ValidTopic(name):
		return 0, ErrBadTopic
	case len(payload) > h.opts.maxPayload:
		return 0, ErrPayloadTooLarge
	}
	h.gate.RLock()
	defer h.gate.RUnlock()
	if h.draining {
		return 0, ErrDraining
	}
	h.publishes.Add(1)
	h.mu.RLock()
	t := h.topics[string(name)]
	h.mu.RUnlock()
	if t == nil {
		return 0, nil
	}
	subs := t.snapshot()
	if len(subs) == 0 {
		return 0, nil
	}
	frame, err := h.encode(t.seq.Add(1), name, payload)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range subs {
		if h.enqueue(s, frame) {
			n++
		}
	}
	h.delivered.Add(uint64(n))
	return n, nil
}

// enqueue adds frame to s's pending messages and wakes s's loop if they
// were empty. It applies the pending limit and reports whether frame was
// queued.
func (h *Hub) enqueue(s *Subscriber, frame []byte) bool {
	if s.closed.Load() {
		return false
	}
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return false
	}
	if s.pendingN > 0 && s.pendingN+len(frame) > h.opts.maxPending {
		s.mu.Unlock()
		h.overLimit(s)
		return false
	}
	s.pending = append(s.pending, frame)
	s.pendingN += len(frame)
	first := len(s.pending) == 1
	s.mu.Unlock()
	if first {
		s.sink.Wake() // a closed connection, which Leave removes, ignores it
	}
	return true
}

// Flush writes the messages pending for s to w, its connection, one
// TryWrite each, until the connection has no room: call it from the
// connection's OnWake and OnWritable. What does not fit stays pending, in
// order before what is published meanwhile, and counts against the
// pending limit; the connection's OnWritable says when to flush again.
// So the connection's queue holds copies of at most what it has room for,
// and the rest waits here as the one shared frame of each message. Flush
// returns the error of the write that did not fit (nil when all did).
func (h *Hub) Flush(s *Subscriber, w Writer) error {
	s.mu.Lock()
	batch := s.pending
	s.pending, s.pendingN = s.spare[:0], 0
	s.mu.Unlock()
	var err error
	k := 0
	for ; k < len(batch); k++ {
		if _, err = w.TryWrite(batch[k]); err != nil { // copies the frame into the connection's queue
			break
		}
	}
	if k > 0 {
		h.flushes.Add(1)
		h.flushed.Add(uint64(k))
	}
	if k < len(batch) {
		h.putBack(s, batch, k)
		return err
	}
	clear(batch) // drop the references to the shared frames
	s.keepSpare(batch)
	return nil
}

// spareMax is the most entries a subscriber's spare pending slice keeps:
// a backlog's larger array goes once it is flushed, so that 5,000
// subscribers do not each hold two arrays as large as their largest
// backlog.
const spareMax = 64

// keepSpare keeps b's array for the next pending list unless it is large.
func (s *Subscriber) keepSpare(b [][]byte) {
	if cap(b) > spareMax {
		b = nil
	}
	s.spare = b[:0]
}

// putBack returns batch[k:], taken by Flush and not written, to the head
// of s's pending messages, before those published since.
func (h *Hub) putBack(s *Subscriber, batch [][]byte, k int) {
	n := 0
	for _, f := range batch[k:] {
		n += len(f)
	}
	rest := append(batch[:0], batch[k:]...)
	clear(batch[len(rest):])
	s.mu.Lock()
	newer := s.pending
	s.pending = append(rest, newer...)
	s.pendingN += n
	s.mu.Unlock()
	clear(newer)
	s.keepSpare(newer)
}

// Drain stops the hub accepting publishes, for a graceful shutdown: Publish
// fails with ErrDraining from then on. Drain returns once every publish in
// flight has queued its message for all its subscribers, so a publish that
// succeeded (and was acknowledged) is pending for, or written to, each of
// them. It may block that long, which is short: a publish never waits for
// a subscriber. Later calls return at once. Safe for concurrent use.
func (h *Hub) Drain() {
	if h.drained.Load() {
		return
	}
	h.gate.Lock()
	h.draining = true
	h.drained.Store(true)
	h.gate.Unlock()
}

// Goodbye writes the messages pending for s to w, its connection, and
// removes s from all its topics: call it from the connection's loop when
// the server says goodbye (OnGoodbye), then write the goodbye frame. The
// pending messages are taken, and s marked gone, under the lock Publish
// holds to queue a message for s, so nothing is queued for s afterwards:
// every message queued for s is in this write or an earlier one. Like
// Flush and Leave, Goodbye must not run concurrently with the other
// calls for s. It returns the error of the write.
func (h *Hub) Goodbye(s *Subscriber, w Writer) error {
	s.mu.Lock()
	batch := s.pending
	s.pending, s.pendingN, s.gone = nil, 0, true
	s.mu.Unlock()
	h.Leave(s)
	if len(batch) == 0 {
		return nil
	}
	_, err := w.Writev(batch)
	h.flushes.Add(1)
	h.flushed.Add(uint64(len(batch)))
	clear(batch)
	s.spare = nil
	return err
}

// encode returns a new slice holding the framed MSG. It is never modified
// afterwards: every subscriber's loop reads it.
func (h *Hub) encode(seq uint64, name, payload []byte) ([]byte, error) {
	h.encodes.Add(1)
	size := proto.MsgSize(len(name), len(payload))
	bp := bodyPool.Get().(*[]byte)
	body := proto.AppendMsg((*bp)[:0], seq, h.opts.now(), name, payload)
	frame, err := h.enc.AppendFrame(make([]byte, 0, size+16), body)
	*bp = body
	bodyPool.Put(bp)
	return frame, err
}

// bodyPool holds scratch buffers for MSG bodies before framing.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// overLimit applies the pending-limit policy to s.
func (h *Hub) overLimit(s *Subscriber) {
	if h.opts.overLimit == DropMessage {
		s.dropped.Add(1)
		h.dropped.Add(1)
		return
	}
	if s.closed.CompareAndSwap(false, true) {
		h.slowClosed.Add(1)
		s.sink.Close()
	}
}

// snapshot returns the current subscribers, rebuilding the list after a
// change.
func (t *topic) snapshot() []*Subscriber {
	if p := t.snap.Load(); p != nil {
		return *p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.snap.Load(); p != nil {
		return *p
	}
	list := make([]*Subscriber, 0, len(t.subs))
	for s := range t.subs {
		list = append(list, s)
	}
	t.snap.Store(&list)
	return list
}

// Subscribers returns the number of subscribers of a topic (presence).
func (h *Hub) Subscribers(name string) int {
	h.mu.RLock()
	t := h.topics[name]
	h.mu.RUnlock()
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subs)
}

// Stats returns a snapshot of the counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	topics := len(h.topics)
	h.mu.RUnlock()
	return Stats{
		Topics:        topics,
		Subscriptions: h.subs.Load(),
		Publishes:     h.publishes.Load(),
		Encodes:       h.encodes.Load(),
		Delivered:     h.delivered.Load(),
		Dropped:       h.dropped.Load(),
		SlowClosed:    h.slowClosed.Load(),
		Flushes:       h.flushes.Load(),
		Flushed:       h.flushed.Load(),
	}
}

// Topics returns the number of topics s is subscribed to. Like Subscribe,
// it must not run concurrently with changes to s.
func (s *Subscriber) Topics() int { return len(s.topics) }

// Dropped returns how many messages were skipped for s under DropMessage.
func (s *Subscriber) Dropped() uint64 { return s.dropped.Load() }
