package hub

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink is a fake connection: it counts wake-ups and closes, and signals
// wake-ups on a channel for the tests that flush concurrently.
type sink struct {
	wakes  atomic.Int64
	closes atomic.Int64
	woken  chan struct{} // capacity 1; nil: no signal
}

func (s *sink) Wake() {
	s.wakes.Add(1)
	if s.woken != nil {
		select {
		case s.woken <- struct{}{}:
		default:
		}
	}
}

func (s *sink) Close() error { s.closes.Add(1); return nil }

// writer records what Flush writes.
type writer struct {
	frames [][]byte
	err    error
	room   *int // nil: TryWrite always has room; else the bytes it takes before ErrWouldBlock
}

// TryWrite takes p unless room is set and p does not fit in it.
func (w *writer) TryWrite(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.room != nil {
		if *w.room < len(p) {
			return 0, server.ErrWouldBlock
		}
		*w.room -= len(p)
	}
	w.frames = append(w.frames, p)
	return len(p), nil
}

func (w *writer) Writev(bufs [][]byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for _, b := range bufs {
		w.frames = append(w.frames, b)
		n += len(b)
	}
	return n, nil
}

func newCodec(t testing.TB) codec.Codec {
	t.Helper()
	cd, err := proto.NewCodec(proto.MaxOverhead + proto.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	return cd
}

func newHub(t testing.TB, opts ...Option) *Hub {
	t.Helper()
	h, err := New(newCodec(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// decodeMsg unframes and decodes one MSG frame.
func decodeMsg(t testing.TB, cd codec.Codec, frame []byte) proto.Body {
	t.Helper()
	body, n, err := cd.Decode(frame)
	if err != nil || n != len(frame) {
		t.Fatalf("frame %x: decode %d bytes, %v", frame, n, err)
	}
	b, err := proto.Decode(body)
	if err != nil || b.Type != proto.TypeMsg {
		t.Fatalf("body %x: %+v, %v", body, b, err)
	}
	return b
}

func TestSubscribeUnsubscribePresence(t *testing.T) {
	h := newHub(t, WithMaxTopics(2))
	a, b := h.NewSubscriber(&sink{}), h.NewSubscriber(&sink{})
	steps := []struct {
		name string
		op   func() (int, error)
		n    int
		err  error
	}{
		{"a subscribes", func() (int, error) { return h.Subscribe(a, "news") }, 1, nil},
		{"b subscribes", func() (int, error) { return h.Subscribe(b, "news") }, 2, nil},
		{"a again", func() (int, error) { return h.Subscribe(a, "news") }, 0, ErrAlreadySubscribed},
		{"a second topic", func() (int, error) { return h.Subscribe(a, "sport") }, 1, nil},
		{"a third topic", func() (int, error) { return h.Subscribe(a, "weather") }, 0, ErrTooManyTopics},
		{"bad topic", func() (int, error) { return h.Subscribe(a, "two words") }, 0, ErrBadTopic},
		{"empty topic", func() (int, error) { return h.Subscribe(b, "") }, 0, ErrBadTopic},
		{"b leaves news", func() (int, error) { return h.Unsubscribe(b, "news") }, 1, nil},
		{"b leaves news again", func() (int, error) { return h.Unsubscribe(b, "news") }, 0, ErrNotSubscribed},
		{"unsubscribe bad topic", func() (int, error) { return h.Unsubscribe(b, "") }, 0, ErrBadTopic},
		{"a leaves sport", func() (int, error) { return h.Unsubscribe(a, "sport") }, 0, nil},
		{"a may take a topic again", func() (int, error) { return h.Subscribe(a, "weather") }, 1, nil},
	}
	for _, st := range steps {
		if n, err := st.op(); n != st.n || !errors.Is(err, st.err) {
			t.Fatalf("%s: %d, %v; want %d, %v", st.name, n, err, st.n, st.err)
		}
	}
	if n := h.Subscribers("news"); n != 1 {
		t.Fatalf("Subscribers(news) = %d, want 1", n)
	}
	if n := h.Subscribers("sport"); n != 0 {
		t.Fatalf("Subscribers(sport) = %d, want 0", n)
	}
	if st := h.Stats(); st.Topics != 2 || st.Subscriptions != 2 || a.Topics() != 2 || b.Topics() != 0 {
		t.Fatalf("stats %+v, a has %d topics, b %d", st, a.Topics(), b.Topics())
	}
	h.Leave(a)
	h.Leave(b)
	if st := h.Stats(); st.Topics != 0 || st.Subscriptions != 0 || a.Topics() != 0 {
		t.Fatalf("after Leave: stats %+v, a has %d topics", st, a.Topics())
	}
}

// TestPublishEncodesOnce checks encode-once fan-out: one encode per
// publish, every subscriber gets the very same slice, and the wake-ups
// collapse until the subscriber's loop flushes.
func TestPublishEncodesOnce(t *testing.T) {
	cd := newCodec(t)
	h, err := New(cd, WithClock(func() int64 { return 1234 }))
	if err != nil {
		t.Fatal(err)
	}
	sinks := []*sink{{}, {}, {}}
	subs := make([]*Subscriber, len(sinks))
	for i, s := range sinks {
		subs[i] = h.NewSubscriber(s)
		if _, err := h.Subscribe(subs[i], "news"); err != nil {
			t.Fatal(err)
		}
	}
	other := &sink{}
	h.Subscribe(h.NewSubscriber(other), "sport")

	const publishes = 5
	for i := range publishes {
		n, err := h.Publish([]byte("news"), fmt.Appendf(nil, "m%d", i))
		if n != 3 || err != nil {
			t.Fatalf("Publish: %d, %v; want 3", n, err)
		}
	}
	if n, err := h.Publish([]byte("nobody"), []byte("x")); n != 0 || err != nil {
		t.Fatalf("Publish to a topic without subscribers: %d, %v", n, err)
	}
	writers := make([]*writer, len(subs))
	for i, s := range subs {
		if w := sinks[i].wakes.Load(); w != 1 {
			t.Fatalf("subscriber %d woken %d times for %d messages, want once", i, w, publishes)
		}
		writers[i] = &writer{}
		if err := h.Flush(s, writers[i]); err != nil {
			t.Fatal(err)
		}
	}
	st := h.Stats()
	if st.Encodes != publishes || st.Publishes != publishes+1 || st.Delivered != 3*publishes ||
		st.Flushes != 3 || st.Flushed != 3*publishes {
		t.Fatalf("stats %+v: want %d encodes, %d publishes, %d delivered and flushed in 3 flushes",
			st, publishes, publishes+1, 3*publishes)
	}
	for _, w := range writers {
		if len(w.frames) != publishes {
			t.Fatalf("a subscriber got %d frames, want %d", len(w.frames), publishes)
		}
		for i, f := range w.frames {
			if &f[0] != &writers[0].frames[i][0] {
				t.Fatalf("frame %d is a different slice for another subscriber: encoded twice", i)
			}
			m := decodeMsg(t, cd, f)
			if m.Seq != uint64(i+1) || m.Time != 1234 || string(m.Topic) != "news" || string(m.Payload) != fmt.Sprintf("m%d", i) {
				t.Fatalf("frame %d: %+v", i, m)
			}
		}
	}
	if other.wakes.Load() != 0 {
		t.Fatal("a subscriber of another topic was woken")
	}
	// Flushed, the next message wakes the subscriber again; a flush with
	// nothing pending writes nothing.
	h.Publish([]byte("news"), []byte("again"))
	if w := sinks[0].wakes.Load(); w != 2 {
		t.Fatalf("woken %d times after a flush and a publish, want 2", w)
	}
	empty := &writer{}
	h.Flush(subs[0], empty)
	h.Flush(subs[0], empty)
	if len(empty.frames) != 1 {
		t.Fatalf("flushed %d frames, want 1", len(empty.frames))
	}
	// The write's error comes back from Flush.
	h.Publish([]byte("news"), []byte("refused"))
	if err := h.Flush(subs[0], &writer{err: server.ErrSlowConsumer}); !errors.Is(err, server.ErrSlowConsumer) {
		t.Fatalf("Flush: %v, want the writer's error", err)
	}
}

func TestPublishRejects(t *testing.T) {
	h := newHub(t, WithMaxPayload(8))
	h.Subscribe(h.NewSubscriber(&sink{}), "t")
	for _, tc := range []struct {
		name           string
		topic, payload string
		err            error
	}{
		{"bad topic", "a b", "", ErrBadTopic},
		{"empty topic", "", "", ErrBadTopic},
		{"payload too large", "t", "123456789", ErrPayloadTooLarge},
	} {
		if n, err := h.Publish([]byte(tc.topic), []byte(tc.payload)); n != 0 || !errors.Is(err, tc.err) {
			t.Errorf("%s: %d, %v; want %v", tc.name, n, err, tc.err)
		}
	}
	if n, err := h.Publish([]byte("t"), []byte("12345678")); n != 1 || err != nil {
		t.Fatalf("largest payload: %d, %v", n, err)
	}
	if st := h.Stats(); st.Publishes != 1 || st.Encodes != 1 {
		t.Fatalf("stats %+v: rejected publishes were counted", st)
	}
}

// TestPendingLimit fills a subscriber whose loop never flushes: past the
// limit it is closed once (or its messages are dropped), while another
// subscriber of the topic gets everything.
func TestPendingLimit(t *testing.T) {
	frameLen := 4 + proto.MsgSize(1, 10) // one message on topic "t" with 10 bytes
	for _, tc := range []struct {
		name                string
		policy              LimitPolicy
		closes              int64
		dropped, slowClosed uint64
		subscriberDrops     uint64
	}{
		{"close", CloseSubscriber, 1, 0, 1, 0},
		{"drop", DropMessage, 0, 3, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, WithLimitPolicy(tc.policy), WithMaxPending(2*frameLen))
			stuck, ok := &sink{}, &sink{}
			ss, healthy := h.NewSubscriber(stuck), h.NewSubscriber(ok)
			h.Subscribe(ss, "t")
			h.Subscribe(healthy, "t")
			w := &writer{}
			for i := range 5 {
				want := 2
				if i >= 2 {
					want = 1 // only the healthy one
				}
				if n, err := h.Publish([]byte("t"), make([]byte, 10)); n != want || err != nil {
					t.Fatalf("publish %d: %d, %v; want %d", i, n, err, want)
				}
				h.Flush(healthy, w)
			}
			st := h.Stats()
			if stuck.closes.Load() != tc.closes || st.Dropped != tc.dropped || st.SlowClosed != tc.slowClosed ||
				ss.Dropped() != tc.subscriberDrops || len(w.frames) != 5 || st.Delivered != 7 {
				t.Fatalf("closes %d, stats %+v, subscriber drops %d, healthy got %d",
					stuck.closes.Load(), st, ss.Dropped(), len(w.frames))
			}
		})
	}
	// An empty queue takes a message larger than the limit.
	h := newHub(t, WithMaxPending(1))
	s := h.NewSubscriber(&sink{})
	h.Subscribe(s, "t")
	if n, _ := h.Publish([]byte("t"), make([]byte, 100)); n != 1 {
		t.Fatal("a large message was refused by an empty queue")
	}
}

func TestNewValidates(t *testing.T) {
	small, err := proto.NewCodec(1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		enc  codec.Encoder
		opts []Option
	}{
		{"nil encoder", nil, nil},
		{"codec too small for the payload", small, []Option{WithMaxPayload(4096)}},
		{"zero topics", newCodec(t), []Option{WithMaxTopics(0)}},
		{"negative payload", newCodec(t), []Option{WithMaxPayload(-1)}},
		{"unknown policy", newCodec(t), []Option{WithLimitPolicy(7)}},
		{"zero pending", newCodec(t), []Option{WithMaxPending(0)}},
		{"nil clock", newCodec(t), []Option{WithClock(nil)}},
	} {
		if _, err := New(tc.enc, tc.opts...); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

func TestCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code proto.Code
		ok   bool
	}{
		{ErrBadTopic, proto.CodeBadTopic, true},
		{ErrPayloadTooLarge, proto.CodePayloadTooLarge, true},
		{ErrTooManyTopics, proto.CodeTooManyTopics, true},
		{fmt.Errorf("wrapped: %w", ErrAlreadySubscribed), proto.CodeAlreadySubscribed, true},
		{ErrNotSubscribed, proto.CodeNotSubscribed, true},
		{ErrDraining, proto.CodeGoingAway, true},
		{errors.New("other"), 0, false},
	} {
		if code, ok := Code(tc.err); code != tc.code || ok != tc.ok {
			t.Errorf("Code(%v) = %v, %v; want %v, %v", tc.err, code, ok, tc.code, tc.ok)
		}
	}
}

// TestConcurrentPublishers runs publishers on several goroutines while
// subscribers flush on their own goroutines (as their loops would) and
// others come and go: the race detector watches the locking, and every
// subscriber that stayed gets every message of each publisher once, in
// order.
func TestConcurrentPublishers(t *testing.T) {
	cd := newCodec(t)
	h, err := New(cd)
	if err != nil {
		t.Fatal(err)
	}
	const publishers, perPublisher, steady = 4, 300, 8
	type member struct {
		sink *sink
		sub  *Subscriber
		w    *writer
	}
	members := make([]member, steady)
	for i := range members {
		sk := &sink{woken: make(chan struct{}, 1)}
		members[i] = member{sink: sk, sub: h.NewSubscriber(sk), w: &writer{}}
		if _, err := h.Subscribe(members[i].sub, "t"); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var loops sync.WaitGroup
	for _, m := range members {
		loops.Go(func() { // the subscriber's "loop"
			for {
				select {
				case <-m.sink.woken:
					h.Flush(m.sub, m.w)
				case <-stop:
					h.Flush(m.sub, m.w)
					return
				}
			}
		})
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range perPublisher {
				h.Publish([]byte("t"), []byte{byte(p), byte(i >> 8), byte(i)})
			}
		})
	}
	wg.Go(func() { // churn: subscribers joining and leaving
		for range 200 {
			s := h.NewSubscriber(&sink{})
			h.Subscribe(s, "t")
			h.Subscribers("t")
			h.Leave(s)
		}
	})
	wg.Wait()
	close(stop)
	loops.Wait()
	for _, m := range members {
		next := make([]int, publishers)
		for _, f := range m.w.frames {
			msg := decodeMsg(t, cd, f)
			p, i := int(msg.Payload[0]), int(msg.Payload[1])<<8|int(msg.Payload[2])
			if i != next[p] {
				t.Fatalf("publisher %d: got message %d, want %d", p, i, next[p])
			}
			next[p]++
		}
		for p, n := range next {
			if n != perPublisher {
				t.Fatalf("publisher %d: %d messages, want %d", p, n, perPublisher)
			}
		}
	}
	if st := h.Stats(); st.Encodes != publishers*perPublisher || st.Topics != 1 || st.Subscriptions != steady {
		t.Fatalf("stats %+v", st)
	}
}

// TestGoodbye: Goodbye writes what is pending, takes the subscriber out of
// its topics, and nothing is queued for it afterwards, even by a publish
// that took its snapshot of the topic before.
func TestGoodbye(t *testing.T) {
	cd := newCodec(t)
	h := newHub(t)
	leaving, staying := h.NewSubscriber(&sink{}), h.NewSubscriber(&sink{})
	for _, s := range []*Subscriber{leaving, staying} {
		for _, topic := range []string{"a", "b"} {
			if _, err := h.Subscribe(s, topic); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		h.Publish([]byte("a"), []byte{byte(i)})
	}

	w := &writer{}
	if err := h.Goodbye(leaving, w); err != nil {
		t.Fatal(err)
	}
	if len(w.frames) != 3 {
		t.Fatalf("Goodbye wrote %d frames, want the 3 pending", len(w.frames))
	}
	for i, f := range w.frames {
		if m := decodeMsg(t, cd, f); m.Payload[0] != byte(i) {
			t.Fatalf("frame %d carries message %d", i, m.Payload[0])
		}
	}
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"subscribers of a", h.Subscribers("a"), 1},
		{"subscribers of b", h.Subscribers("b"), 1},
		{"topics of the leaver", leaving.Topics(), 0},
		// A publish in flight whose snapshot of the topic still holds it.
		{"queued for it by a stale snapshot", boolInt(h.enqueue(leaving, []byte("late"))), 0},
		{"a publish after Goodbye reaches", mustPublish(t, h, "b"), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	w.frames = nil
	if err := h.Flush(leaving, w); err != nil || len(w.frames) != 0 {
		t.Fatalf("Flush after Goodbye wrote %d frames, %v", len(w.frames), err)
	}
	h.Leave(leaving) // the connection closes: nothing left to do
	if st := h.Stats(); st.Subscriptions != 2 {
		t.Fatalf("stats %+v, want the 2 subscriptions of the one that stayed", st)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustPublish(t *testing.T, h *Hub, topic string) int {
	t.Helper()
	n, err := h.Publish([]byte(topic), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDrainWaitsForPublishesInFlight publishes from several goroutines
// while Drain runs, then says goodbye to every subscriber: each publish
// either failed with ErrDraining or was queued for every subscriber, and
// the goodbye writes hand each subscriber exactly the successful ones.
func TestDrainWaitsForPublishesInFlight(t *testing.T) {
	cd := newCodec(t)
	h := newHub(t)
	const subscribers, publishers = 50, 4
	subs := make([]*Subscriber, subscribers)
	for i := range subs {
		subs[i] = h.NewSubscriber(&sink{})
		if _, err := h.Subscribe(subs[i], "t"); err != nil {
			t.Fatal(err)
		}
	}
	var ok [publishers]int
	var started sync.WaitGroup
	var wg sync.WaitGroup
	for p := range publishers {
		started.Add(1)
		wg.Go(func() {
			for i := 0; ; i++ {
				n, err := h.Publish([]byte("t"), []byte{byte(p), byte(i >> 16), byte(i >> 8), byte(i)})
				if i == 10 {
					started.Done()
				}
				if errors.Is(err, ErrDraining) {
					return
				}
				if err != nil || n != subscribers {
					t.Errorf("publish %d of %d: %d, %v; want %d", i, p, n, err, subscribers)
					return
				}
				ok[p]++
			}
		})
	}
	started.Wait()
	h.Drain()
	h.Drain() // later calls return at once
	wg.Wait()
	if _, err := h.Publish([]byte("t"), nil); !errors.Is(err, ErrDraining) {
		t.Fatalf("Publish after Drain: %v", err)
	}
	for i, s := range subs {
		w := &writer{}
		if err := h.Goodbye(s, w); err != nil {
			t.Fatal(err)
		}
		var got [publishers]int
		for _, f := range w.frames {
			got[decodeMsg(t, cd, f).Payload[0]]++
		}
		if got != ok {
			t.Fatalf("subscriber %d got %v messages per publisher, want the acknowledged %v", i, got, ok)
		}
	}
	if st := h.Stats(); st.Topics != 0 || st.Subscriptions != 0 {
		t.Fatalf("stats after every goodbye %+v", st)
	}
}

// TestFlushKeepsWhatDoesNotFit: a connection without room takes what fits;
// the rest stays pending, before what is published meanwhile, counts
// against the pending limit, and wakes nobody (the connection's OnWritable
// will); the next flush writes it, in order.
func TestFlushKeepsWhatDoesNotFit(t *testing.T) {
	cd := newCodec(t)
	h := newHub(t)
	sk := &sink{}
	s := h.NewSubscriber(sk)
	h.Subscribe(s, "t")
	for i := range 5 {
		h.Publish([]byte("t"), []byte(fmt.Sprintf("m%d", i)))
	}
	frame := len(s.pending[0])
	room := 2 * frame
	w := &writer{room: &room}
	if err := h.Flush(s, w); !errors.Is(err, server.ErrWouldBlock) || len(w.frames) != 2 {
		t.Fatalf("Flush: %v, %d frames written; want ErrWouldBlock after 2", err, len(w.frames))
	}
	if len(s.pending) != 3 || s.pendingN != 3*frame {
		t.Fatalf("%d frames (%d bytes) pending, want 3 (%d)", len(s.pending), s.pendingN, 3*frame)
	}
	h.Publish([]byte("t"), []byte("m5"))
	if sk.wakes.Load() != 1 {
		t.Fatalf("woken %d times, want once: a subscriber with messages pending waits for OnWritable", sk.wakes.Load())
	}
	room = 1 << 20
	if err := h.Flush(s, w); err != nil || len(s.pending) != 0 || s.pendingN != 0 {
		t.Fatalf("Flush: %v, %d pending", err, len(s.pending))
	}
	if len(w.frames) != 6 {
		t.Fatalf("%d frames written, want 6", len(w.frames))
	}
	for i, f := range w.frames {
		if m := decodeMsg(t, cd, f); string(m.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("frame %d: %q", i, m.Payload)
		}
	}
	if st := h.Stats(); st.Flushes != 2 || st.Flushed != 6 {
		t.Fatalf("%+v: want 2 flushes of 6 frames", st)
	}
}
