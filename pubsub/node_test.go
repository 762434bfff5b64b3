package pubsub_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/pubsub/internal/pstest"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/ws"
)

// TestFanOut: subscribers on both loops get every message of their topic,
// in order, from publishers on the node and from clients, and nothing of
// other topics.
func TestFanOut(t *testing.T) {
	for _, e := range pstest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			n, url := pstest.StartNode(t, e, pubsub.NewMemory(pubsub.MemoryConfig{}), pubsub.Config{})
			const subs, msgs = 20, 200
			peers := make([]*pstest.Peer, subs)
			for i := range peers {
				peers[i] = pstest.Dial(t, url)
				peers[i].Subscribe("sub room")
			}
			other := pstest.Dial(t, url)
			other.Subscribe("sub elsewhere")
			pub := pstest.Dial(t, url)
			for i := range msgs {
				if i%2 == 0 {
					pstest.Publish(t, n, "room", "m"+strconv.Itoa(i))
				} else {
					pub.Send("pub room m" + strconv.Itoa(i))
					pub.Expect("pubok ")
				}
			}
			var wg sync.WaitGroup
			for _, p := range peers {
				wg.Go(func() {
					for i := range msgs {
						m := p.Read()
						if f := strings.Fields(m); len(f) != 5 || f[0] != "message" || f[2] != strconv.Itoa(i+1) || f[4] != "m"+strconv.Itoa(i) {
							t.Errorf("message %d: %q", i, m)
							return
						}
					}
				})
			}
			wg.Wait()
			pstest.Publish(t, n, "elsewhere", "x")
			if m := other.Expect("message elsewhere 1 "); !strings.HasSuffix(m, " x") {
				t.Fatalf("other topic: %q", m)
			}
			if st := n.Stats(); st.Delivered != subs*msgs+1 || st.Published != msgs+1 || st.Subscribers != subs+1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestHistoryAndRecovery: a join gets the last messages asked for; a
// client that reconnects with its last position gets exactly what it
// missed, then live ones; a position the history no longer reaches is
// refused (Recovered false) and the last messages come instead.
func TestHistoryAndRecovery(t *testing.T) {
	for _, e := range pstest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			n, url := pstest.StartNode(t, e, pubsub.NewMemory(pubsub.MemoryConfig{HistorySize: 10}), pubsub.Config{})
			for i := 1; i <= 5; i++ {
				pstest.Publish(t, n, "room", "a"+strconv.Itoa(i))
			}
			p := pstest.Dial(t, url)
			ok := p.Subscribe("sub room history 3")
			if ok[2] != "5" || ok[4] != "false" || ok[5] != "3" {
				t.Fatalf("join: %v", ok)
			}
			epoch := ok[3]
			for i := 3; i <= 5; i++ {
				p.Expect(fmt.Sprintf("message room %d %s a%d", i, epoch, i))
			}
			p.C.NetConn().Close() // gone, last seen 5

			for i := 6; i <= 9; i++ {
				pstest.Publish(t, n, "room", "b"+strconv.Itoa(i))
			}
			q := pstest.Dial(t, url)
			ok = q.Subscribe("sub room since 5 " + epoch)
			if ok[4] != "true" || ok[5] != "4" {
				t.Fatalf("recovery: %v", ok)
			}
			for i := 6; i <= 9; i++ {
				q.Expect(fmt.Sprintf("message room %d %s b%d", i, epoch, i))
			}
			pstest.Publish(t, n, "room", "live")
			q.Expect(fmt.Sprintf("message room 10 %s live", epoch))

			// The history holds 10: offset 1 is gone after 5 more.
			for i := 11; i <= 15; i++ {
				pstest.Publish(t, n, "room", "c"+strconv.Itoa(i))
			}
			r := pstest.Dial(t, url)
			ok = r.Subscribe("sub room since 1 " + epoch + " history 2")
			if ok[4] != "false" || ok[5] != "2" {
				t.Fatalf("too old: %v", ok)
			}
			r.Expect(fmt.Sprintf("message room 14 %s c14", epoch))
			r.Expect(fmt.Sprintf("message room 15 %s c15", epoch))
			s := pstest.Dial(t, url)
			if ok = s.Subscribe("sub room since 3 other-epoch"); ok[4] != "false" {
				t.Fatalf("other epoch: %v", ok)
			}
			if st := n.Stats(); st.Unrecovered != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestRecoveryRace: messages published while a recovering subscribe waits
// for the broker are held and delivered after the history, each once and
// in order.
func TestRecoveryRace(t *testing.T) {
	for _, e := range pstest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			n, url := pstest.StartNode(t, e, pubsub.NewMemory(pubsub.MemoryConfig{HistorySize: 1000}), pubsub.Config{})
			first := pstest.Publish(t, n, "room", "m1")
			const last = 301 // published while the subscribes run: within the history and HistoryLimit
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 2; i <= last; i++ {
					pstest.Publish(t, n, "room", "m"+strconv.Itoa(i))
					time.Sleep(50 * time.Microsecond)
				}
			}()
			var peers []*pstest.Peer
			for range 20 {
				p := pstest.Dial(t, url)
				p.Subscribe("sub room since 1 " + first.Epoch)
				peers = append(peers, p)
				time.Sleep(time.Millisecond)
			}
			<-done
			for _, p := range peers {
				for i := 2; i <= last; i++ {
					p.Expect(fmt.Sprintf("message room %d %s m%d", i, first.Epoch, i))
				}
			}
		})
	}
}

