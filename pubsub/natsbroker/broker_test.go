//go:build !plan9

package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/shoalnet/shoal/pubsub"
)

// recorder is a Deliverer that keeps what it gets.
type recorder struct {
	mu   sync.Mutex
	pubs []*pubsub.Publication
	more chan struct{}
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{}, 1)} }

func (r *recorder) Deliver(p *pubsub.Publication) {
	r.mu.Lock()
	r.pubs = append(r.pubs, p)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// wait returns the first n messages (Kind Message) of topic once there.
func (r *recorder) wait(t testing.TB, topic string, kind pubsub.Kind, n int) []*pubsub.Publication {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		var got []*pubsub.Publication
		for _, p := range r.pubs {
			if p.Topic == topic && p.Kind == kind {
				got = append(got, p)
			}
		}
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("%d of %d %v publications of %s", len(got), n, kind, topic)
		}
	}
}

// brokers starts one Broker per URL, each with its recorder.
func brokers(t testing.TB, urls []string, cfg Config) ([]*Broker, []*recorder) {
	t.Helper()
	var bs []*Broker
	var rs []*recorder
	for _, u := range urls {
		b, err := Dial(u, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := newRecorder()
		if err := b.Start(r); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		bs = append(bs, b)
		rs = append(rs, r)
	}
	return bs, rs
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestClusterOrder: three nodes on three NATS servers publish into one
// topic at once: every message gets its own offset, 1 to N without a
// gap, and every node receives all of them in offset order.
func TestClusterOrder(t *testing.T) {
	urls := startNATS(t, 3)
	bs, rs := brokers(t, urls, Config{Replicas: 3})
	const per = 60
	var wg sync.WaitGroup
	offsets := make([][]uint64, len(bs))
	for i, b := range bs {
		wg.Go(func() {
			for k := range per {
				pos, err := b.Publish(ctxT(t), &pubsub.Publication{Topic: "room", Kind: pubsub.Message, Data: fmt.Appendf(nil, "n%d-%d", i, k), Client: pubsub.ClientInfo{ID: fmt.Sprint(i)}})
				if err != nil {
					t.Error(err)
					return
				}
				offsets[i] = append(offsets[i], pos.Offset)
			}
		})
	}
	wg.Wait()
	all := slices.Concat(offsets...)
	slices.Sort(all)
	for i, o := range all {
		if o != uint64(i+1) {
			t.Fatalf("offsets %v", all)
		}
	}
	var first []*pubsub.Publication
	for i, r := range rs {
		got := r.wait(t, "room", pubsub.Message, len(all))
		for k, p := range got {
			if p.Offset != uint64(k+1) {
				t.Fatalf("node %d: publication %d has offset %d", i, k, p.Offset)
			}
			if i == 0 {
				continue
			}
			if string(p.Data) != string(first[k].Data) || p.Epoch != first[k].Epoch {
				t.Fatalf("node %d disagrees at %d: %q vs %q", i, k, p.Data, first[k].Data)
			}
		}
		if i == 0 {
			first = got
		}
	}
}

// TestHistory: the last messages, recovery after a position, a position
// the history no longer reaches, another epoch, an empty topic's position.
func TestHistory(t *testing.T) {
	urls := startNATS(t, 1)
	bs, _ := brokers(t, urls, Config{HistorySize: 5})
	b := bs[0]
	ctx := ctxT(t)
	_, empty, err := b.History(ctx, "room", nil, 10)
	if err != nil || empty.Offset != 0 || empty.Epoch == "" {
		t.Fatalf("empty topic: %v %v", empty, err)
	}
	pub := func(s string) pubsub.Position {
		pos, err := b.Publish(ctx, &pubsub.Publication{Topic: "room", Kind: pubsub.Message, Data: []byte(s)})
		if err != nil {
			t.Fatal(err)
		}
		return pos
	}
	for i := 1; i <= 3; i++ {
		if pos := pub(fmt.Sprint(i)); pos.Offset != uint64(i) || pos.Epoch != empty.Epoch {
			t.Fatalf("publish %d: %v", i, pos)
		}
	}
	data := func(ps []*pubsub.Publication) (s []string) {
		for _, p := range ps {
			s = append(s, string(p.Data))
		}
		return s
	}
	got, top, err := b.History(ctx, "room", &empty, 100)
	if err != nil || !slices.Equal(data(got), []string{"1", "2", "3"}) || top.Offset != 3 {
		t.Fatalf("since the empty position: %v %v %v", data(got), top, err)
	}
	got, _, err = b.History(ctx, "room", nil, 2)
	if err != nil || !slices.Equal(data(got), []string{"2", "3"}) {
		t.Fatalf("last 2: %v %v", data(got), err)
	}
	got, _, err = b.History(ctx, "room", &pubsub.Position{Offset: 3, Epoch: empty.Epoch}, 100)
	if err != nil || len(got) != 0 {
		t.Fatalf("nothing missed: %v %v", data(got), err)
	}
	for i := 4; i <= 9; i++ {
		pub(fmt.Sprint(i))
	}
	// Kept: 5..9 (HistorySize 5).
	got, _, err = b.History(ctx, "room", &pubsub.Position{Offset: 4, Epoch: empty.Epoch}, 100)
	if err != nil || !slices.Equal(data(got), []string{"5", "6", "7", "8", "9"}) {
		t.Fatalf("since 4: %v %v", data(got), err)
	}
	for _, since := range []pubsub.Position{{Offset: 3, Epoch: empty.Epoch}, {Offset: 5, Epoch: "other"}, {Offset: 10, Epoch: empty.Epoch}} {
		if _, _, err := b.History(ctx, "room", &since, 100); !errors.Is(err, pubsub.ErrCannotRecover) {
			t.Fatalf("since %v: %v, want ErrCannotRecover", since, err)
		}
	}
	if _, _, err := b.History(ctx, "room", &pubsub.Position{Offset: 5, Epoch: empty.Epoch}, 2); !errors.Is(err, pubsub.ErrCannotRecover) {
		t.Fatalf("more than the limit: %v", err)
	}
}

// TestPresence: an entry added on one node is seen from the others;
// join and leave events reach every node; a removed entry is gone (on
// every node soon after: the bucket's replicas apply it in turn).
func TestPresence(t *testing.T) {
	urls := startNATS(t, 3)
	bs, rs := brokers(t, urls, Config{Replicas: 3})
	ctx := ctxT(t)
	alice := pubsub.ClientInfo{ID: "c/1 é", User: "alice"}
	if err := bs[0].AddPresence(ctx, "room", alice); err != nil {
		t.Fatal(err)
	}
	if err := bs[1].AddPresence(ctx, "room", pubsub.ClientInfo{ID: "c2", User: "bob"}); err != nil {
		t.Fatal(err)
	}
	for i, b := range bs {
		presenceIs(t, b, fmt.Sprintf("node %d", i), "alice", "bob")
	}
	bs[0].Publish(ctx, &pubsub.Publication{Topic: "room", Kind: pubsub.Join, Client: alice, Time: time.Now()})
	for _, r := range rs {
		if p := r.wait(t, "room", pubsub.Join, 1)[0]; p.Client.ID != alice.ID || p.Client.User != alice.User {
			t.Fatalf("join event %+v", p.Client)
		}
	}
	if err := bs[0].RemovePresence(ctx, "room", alice.ID); err != nil {
		t.Fatal(err)
	}
	presenceIs(t, bs[2], "after the removal", "bob")
}

// presenceIs waits until b's presence in "room" is the users. A write
// made on one node is read on another once that node's replica of the
// bucket has applied it: soon, but not by the time the write returns.
func presenceIs(t *testing.T, b *Broker, what string, users ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := b.Presence(ctxT(t), "room")
		var got []string
		for _, c := range list {
			got = append(got, c.User)
		}
		slices.Sort(got)
		if err == nil && slices.Equal(got, users) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v %v, want %v", what, list, err, users)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDialBeforeServer: a broker dialled before its NATS server is up
// waits for it (pods that start together), and works once it is.
func TestDialBeforeServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	type result struct {
		b   *Broker
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := Dial(fmt.Sprintf("nats://127.0.0.1:%d", port), Config{StartTimeout: 30 * time.Second})
		done <- result{b, err}
	}()
	time.Sleep(500 * time.Millisecond) // the broker is retrying meanwhile
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.b.Close()
	rec := newRecorder()
	if err := r.b.Start(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := r.b.Publish(ctxT(t), &pubsub.Publication{Topic: "room", Kind: pubsub.Message, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "room", pubsub.Message, 1)
}
