package pubsub

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/loop"
)

// Client is one connection's side of pub/sub: a WebSocket, an SSE
// stream. Its methods are called on its loop.
type Client interface {
	// Loop is the loop the client lives on; all the Node's calls about it
	// are made there.
	Loop() *loop.Loop
	// Info says who the client is (presence, publisher of a message).
	Info() ClientInfo
	// Queued is how many bytes are waiting to be sent to the client.
	Queued() int
	// Deliver queues p for the client, usually p.Frame(encoding) by
	// reference.
	Deliver(p *Publication)
	// Disconnect closes the client for err (ErrSlow, ErrLost) with a
	// reason it can read; the Node forgets it at once, as for Leave.
	Disconnect(err error)
}

// Config configures a Node. Zero fields take the defaults.
type Config struct {
	// MaxTopicsPerClient bounds one client's subscriptions (default 64).
	MaxTopicsPerClient int
	// MaxSubscribersPerTopic bounds a topic's subscribers on this node
	// (default 1,000,000).
	MaxSubscribersPerTopic int
	// MaxMessage bounds a published payload (default 64 KiB).
	MaxMessage int
	// MaxQueued is how many bytes may wait to be sent to a subscriber
	// before a publication finds it slow and disconnects it with ErrSlow
	// (default 1 MiB).
	MaxQueued int
	// HistoryLimit bounds the messages sent on a subscribe, whether last
	// ones asked for or missed ones recovered (default 1,000).
	HistoryLimit int
	// MaxPending bounds the publications waiting for one loop; past it
	// the subscribers there of the topics whose publications could not
	// wait are disconnected with ErrLost (default 65,536).
	MaxPending int
	// Workers is how many broker calls (subscribe, history, presence,
	// publish) run at once (default 64); WorkQueue how many may wait
	// (default 16,384); past it a call fails with ErrBusy.
	Workers, WorkQueue int
	// MaxPublishesInFlight bounds one client's unanswered publishes
	// (default 16).
	MaxPublishesInFlight int
	// BrokerTimeout bounds each broker call (default 10s).
	BrokerTimeout time.Duration
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxTopicsPerClient, 64)
	def(&c.MaxSubscribersPerTopic, 1_000_000)
	def(&c.MaxMessage, 64<<10)
	def(&c.MaxQueued, 1<<20)
	def(&c.HistoryLimit, 1000)
	def(&c.MaxPending, 1<<16)
	def(&c.Workers, 64)
	def(&c.WorkQueue, 1<<14)
	def(&c.MaxPublishesInFlight, 16)
	if c.BrokerTimeout <= 0 {
		c.BrokerTimeout = 10 * time.Second
	}
}

// SubscribeOptions says what a subscribe asks for besides live
// publications.
type SubscribeOptions struct {
	// Since recovers the messages after this position (a reconnecting
	// client's last one). When they cannot all be recovered, the last
	// History messages are sent instead and Recovered is false.
	Since *Position
	// History sends the topic's last messages, at most this many (and at
	// most Config.HistoryLimit), when Since is nil.
	History int
	// Presence enters the client in the topic's presence (others get a
	// Join, and a Leave when it goes) and returns who is there.
	Presence bool
}

// SubscribeResult is what a subscribe found. The client's subscribe
// callback runs before the first publication is delivered.
type SubscribeResult struct {
	Position  Position     // the topic's position when history was read
	Recovered bool         // Since was given and every message after it follows
	Presence  []ClientInfo // with SubscribeOptions.Presence
	History   int          // how many messages from history follow
}

// Stats counts what a Node did.
type Stats struct {
	Subscribers  int64 // subscriptions now
	Topics       int64 // topics with subscribers on this node now
	Published    int64 // messages published through this node
	Delivered    int64 // publications handed to clients
	Slow         int64 // clients disconnected with ErrSlow
	Lost         int64 // clients disconnected with ErrLost
	Unrecovered  int64 // subscribes whose Since could not be recovered
	BrokerErrors int64
}