// TestPresence: who is there on join, Join and Leave events, Leave when
// the connection drops.
func TestPresence(t *testing.T) {
	for _, e := range pstest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			n, url := pstest.StartNode(t, e, pubsub.NewMemory(pubsub.MemoryConfig{}), pubsub.Config{})
			a := pstest.Dial(t, url)
			if ok := a.Subscribe("sub room presence"); len(ok) != 7 || ok[6] != a.ID {
				t.Fatalf("a: %v", ok)
			}
			a.Expect("join room " + a.ID)
			b := pstest.Dial(t, url)
			ok := b.Subscribe("sub room presence")
			if got := strings.Join(sorted(ok[6:]), " "); got != strings.Join(sorted([]string{a.ID, b.ID}), " ") {
				t.Fatalf("b sees %v", ok)
			}
			a.Expect("join room " + b.ID)
			b.Expect("join room " + b.ID)
			b.C.NetConn().Close()
			a.Expect("leave room " + b.ID)
			waitPresence(t, n, "room", a.ID)
			// The unsub and c's subscribe come on two connections, which
			// nothing orders: c subscribes once the node shows a gone.
			a.Send("unsub room")
			waitPresence(t, n, "room")
			c := pstest.Dial(t, url)
			if ok := c.Subscribe("sub room presence"); len(ok) != 7 || ok[6] != c.ID {
				t.Fatalf("after a left: %v", ok)
			}
		})
	}
}

// waitPresence waits until the node's presence in topic is exactly ids.
func waitPresence(t *testing.T, n *pubsub.Node, topic string, ids ...string) {
	t.Helper()
	want := strings.Join(sorted(ids), " ")
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := n.Presence(t.Context(), topic)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range list {
			got = append(got, p.ID)
		}
		if strings.Join(sorted(got), " ") == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence in %s: %v, want %v", topic, list, ids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestLimits: bad topics, too many topics per client, a subscribe twice,
// an oversized publish, too many subscribers.
func TestLimits(t *testing.T) {
	e := pstest.Engines()[0]
	_, url := pstest.StartNode(t, e, pubsub.NewMemory(pubsub.MemoryConfig{}), pubsub.Config{MaxTopicsPerClient: 2, MaxMessage: 8, MaxSubscribersPerTopic: 2})
	p := pstest.Dial(t, url)
	p.Send("sub bad.topic")
	p.Expect("err pubsub: bad topic")
	p.Subscribe("sub a")
	p.Send("sub a")
	p.Expect("err " + pubsub.ErrAlreadySubscribed.Error())
	p.Subscribe("sub b")
	p.Send("sub c")
	p.Expect("err pubsub: limit reached: topics per client")
	p.Send("pub a 123456789")
	p.Expect("err pubsub: limit reached: message size")
	p.Send("unsub b")
	p.Subscribe("sub c")
	q := pstest.Dial(t, url)
	q.Subscribe("sub a")
	r := pstest.Dial(t, url)
	r.Send("sub a")
	r.Expect("err pubsub: limit reached: subscribers per topic")
}

// TestSlowSubscriber: a subscriber that never reads is disconnected with
// the slow code once its queue passes MaxQueued, while the others get
// every message.
func TestSlowSubscriber(t *testing.T) {
	for _, e := range pstest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			n, url := pstest.StartNode(t, e, pubsub.NewMemory(pubsub.MemoryConfig{}), pubsub.Config{MaxQueued: 256 << 10})
			slow := pstest.Dial(t, url)
			slow.Subscribe("sub room")
			fast := pstest.Dial(t, url)
			fast.Subscribe("sub room")
			payload := strings.Repeat("x", 16<<10)
			const msgs = 400 // 6.4 MiB: past the socket buffers and MaxQueued
			got := make(chan error, 1)
			read := make(chan int, msgs)
			go func() {
				for i := range msgs {
					_, m, err := fast.C.ReadMessage()
					if err != nil || !strings.HasPrefix(string(m), fmt.Sprintf("message room %d ", i+1)) {
						got <- fmt.Errorf("message %d: %v %.30q", i, err, m)
						return
					}
					read <- i + 1
				}
				got <- nil
			}()
			seen := 0
			for i := range msgs {
				for seen < i-4 { // the fast one keeps up: at most 4 ahead of it
					select {
					case seen = <-read:
					case err := <-got:
						t.Fatal(err)
					}
				}
				pstest.Publish(t, n, "room", payload)
			}
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			if st := n.Stats(); st.Slow != 1 {
				t.Fatalf("stats %+v", st)
			}
			// The slow one reads what was queued, then the close 3008.
			for {
				op, m, err := slow.C.ReadMessage()
				if err != nil {
					if err != io.EOF || slow.C.Code != 3008 {
						t.Fatalf("slow: %v, close code %d", err, slow.C.Code)
					}
					break
				}
				if op != ws.OpText || !strings.HasPrefix(string(m), "message room ") {
					t.Fatalf("slow got %.40q", m)
				}
			}
		})
	}
}

