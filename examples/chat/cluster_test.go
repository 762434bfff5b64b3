//go:build !plan9

package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/natstest"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/ws"
)

// startNATS runs an embedded NATS server with JetStream and returns its
// URL.
func startNATS(t *testing.T) string { return natstest.Start(t, 1)[0] }

// TestCluster: two chat nodes on one NATS (-nats), as behind a load
// balancer: clients of each node share the room's messages and presence,
// and a client that leaves one node and joins on the other with its
// position recovers exactly what it missed.
func TestCluster(t *testing.T) {
	url := startNATS(t)
	var nodes []*testChat
	for range 2 {
		b, err := newBroker(url, 1, 100, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, startChat(t, b, nil))
	}
	alice, bob := nodes[0].dial("alice"), nodes[1].dial("bob")
	alice.join("lobby", 0, nil)
	bob.join("lobby", 0, nil)
	alice.waitPresence("lobby", alice.id, bob.id)
	bob.waitPresence("lobby", alice.id, bob.id)

	var last pubsub.Position
	for i, p := range []*peer{alice, bob, alice} {
		other := map[*peer]*peer{alice: bob, bob: alice}[p]
		ack := p.publish("lobby", fmt.Sprint(i), fmt.Sprint("from node ", i%2))
		m := other.expect("message")
		if m.Offset != ack.Offset || m.User != p.user {
			t.Fatalf("%s got %v, want offset %d from %s", other.user, m, ack.Offset, p.user)
		}
		last = pubsub.Position{Offset: m.Offset, Epoch: m.Epoch}
	}

	bob.c.Close(ws.CloseNormal)
	alice.waitPresence("lobby", alice.id)
	var missed []uint64
	for i := range 3 {
		missed = append(missed, alice.publish("lobby", fmt.Sprint("m", i), "missed").Offset)
	}
	bob = nodes[0].dial("bob")
	if j := bob.join("lobby", 50, &last); !*j.Recovered {
		t.Fatalf("bob rejoined on the other node: %v", j)
	}
	for _, off := range missed {
		if m := bob.expect("message"); m.Offset != off {
			t.Fatalf("recovered %v, want offset %d", m, off)
		}
	}
	ack := alice.publish("lobby", "live", "live")
	if m := bob.expect("message"); m.Offset != ack.Offset {
		t.Fatalf("after the recovery: %v, want offset %d", m, ack.Offset)
	}
}

// TestBrokerChoice: the flags that -nats cannot honour are refused.
func TestBrokerChoice(t *testing.T) {
	for _, c := range []struct {
		history int
		ttl     time.Duration
	}{{0, time.Minute}, {100, 0}} {
		if _, err := newBroker("nats://127.0.0.1:1", 1, c.history, c.ttl); err == nil {
			t.Errorf("-nats with -history %d -history-ttl %v: no error", c.history, c.ttl)
		}
	}
	b, err := newBroker("", 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*pubsub.Memory); !ok {
		t.Fatalf("without -nats: %T", b)
	}
}