// Node is the pub/sub of one server. Publications reach it from its
// broker (Deliver), and it fans each one out store-once, sharded by loop:
// one entry in the inbox of every loop that has subscribers of the topic,
// and that loop, on its own goroutine and without a lock per subscriber,
// hands the same Publication, and so the same Frame of each encoding, to
// every subscriber it has. Subscribe, Unsubscribe, PublishFrom and Leave
// are called on the client's loop; broker calls run on the Node's
// workers, never on a loop.
type Node struct {
	b   Broker
	cfg Config

	mu     sync.Mutex // guards topics, shards, encodings
	topics map[string]*topicState
	shards map[*loop.Loop]*shard
	encs   int

	interest sync.Mutex      // serializes the broker's Subscribe/Unsubscribe
	told     map[string]bool // the topics the broker was told of (under interest)

	work   chan func()
	quit   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool

	drain struct {
		sync.Mutex
		on       bool
		inflight int           // publishes accepted and not yet answered by the broker
		idle     chan struct{} // closed once on and inflight is 0
	}

	stats struct {
		subscribers, published, delivered, slow, lost, unrecovered, brokerErrors atomic.Int64
	}
}

// topicState is a topic with subscribers on this node.
type topicState struct {
	subs   int
	shards []shardCount
	last   Position // the last message delivered, to find gaps
}

type shardCount struct {
	sh *shard
	n  int
}

// NewNode starts a Node on b.
func NewNode(b Broker, cfg Config) (*Node, error) {
	cfg.defaults()
	n := &Node{
		b: b, cfg: cfg,
		topics: make(map[string]*topicState),
		shards: make(map[*loop.Loop]*shard),
		told:   make(map[string]bool),
		work:   make(chan func(), cfg.WorkQueue),
		quit:   make(chan struct{}),
	}
	if err := b.Start(n); err != nil {
		return nil, err
	}
	for range cfg.Workers {
		n.wg.Go(n.worker)
	}
	return n, nil
}

func (n *Node) worker() {
	for {
		select {
		case f := <-n.work:
			f()
		case <-n.quit:
			return
		}
	}
}

// async runs f on a worker, or fails with ErrBusy or ErrClosed.
func (n *Node) async(f func(ctx context.Context)) error {
	if n.closed.Load() {
		return ErrClosed
	}
	select {
	case n.work <- func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.BrokerTimeout)
		defer cancel()
		f(ctx)
	}:
		return nil
	default:
		return ErrBusy
	}
}

// Close refuses new calls, lets the workers finish those queued (the
// presence removals and leave events of the last clients to go, among
// them) for up to Config.BrokerTimeout, stops them and closes the
// broker. Drain the server first: clients still connected get nothing
// more.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	deadline := time.Now().Add(n.cfg.BrokerTimeout)
	for len(n.work) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(n.quit)
	n.wg.Wait()
	return n.b.Close()
}

// Encoding registers a wire form of publications (at most 4 per Node).
func (n *Node) Encoding(encode func(*Publication) Frame) *Encoding {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.encs == maxEncodings {
		panic("pubsub: more than 4 encodings")
	}
	n.encs++
	return &Encoding{id: n.encs - 1, encode: encode}
}

// Stats returns the Node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	topics := len(n.topics)
	n.mu.Unlock()
	s := &n.stats
	return Stats{
		Subscribers: s.subscribers.Load(), Topics: int64(topics),
		Published: s.published.Load(), Delivered: s.delivered.Load(),
		Slow: s.slow.Load(), Lost: s.lost.Load(), Unrecovered: s.unrecovered.Load(),
		BrokerErrors: s.brokerErrors.Load(),
	}
}

// Publish publishes data (copied) on topic as from, and returns once the
// broker has stored it. It blocks on the broker: call it from a
// goroutine of your own, never from a loop (there, use PublishFrom).
func (n *Node) Publish(ctx context.Context, topic string, data []byte, from ClientInfo) (Position, error) {
	if err := ValidTopic(topic); err != nil {
		return Position{}, err
	}
	if len(data) > n.cfg.MaxMessage {
		return Position{}, &LimitError{"message size", n.cfg.MaxMessage}
	}
	if err := n.startPublish(); err != nil {
		return Position{}, err
	}
	defer n.endPublish()
	pos, err := n.b.Publish(ctx, &Publication{Topic: topic, Kind: Message, Data: bytes.Clone(data), Client: from})
	if err != nil {
		n.stats.brokerErrors.Add(1)
		return pos, err
	}
	n.stats.published.Add(1)
	return pos, nil
}