// TestPublishFlood: a client that sends publishes without reading the
// answers is held back: its answers fill its queue, the server stops
// reading it, and TCP stops its writes, while the server's queued bytes
// stay under the watermarks and another client publishes and receives
// as usual.
func TestPublishFlood(t *testing.T) {
	for _, e := range pstest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			const high = 64 << 10
			in := pstest.Start(t, e, pubsub.NewMemory(pubsub.MemoryConfig{}), pubsub.Config{}, server.WithWatermarks(high, high/4))
			sub := pstest.Dial(t, in.URL)
			sub.Subscribe("sub room")
			flooder := pstest.Dial(t, in.URL)
			blocked := make(chan int, 1)
			go func() {
				flooder.C.NetConn().SetWriteDeadline(time.Now().Add(3 * time.Second))
				n := 0
				for ; flooder.C.WriteMessage(ws.OpText, []byte("pub room flood")) == nil; n++ {
				}
				blocked <- n
			}()
			// Meanwhile another client is served.
			other := pstest.Dial(t, in.URL)
			other.Send("pub room hello")
			other.Expect("pubok ")
			sent := <-blocked
			if q := in.Server.OutboundBytes(); q > 2*high {
				t.Fatalf("%d bytes queued, over twice the high watermark", q)
			}
			st := in.Node.Stats()
			t.Logf("the flooder wrote %d publishes before TCP held it; %d were published", sent, st.Published)
			if st.Published >= int64(sent) {
				t.Fatalf("all %d publishes were taken", sent)
			}
			// The subscriber got the other client's message among the flood.
			for {
				if m := sub.Read(); strings.HasSuffix(m, " hello") {
					break
				}
			}
		})
	}
}

// TestPublishOrder: a client's publishes sent without waiting for the
// answers are stored, and delivered, in the order it sent them, though
// the node's workers run many broker calls at once.
func TestPublishOrder(t *testing.T) {
	for _, e := range pstest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			const msgs = 300
			_, url := pstest.StartNode(t, e, pubsub.NewMemory(pubsub.MemoryConfig{}), pubsub.Config{MaxPublishesInFlight: msgs})
			sub := pstest.Dial(t, url)
			sub.Subscribe("sub room")
			pub := pstest.Dial(t, url)
			for i := range msgs {
				pub.Send("pub room m" + strconv.Itoa(i))
			}
			for i := range msgs {
				if m := pub.Read(); m != "pubok "+strconv.Itoa(i+1) {
					t.Fatalf("answer %d: %q", i, m)
				}
			}
			for i := range msgs {
				if f := strings.Fields(sub.Read()); len(f) != 5 || f[2] != strconv.Itoa(i+1) || f[4] != "m"+strconv.Itoa(i) {
					t.Fatalf("message %d: %q", i, f)
				}
			}
		})
	}
}

// gatedBroker is Memory whose Publish waits for gate.
type gatedBroker struct {
	*pubsub.Memory
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedBroker) Publish(ctx context.Context, p *pubsub.Publication) (pubsub.Position, error) {
	if p.Kind == pubsub.Message {
		g.entered <- struct{}{}
		<-g.gate
	}
	return g.Memory.Publish(ctx, p)
}

// TestDrain: Drain waits for the publishes in flight, then the node
// refuses new ones with ErrDraining; a Drain cut short by its context
// says so.
func TestDrain(t *testing.T) {
	b := &gatedBroker{Memory: pubsub.NewMemory(pubsub.MemoryConfig{}), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	n, err := pubsub.NewNode(b, pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	published := make(chan error, 1)
	go func() {
		_, err := n.Publish(context.Background(), "room", []byte("x"), pubsub.ClientInfo{})
		published <- err
	}()
	<-b.entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Drain(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Drain with a publish in flight: %v", err)
	}
	if _, err := n.Publish(context.Background(), "room", []byte("y"), pubsub.ClientInfo{}); err != pubsub.ErrDraining {
		t.Fatalf("Publish while draining: %v", err)
	}
	drained := make(chan error, 1)
	go func() { drained <- n.Drain(context.Background()) }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v before the publish in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(b.gate)
	if err := <-published; err != nil {
		t.Fatalf("the publish in flight: %v", err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if err := n.Drain(context.Background()); err != nil {
		t.Fatalf("a second Drain: %v", err)
	}
}
