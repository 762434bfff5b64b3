package main

import (
	"fmt"
	"testing"

	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/ws"
)

// TestExchange: two clients join a room and each gets the other's
// messages, with the publisher's user, in offset order.
func TestExchange(t *testing.T) {
	tc := startChat(t, nil, nil)
	alice, bob := tc.dial("alice"), tc.dial("bob")
	if alice.id == bob.id || alice.user != "alice" {
		t.Fatalf("hello: %q %q %q", alice.id, bob.id, alice.user)
	}
	a := alice.join("lobby", 0, nil)
	if a.Position.Offset != 0 || *a.Recovered {
		t.Fatalf("joined an empty room: %v", a)
	}
	bob.join("lobby", 0, nil)
	for i, p := range []*peer{alice, bob, alice} {
		other := bob
		if p == bob {
			other = alice
		}
		text := fmt.Sprintf("héllo %d from %s ✓", i, p.user)
		ack := p.publish("lobby", fmt.Sprint("m", i), text)
		if ack.Offset != uint64(i+1) || ack.Epoch != a.Position.Epoch {
			t.Fatalf("ack %v, want offset %d of epoch %s", ack, i+1, a.Position.Epoch)
		}
		m := other.expect("message")
		if m.Text != text || m.User != p.user || m.Offset != ack.Offset || m.Room != "lobby" || m.Time == 0 {
			t.Fatalf("%s got %v, want %q from %s", other.user, m, text, p.user)
		}
	}
}

// TestPresence: the room's presence shows both clients, then one when
// the other closes; a client in two rooms is in both.
func TestPresence(t *testing.T) {
	tc := startChat(t, nil, nil)
	alice, bob := tc.dial("alice"), tc.dial("bob")
	alice.join("lobby", 0, nil)
	alice.waitPresence("lobby", alice.id)
	b := bob.join("lobby", 0, nil)
	if len(b.Presence) != 2 {
		t.Fatalf("bob joined with presence %v, want alice and bob", b.Presence)
	}
	alice.waitPresence("lobby", alice.id, bob.id)
	bob.waitPresence("lobby", alice.id, bob.id)

	alice.join("other", 0, nil)
	bob.join("other", 0, nil)
	alice.waitPresence("other", alice.id, bob.id)

	bob.c.Close(ws.CloseNormal)
	alice.waitPresence("lobby", alice.id)
	alice.waitPresence("other", alice.id)
	for _, c := range alice.presence["lobby"] {
		if c != "alice" {
			t.Fatalf("presence %v", alice.presence)
		}
	}

	// Leaving a room is a leave there only.
	carol := tc.dial("carol")
	carol.join("lobby", 0, nil)
	carol.join("other", 0, nil)
	alice.waitPresence("lobby", alice.id, carol.id)
	carol.send(map[string]any{"op": "leave", "room": "lobby"})
	if m := carol.expect("left"); m.Room != "lobby" {
		t.Fatalf("left %v", m)
	}
	alice.waitPresence("lobby", alice.id)
	alice.waitPresence("other", alice.id, carol.id)
}

// TestRecovery: a client that disconnects and joins again with its last
// position gets exactly the messages it missed, with recovered true.
func TestRecovery(t *testing.T) {
	tc := startChat(t, nil, nil)
	alice, bob := tc.dial("alice"), tc.dial("bob")
	alice.join("lobby", 0, nil)
	bob.join("lobby", 0, nil)
	var last pubsub.Position
	for i := range 3 {
		alice.publish("lobby", fmt.Sprint("a", i), fmt.Sprint("before ", i))
		m := bob.expect("message")
		last = pubsub.Position{Offset: m.Offset, Epoch: m.Epoch}
	}
	bob.c.Close(ws.CloseNormal)
	var missed []uint64
	for i := range 4 {
		missed = append(missed, alice.publish("lobby", fmt.Sprint("b", i), fmt.Sprint("missed ", i)).Offset)
	}

	bob = tc.dial("bob")
	j := bob.join("lobby", 50, &last)
	if !*j.Recovered || j.Position.Offset != missed[len(missed)-1] {
		t.Fatalf("rejoined with %v: %v", last, j)
	}
	for i, off := range missed {
		m := bob.expect("message")
		if m.Offset != off || m.Text != fmt.Sprint("missed ", i) || m.User != "alice" {
			t.Fatalf("recovered %v, want offset %d", m, off)
		}
	}
	// Nothing more from history: the next message is a live one.
	ack := alice.publish("lobby", "after", "after")
	if m := bob.expect("message"); m.Offset != ack.Offset || m.Text != "after" {
		t.Fatalf("after the recovery: %v", m)
	}

	// A position of another epoch cannot be recovered: the last messages
	// asked for come instead.
	carol := tc.dial("carol")
	j = carol.join("lobby", 2, &pubsub.Position{Offset: 3, Epoch: "gone"})
	if *j.Recovered {
		t.Fatalf("recovered from another epoch: %v", j)
	}
	for _, off := range []uint64{ack.Offset - 1, ack.Offset} {
		if m := carol.expect("message"); m.Offset != off {
			t.Fatalf("history after a failed recovery: %v, want offset %d", m, off)
		}
	}
}

// TestRecoveryPastHistory: a client that missed more than a room keeps
// is told recovered false and gets the last messages.
func TestRecoveryPastHistory(t *testing.T) {
	tc := startChat(t, pubsub.NewMemory(pubsub.MemoryConfig{HistorySize: 5}), func(o *options) { o.maxHistory = 5 })
	alice, bob := tc.dial("alice"), tc.dial("bob")
	alice.join("r", 0, nil)
	j := bob.join("r", 0, nil)
	bob.c.Close(ws.CloseNormal)
	var last *msg
	for i := range 8 {
		last = alice.publish("r", fmt.Sprint(i), fmt.Sprint("m", i))
	}
	bob = tc.dial("bob")
	j = bob.join("r", 3, j.Position)
	if *j.Recovered || j.Position.Offset != last.Offset {
		t.Fatalf("joined after missing 8 of a history of 5: %v", j)
	}
	for off := last.Offset - 2; off <= last.Offset; off++ {
		if m := bob.expect("message"); m.Offset != off {
			t.Fatalf("got %v, want offset %d", m, off)
		}
	}
}

// TestHistory: a join gets the room's last messages, as many as it asks
// for, up to the history the room keeps, then live ones.
func TestHistory(t *testing.T) {
	tc := startChat(t, nil, nil)
	alice := tc.dial("alice")
	for _, n := range []int{0, 3, 50} {
		room := fmt.Sprint("h", n)
		alice.join(room, 0, nil)
		for i := range 5 {
			alice.publish(room, fmt.Sprint(i), fmt.Sprint("message ", i+1))
		}
		bob := tc.dial("bob")
		j := bob.join(room, n, nil)
		if *j.Recovered || j.Position.Offset != 5 {
			t.Fatalf("joined %v", j)
		}
		for off := uint64(max(5-n, 0) + 1); off <= 5; off++ {
			if m := bob.expect("message"); m.Offset != off || m.Text != fmt.Sprint("message ", off) || m.User != "alice" {
				t.Fatalf("history %d: %v, want offset %d", n, m, off)
			}
		}
		ack := alice.publish(room, "live", "live")
		if m := bob.expect("message"); m.Offset != ack.Offset || m.Text != "live" {
			t.Fatalf("history %d: then %v, want the live offset %d", n, m, ack.Offset)
		}
	}
}