// Presence returns who is in topic's presence. It blocks on the broker,
// like Publish.
func (n *Node) Presence(ctx context.Context, topic string) ([]ClientInfo, error) {
	return n.b.Presence(ctx, topic)
}

// Deliver implements Deliverer: the broker hands the Node each
// publication once, and the Node queues it on every loop with
// subscribers of its topic.
func (n *Node) Deliver(p *Publication) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.topics[p.Topic]
	if t == nil {
		return
	}
	lost := false
	if p.Kind == Message {
		if t.last.Epoch == p.Epoch && t.last.Offset != 0 {
			switch {
			case p.Offset <= t.last.Offset:
				return // a broker's redelivery
			case p.Offset != t.last.Offset+1:
				lost = true // a gap: the subscribers here missed some
			}
		}
		t.last = p.Position()
	}
	p.refs.Store(int32(len(t.shards)))
	for _, sc := range t.shards {
		sc.sh.push(p, lost)
	}
}

// shardOf returns l's shard, made on first use. n.mu is held.
func (n *Node) shardOf(l *loop.Loop) *shard {
	sh := n.shards[l]
	if sh == nil {
		sh = &shard{n: n, clients: make(map[Client]*clientState), topics: make(map[string]*localTopic)}
		sh.sig = l.NewSignal(sh.run)
		n.shards[l] = sh
	}
	return sh
}

// shard is one loop's pub/sub: its subscribers by topic, and the inbox
// through which publications and broker results reach it.
type shard struct {
	n   *Node
	sig *loop.Signal

	mu    sync.Mutex // guards the inbox
	inbox []*Publication
	spare []*Publication
	ready []func() // broker results for this loop's clients
	lost  map[string]bool

	// The loop's own.
	clients  map[Client]*clientState
	topics   map[string]*localTopic
	busy     bool   // delivering: removals wait in dead
	dead     []*sub // subscriptions removed while busy
	received []*Publication
}

type localTopic struct{ subs []*sub }

type clientState struct {
	subs       map[string]*sub
	publishing int          // publishes in flight
	pubs       publishQueue // those not yet taken by the broker
	gone       bool         // left or disconnected
}

// sub is one client's subscription to one topic.
type sub struct {
	c        Client
	cs       *clientState
	topic    string
	idx      int  // in its localTopic's subs
	dead     bool // unsubscribed: skipped, and unlinked after the round
	pending  bool
	buf      []*Publication // live publications held while pending
	last     Position       // the last message delivered
	presence bool           // in the broker's presence (or being added)
	removed  bool           // unsubscribed while pending
}

// push queues p on the shard (lost: the shard missed publications of
// p's topic before p). n.mu is held.
func (sh *shard) push(p *Publication, lost bool) {
	sh.mu.Lock()
	if lost || len(sh.inbox) >= sh.n.cfg.MaxPending {
		if sh.lost == nil {
			sh.lost = make(map[string]bool)
		}
		sh.lost[p.Topic] = true
	}
	if len(sh.inbox) < sh.n.cfg.MaxPending {
		sh.inbox = append(sh.inbox, p)
	} else {
		p.release()
	}
	sh.mu.Unlock()
	sh.sig.Notify()
}

// post runs f on the shard's loop.
func (sh *shard) post(f func()) {
	sh.mu.Lock()
	sh.ready = append(sh.ready, f)
	sh.mu.Unlock()
	sh.sig.Notify()
}

