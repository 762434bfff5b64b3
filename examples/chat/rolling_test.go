//go:build !plan9

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/natstest"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/ws"
)

// TestThreeNodes: three chat nodes on a NATS cluster of three. A message
// published on any node reaches the room's members on all three, in
// offset order, and every node shows the same presence. Then a rolling
// restart: each node in turn is drained (its clients get the reconnect
// code, 3001) and started again, while a publisher keeps publishing and
// reconnects elsewhere when its node goes. Every subscriber rejoins on a
// live node with its last position and recovers from history: it ends
// with every acknowledged message, each offset once, with no gap.
func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("a NATS cluster and three restarts")
	}
	urls := natstest.Start(t, 3)
	var mu sync.Mutex
	nodes := make([]*testChat, len(urls))
	live := make([]string, len(urls)) // a node's address; "" while it restarts
	startNode := func(i int) {
		b, err := newBroker(urls[i], 3, 10000, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		tc := startChat(t, b, nil)
		mu.Lock()
		nodes[i], live[i] = tc, tc.addr
		mu.Unlock()
	}
	for i := range urls {
		startNode(i)
	}

	// One member per node: presence and order across the nodes.
	peers := make([]*peer, len(nodes))
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		peers[i] = n.dial(fmt.Sprint("user", i))
		ids[i] = peers[i].id
		peers[i].join("room", 0, nil)
	}
	for _, p := range peers {
		p.waitPresence("room", ids...)
	}
	for round := range 3 {
		for k, p := range peers {
			ack := p.publish("room", fmt.Sprint("r", round, "-", k), fmt.Sprint("round ", round, " from node ", k))
			for j, q := range peers {
				if j == k {
					continue
				}
				if m := q.expect("message"); m.Offset != ack.Offset || m.User != p.user {
					t.Fatalf("node %d got %v, want offset %d from %s", j, m, ack.Offset, p.user)
				}
			}
		}
	}
	for _, p := range peers {
		p.c.Close(ws.CloseNormal)
	}

	// The rolling restart.
	pick := func(k int) (string, string) {
		mu.Lock()
		defer mu.Unlock()
		for j := range live {
			if a := live[(k+j)%len(live)]; a != "" {
				return a, nodes[(k+j)%len(live)].token(fmt.Sprint("load", k))
			}
		}
		return "", ""
	}
	deadline := time.Now().Add(2 * time.Minute) // against a hung test only
	dialRoom := func(k int, since *pubsub.Position) (*ws.Client, *msg, error) {
		addr, token := pick(k)
		c, err := ws.Dial("ws://"+addr+"/ws?token="+url.QueryEscape(token), nil)
		if err != nil {
			return nil, nil, err
		}
		c.NetConn().SetDeadline(deadline)
		b, _ := json.Marshal(map[string]any{"op": "join", "room": "load", "since": since})
		if err := c.WriteMessage(ws.OpText, b); err != nil {
			c.NetConn().Close()
			return nil, nil, err
		}
		for {
			m, err := readMsg(c)
			if err != nil {
				c.NetConn().Close()
				return nil, nil, err
			}
			switch m.Op {
			case "joined":
				return c, m, nil
			case "error":
				c.NetConn().Close()
				return nil, nil, fmt.Errorf("join: %v", m)
			}
		}
	}

	const subscribers = 6
	type subResult struct {
		last       atomic.Uint64 // offset of the last message
		got        []uint64      // offsets in the order they came; owned by its goroutine until wg.Wait
		reconnects int
		err        error
	}
	subs := make([]*subResult, subscribers)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var joined sync.WaitGroup
	for k := range subs {
		r := &subResult{}
		subs[k] = r
		joined.Add(1)
		wg.Go(func() {
			var pos *pubsub.Position
			first := true
			for !stop.Load() {
				c, j, err := dialRoom(k, pos)
				if err != nil { // a node going between pick and dial: try again
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if first {
					first = false
					joined.Done()
				} else {
					r.reconnects++
					if !*j.Recovered {
						r.err = fmt.Errorf("rejoin %d from %+v: not recovered", r.reconnects, *pos)
						c.NetConn().Close()
						return
					}
				}
				if pos == nil {
					pos = j.Position
				}
				for {
					m, err := readMsg(c)
					if err != nil {
						c.NetConn().Close()
						if stop.Load() {
							return
						}
						if errors.Is(err, io.EOF) && c.Code == closeReconnect {
							break // drained: rejoin elsewhere
						}
						r.err = fmt.Errorf("read: %v (close code %d)", err, c.Code)
						return
					}
					if m.Op != "message" {
						continue
					}
					if m.Epoch != pos.Epoch || m.Offset != pos.Offset+1 {
						r.err = fmt.Errorf("message at %d/%s after %d/%s", m.Offset, m.Epoch, pos.Offset, pos.Epoch)
						c.NetConn().Close()
						return
					}
					pos = &pubsub.Position{Offset: m.Offset, Epoch: m.Epoch}
					r.got = append(r.got, m.Offset)
					r.last.Store(m.Offset)
				}
			}
		})
	}
	joined.Wait()

	// The publisher, a load tool of its own: publish, wait for the ack,
	// again; when its node goes, go to another one.
	var acked []uint64
	var pubErr error
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		n := 0
		for !stop.Load() {
			c, _, err := dialRoom(100, nil)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			for !stop.Load() {
				n++
				b, _ := json.Marshal(map[string]any{"op": "publish", "room": "load", "id": fmt.Sprint(n), "text": fmt.Sprint("m", n)})
				if c.WriteMessage(ws.OpText, b) != nil {
					break
				}
				var ack *msg
			answer:
				for ack == nil {
					m, err := readMsg(c)
					if err != nil {
						break
					}
					switch {
					case m.Op == "ack" && m.ID == fmt.Sprint(n):
						ack = m
					case m.Op == "error" && m.Code == closeReconnect && m.ID == fmt.Sprint(n):
						break answer // refused by a draining node: not published; go to another
					case m.Op == "error":
						pubErr = fmt.Errorf("publish %d: %v", n, m)
						c.NetConn().Close()
						return
					}
				}
				if ack == nil {
					break // no answer before the node went, or refused: not acknowledged
				}
				acked = append(acked, ack.Offset)
			}
			c.NetConn().Close()
		}
	}()

	for i := range nodes {
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		live[i] = ""
		n := nodes[i]
		mu.Unlock()
		n.drain()
		startNode(i)
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	<-pubDone
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	maxAcked := acked[len(acked)-1]
	// Every subscriber gets up to the last acknowledged message.
	for k, r := range subs {
		for r.last.Load() < maxAcked && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if r.last.Load() < maxAcked {
			t.Errorf("subscriber %d: last offset %d, want %d", k, r.last.Load(), maxAcked)
		}
	}
	for _, n := range nodes {
		n.s.Close() // ends the subscribers' connections
	}
	wg.Wait()
	for k, r := range subs {
		if r.err != nil {
			t.Fatalf("subscriber %d: %v", k, r.err)
		}
		if r.reconnects == 0 {
			t.Errorf("subscriber %d was never told to reconnect", k)
		}
		have := make(map[uint64]bool, len(r.got))
		for _, o := range r.got {
			have[o] = true
		}
		for _, o := range acked {
			if !have[o] {
				t.Fatalf("subscriber %d: acknowledged offset %d missing", k, o)
			}
		}
	}
	reconnects := 0
	for _, r := range subs {
		reconnects += r.reconnects
	}
	t.Logf("%d messages acknowledged (offsets to %d) through three restarts; %d subscribers, %d rejoins, all recovered",
		len(acked), maxAcked, subscribers, reconnects)
}