// run is the shard's Signal: broker results, then publications in
// order, then the clients that missed some.
func (sh *shard) run() {
	sh.mu.Lock()
	in, ready, lost := sh.inbox, sh.ready, sh.lost
	sh.inbox, sh.ready, sh.lost = sh.spare[:0], nil, nil
	sh.mu.Unlock()
	for _, f := range ready {
		f()
	}
	sh.busy = true
	for i, p := range in {
		if lt := sh.topics[p.Topic]; lt != nil {
			for _, s := range lt.subs {
				if !s.dead {
					sh.send(s, p)
				}
			}
		}
		p.release()
		in[i] = nil
	}
	sh.spare = in[:0]
	for topic := range lost {
		if lt := sh.topics[topic]; lt != nil {
			for _, s := range lt.subs {
				if !s.dead {
					sh.disconnect(s.c, s.cs, ErrLost)
				}
			}
		}
	}
	sh.busy = false
	for _, s := range sh.dead {
		sh.unlink(s)
	}
	sh.dead = sh.dead[:0]
}

// send hands p to s, or holds it while s is pending.
func (sh *shard) send(s *sub, p *Publication) {
	if s.pending {
		if len(s.buf) >= sh.n.cfg.HistoryLimit {
			sh.disconnect(s.c, s.cs, ErrLost)
			return
		}
		s.buf = append(s.buf, p.detached())
		return
	}
	if p.Kind == Message {
		if p.Epoch == s.last.Epoch && p.Offset <= s.last.Offset {
			return // already delivered from history
		}
		s.last = p.Position()
	}
	if s.c.Queued() > sh.n.cfg.MaxQueued {
		sh.disconnect(s.c, s.cs, ErrSlow)
		return
	}
	sh.n.stats.delivered.Add(1)
	s.c.Deliver(p)
}

func (sh *shard) disconnect(c Client, cs *clientState, err error) {
	if cs.gone {
		return
	}
	switch err {
	case ErrSlow:
		sh.n.stats.slow.Add(1)
	case ErrLost:
		sh.n.stats.lost.Add(1)
	}
	sh.n.leave(sh, c, cs)
	c.Disconnect(err)
}

// client returns c's state on sh. Loop only.
func (n *Node) client(c Client) (*shard, *clientState) {
	n.mu.Lock()
	sh := n.shardOf(c.Loop())
	n.mu.Unlock()
	cs := sh.clients[c]
	if cs == nil {
		cs = &clientState{subs: make(map[string]*sub)}
		sh.clients[c] = cs
	}
	return sh, cs
}

// Subscribe subscribes c to topic. done runs on c's loop once the broker
// has answered: with an error the client is not subscribed; without, the
// publications o asked for follow, then live ones, in offset order and
// none twice. Loop only (c's).
func (n *Node) Subscribe(c Client, topic string, o SubscribeOptions, done func(SubscribeResult, error)) {
	if err := n.subscribe(c, topic, o, done); err != nil {
		done(SubscribeResult{}, err)
	}
}

func (n *Node) subscribe(c Client, topic string, o SubscribeOptions, done func(SubscribeResult, error)) error {
	if err := ValidTopic(topic); err != nil {
		return err
	}
	if n.closed.Load() {
		return ErrClosed
	}
	sh, cs := n.client(c)
	if cs.subs[topic] != nil {
		return ErrAlreadySubscribed
	}
	if len(cs.subs) >= n.cfg.MaxTopicsPerClient {
		return &LimitError{"topics per client", n.cfg.MaxTopicsPerClient}
	}
	s := &sub{c: c, cs: cs, topic: topic, pending: true, presence: o.Presence}
	if err := n.link(sh, s); err != nil {
		return err
	}
	info := c.Info()
	limit := min(max(o.History, 0), n.cfg.HistoryLimit)
	err := n.async(func(ctx context.Context) {
		var res SubscribeResult
		pubs, err := n.fetch(ctx, topic, o, limit, info, &res)
		sh.post(func() { n.subscribed(sh, s, o.Since, pubs, res, err, done) })
	})
	if err != nil {
		s.presence = false
		n.unsubscribe(sh, s)
	}
	return err
}

// fetch does a subscribe's broker calls, on a worker.
func (n *Node) fetch(ctx context.Context, topic string, o SubscribeOptions, limit int, info ClientInfo, res *SubscribeResult) ([]*Publication, error) {
	n.syncInterest(topic)
	if o.Presence {
		if err := n.b.AddPresence(ctx, topic, info); err != nil {
			return nil, n.brokerErr(err)
		}
		if _, err := n.b.Publish(ctx, &Publication{Topic: topic, Kind: Join, Client: info, Time: time.Now()}); err != nil {
			return nil, n.brokerErr(err)
		}
		p, err := n.b.Presence(ctx, topic)
		if err != nil {
			return nil, n.brokerErr(err)
		}
		res.Presence = p
	}
	var pubs []*Publication
	var err error
	if o.Since != nil {
		pubs, res.Position, err = n.b.History(ctx, topic, o.Since, n.cfg.HistoryLimit)
		res.Recovered = err == nil
		if err == ErrCannotRecover {
			n.stats.unrecovered.Add(1)
			pubs, res.Position, err = n.b.History(ctx, topic, nil, limit)
		}
	} else {
		pubs, res.Position, err = n.b.History(ctx, topic, nil, limit)
	}
	if err != nil {
		return nil, n.brokerErr(err)
	}
	res.History = len(pubs)
	return pubs, nil
}

func (n *Node) brokerErr(err error) error {
	var le *LimitError
	if !errors.As(err, &le) {
		n.stats.brokerErrors.Add(1)
	}
	return err
}

// subscribed finishes a subscribe on the loop: the answer, the history,
// the live publications held meanwhile, and from then on live ones.
func (n *Node) subscribed(sh *shard, s *sub, since *Position, pubs []*Publication, res SubscribeResult, err error, done func(SubscribeResult, error)) {
	s.pending = false
	if s.removed || s.cs.gone {
		n.unsubscribe(sh, s) // it left while the broker answered: undo its presence
		return
	}
	if err != nil {
		s.presence = false // not added, or the add's answer is unknown: the broker's expiry cleans up
		n.unsubscribe(sh, s)
		done(SubscribeResult{}, err)
		return
	}
	switch {
	case res.Recovered:
		s.last = *since
	case len(pubs) > 0:
		s.last = Position{pubs[0].Offset - 1, pubs[0].Epoch}
	default:
		s.last = res.Position
	}
	done(res, nil)
	held := s.buf
	s.buf = nil
	for _, list := range [][]*Publication{pubs, held} {
		for _, p := range list {
			if s.dead {
				return
			}
			p = p.detached()
			p.refs.Store(1)
			sh.send(s, p)
			p.release()
		}
	}
}

// link adds s to its topic on the loop and on the node.
func (n *Node) link(sh *shard, s *sub) error {
	n.mu.Lock()
	t := n.topics[s.topic]
	if t == nil {
		t = &topicState{}
		n.topics[s.topic] = t
	}
	if t.subs >= n.cfg.MaxSubscribersPerTopic {
		n.mu.Unlock()
		return &LimitError{"subscribers per topic", n.cfg.MaxSubscribersPerTopic}
	}
	t.subs++
	i := 0
	for i < len(t.shards) && t.shards[i].sh != sh {
		i++
	}
	if i == len(t.shards) {
		t.shards = append(t.shards, shardCount{sh: sh})
	}
	t.shards[i].n++
	n.mu.Unlock()
	n.stats.subscribers.Add(1)

	lt := sh.topics[s.topic]
	if lt == nil {
		lt = &localTopic{}
		sh.topics[s.topic] = lt
	}
	s.idx = len(lt.subs)
	lt.subs = append(lt.subs, s)
	s.cs.subs[s.topic] = s
	return nil
}

// unsubscribe removes s: from the loop's topic (after the round, if the
// loop is delivering), from the node, and from the broker's presence.
func (n *Node) unsubscribe(sh *shard, s *sub) {
	if s.dead {
		return
	}
	if s.cs.subs[s.topic] == s {
		delete(s.cs.subs, s.topic)
	}
	if !s.removed {
		s.removed = true
		n.unlinkNode(sh, s.topic)
	}
	if s.pending {
		// The broker is still answering: its answer finds s removed and
		// comes back here, after the presence add it may have made.
		return
	}
	s.dead = true
	if sh.busy {
		sh.dead = append(sh.dead, s)
	} else {
		sh.unlink(s)
	}
	if s.presence {
		info, topic := s.c.Info(), s.topic
		n.async(func(ctx context.Context) {
			if err := n.b.RemovePresence(ctx, topic, info.ID); err != nil {
				n.brokerErr(err)
			}
			n.b.Publish(ctx, &Publication{Topic: topic, Kind: Leave, Client: info, Time: time.Now()})
		})
	}
}

// unlink removes s from its loop's topic.
func (sh *shard) unlink(s *sub) {
	lt := sh.topics[s.topic]
	last := len(lt.subs) - 1
	lt.subs[s.idx] = lt.subs[last]
	lt.subs[s.idx].idx = s.idx
	lt.subs[last] = nil
	lt.subs = lt.subs[:last]
	if len(lt.subs) == 0 {
		delete(sh.topics, s.topic)
	}
}

// unlinkNode removes one subscriber of topic on sh from the node.
func (n *Node) unlinkNode(sh *shard, topic string) {
	n.stats.subscribers.Add(-1)
	n.mu.Lock()
	t := n.topics[topic]
	t.subs--
	for i := range t.shards {
		if t.shards[i].sh == sh {
			t.shards[i].n--
			if t.shards[i].n == 0 {
				t.shards = append(t.shards[:i], t.shards[i+1:]...)
			}
			break
		}
	}
	gone := t.subs == 0
	if gone {
		delete(n.topics, topic)
	}
	n.mu.Unlock()
	if gone {
		n.async(func(context.Context) { n.syncInterest(topic) })
	}
}

// syncInterest tells the broker whether this node has subscribers of
// topic, as it is now; calls are serialized, so the last one wins.
func (n *Node) syncInterest(topic string) {
	n.interest.Lock()
	defer n.interest.Unlock()
	n.mu.Lock()
	want := n.topics[topic] != nil
	n.mu.Unlock()
	if want == n.told[topic] {
		return
	}
	var err error
	if want {
		err = n.b.Subscribe(topic)
	} else {
		err = n.b.Unsubscribe(topic)
	}
	if err != nil {
		n.brokerErr(err)
		return
	}
	if want {
		n.told[topic] = true
	} else {
		delete(n.told, topic)
	}
}

// Unsubscribe removes c from topic. Loop only (c's).
func (n *Node) Unsubscribe(c Client, topic string) error {
	sh, cs := n.client(c)
	s := cs.subs[topic]
	if s == nil {
		return ErrNotSubscribed
	}
	n.unsubscribe(sh, s)
	return nil
}

// Leave forgets c (its connection closed): every subscription, its
// presence, its publishes' answers. Loop only (c's).
func (n *Node) Leave(c Client) {
	n.mu.Lock()
	sh := n.shards[c.Loop()]
	n.mu.Unlock()
	if sh == nil {
		return
	}
	if cs := sh.clients[c]; cs != nil {
		n.leave(sh, c, cs)
	}
}

func (n *Node) leave(sh *shard, c Client, cs *clientState) {
	cs.gone = true
	for _, s := range cs.subs {
		n.unsubscribe(sh, s)
	}
	delete(sh.clients, c)
}

// PublishFrom publishes data (copied) on topic for c; done runs on c's
// loop with the broker's answer, unless c has gone by then. A client's
// publishes are stored one after another, in the order it made them, so
// every subscriber gets them in that order; at most
// Config.MaxPublishesInFlight wait. Loop only (c's).
func (n *Node) PublishFrom(c Client, topic string, data []byte, done func(Position, error)) {
	if err := ValidTopic(topic); err != nil {
		done(Position{}, err)
		return
	}
	if len(data) > n.cfg.MaxMessage {
		done(Position{}, &LimitError{"message size", n.cfg.MaxMessage})
		return
	}
	sh, cs := n.client(c)
	if cs.publishing >= n.cfg.MaxPublishesInFlight {
		done(Position{}, &LimitError{"publishes in flight", n.cfg.MaxPublishesInFlight})
		return
	}
	if err := n.startPublish(); err != nil {
		done(Position{}, err)
		return
	}
	cs.publishing++
	q := &cs.pubs
	q.mu.Lock()
	q.list = append(q.list, pendingPub{&Publication{Topic: topic, Kind: Message, Data: bytes.Clone(data), Client: c.Info()}, done})
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if !start {
		return // the worker storing the client's publishes takes this one next
	}
	if err := n.async(func(context.Context) { n.publishQueued(sh, cs) }); err != nil {
		q.mu.Lock()
		list := q.list
		q.list, q.running = nil, false
		q.mu.Unlock()
		for _, pp := range list {
			cs.publishing--
			n.endPublish()
			pp.done(Position{}, err)
		}
	}
}

// publishQueue is one client's publishes waiting for the broker, in
// order; a worker stores them one at a time.
type publishQueue struct {
	mu      sync.Mutex
	list    []pendingPub
	running bool // a worker is storing them
}

type pendingPub struct {
	p    *Publication
	done func(Position, error)
}

// publishQueued stores cs's publishes until none is left, on a worker,
// and posts each answer to the client's loop.
func (n *Node) publishQueued(sh *shard, cs *clientState) {
	q := &cs.pubs
	for {
		q.mu.Lock()
		if len(q.list) == 0 {
			q.list, q.running = q.list[:0], false
			q.mu.Unlock()
			return
		}
		pp := q.list[0]
		q.list[0] = pendingPub{}
		q.list = q.list[1:]
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.BrokerTimeout)
		pos, err := n.b.Publish(ctx, pp.p)
		cancel()
		if err != nil {
			n.brokerErr(err)
		} else {
			n.stats.published.Add(1)
		}
		sh.post(func() {
			cs.publishing--
			if !cs.gone {
				pp.done(pos, err)
			}
		})
		n.endPublish() // after the post: a Drain that returns finds the answer in the loop's inbox
	}
}

// startPublish counts a publish in flight, unless the node is draining.
func (n *Node) startPublish() error {
	d := &n.drain
	d.Lock()
	defer d.Unlock()
	if d.on {
		return ErrDraining
	}
	d.inflight++
	return nil
}

func (n *Node) endPublish() {
	d := &n.drain
	d.Lock()
	if d.inflight--; d.on && d.inflight == 0 {
		close(d.idle)
	}
	d.Unlock()
}

// Drain stops the node publishing (Publish and PublishFrom fail with
// ErrDraining) and waits, up to ctx, for the publishes in flight to be
// stored and answered. With Memory, every publication they made is then
// queued for the loops, and Goodbye delivers it; with a broker that
// delivers asynchronously (NATS), subscribers may get the last ones only
// from history when they resubscribe elsewhere. The first call starts
// the drain; every call waits. It may be called on a loop: it waits only
// for the workers, which never wait for a loop.
func (n *Node) Drain(ctx context.Context) error {
	d := &n.drain
	d.Lock()
	if !d.on {
		d.on = true
		d.idle = make(chan struct{})
		if d.inflight == 0 {
			close(d.idle)
		}
	}
	idle := d.idle
	d.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Goodbye ends c's pub/sub before the application says goodbye to it
// (a GOAWAY, a close frame): it delivers at once, on c's loop, what is
// waiting there (publications, c's publish answers), then forgets c as
// Leave does. After Drain, nothing reaches c after Goodbye, so the
// goodbye the application writes next comes after every publication
// and answer c was going to get; c's subscribes still at the broker are
// never answered. Loop only (c's).
func (n *Node) Goodbye(c Client) {
	n.mu.Lock()
	sh := n.shards[c.Loop()]
	n.mu.Unlock()
	if sh == nil {
		return
	}
	if !sh.busy {
		sh.run()
	}
	if cs := sh.clients[c]; cs != nil {
		n.leave(sh, c, cs)
	}
}

// Subscribers returns how many subscriptions topic has on this node.
func (n *Node) Subscribers(topic string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t := n.topics[topic]; t != nil {
		return t.subs
	}
	return 0
}
