//go:build !plan9

package natsbroker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/pubsub/internal/pstest"
)

// startNodes runs a pubsub.Node with a WebSocket server on each NATS
// server of urls.
func startNodes(t *testing.T, urls []string, cfg Config) ([]*pubsub.Node, []string) {
	t.Helper()
	e := pstest.Engines()[len(pstest.Engines())-1]
	var nodes []*pubsub.Node
	var wsURLs []string
	for _, u := range urls {
		b, err := Dial(u, cfg)
		if err != nil {
			t.Fatal(err)
		}
		n, url := pstest.StartNode(t, e, b, pubsub.Config{})
		nodes = append(nodes, n)
		wsURLs = append(wsURLs, url)
	}
	return nodes, wsURLs
}

// TestNodesOnCluster: three nodes, each on its own server of a NATS
// cluster of three; clients of every node publish into one topic at
// once, and every subscriber, whatever its node, receives all of it in
// the same order; presence is the same from every node; a client that
// leaves one node and comes back on another with its position recovers
// exactly what it missed.
func TestNodesOnCluster(t *testing.T) {
	urls := startNATS(t, 3)
	nodes, ws := startNodes(t, urls, Config{Replicas: 3})
	var subs []*pstest.Peer
	for i := range 3 * len(ws) {
		p := pstest.Dial(t, ws[i%len(ws)])
		p.Subscribe("sub room presence")
		subs = append(subs, p)
	}
	const per = 30
	var wg sync.WaitGroup
	for i, u := range ws {
		wg.Go(func() {
			p := pstest.Dial(t, u)
			for k := range per {
				p.Send(fmt.Sprintf("pub room n%d-%d", i, k))
				if m := p.Read(); !strings.HasPrefix(m, "pubok ") {
					t.Errorf("publish: %q", m)
					return
				}
			}
		})
	}
	wg.Wait()
	total := per * len(ws)
	var first []string
	var epoch string
	for i, p := range subs {
		var got []string
		for len(got) < total {
			m := p.Read()
			if !strings.HasPrefix(m, "message ") {
				continue // presence events
			}
			f := strings.Fields(m)
			if f[2] != strconv.Itoa(len(got)+1) {
				t.Fatalf("subscriber %d: %q at %d", i, m, len(got)+1)
			}
			got = append(got, f[4])
			epoch = f[3]
		}
		if i == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("subscriber %d saw another order", i)
		}
	}
	// Every node's replica of the presence bucket applies the entries in
	// turn: the same lists soon, not at once.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var lists [][]string
		for _, n := range nodes {
			ps, err := n.Presence(t.Context(), "room")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range ps {
				ids = append(ids, c.ID)
			}
			slices.Sort(ids)
			lists = append(lists, ids)
		}
		if len(lists[0]) == len(subs) && slices.Equal(lists[0], lists[1]) && slices.Equal(lists[0], lists[2]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence differs between nodes: %v", lists)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A client of node 0 goes, messages go on, it comes back on node 1.
	last := strconv.Itoa(total)
	subs[0].C.NetConn().Close()
	p := pstest.Dial(t, ws[2])
	for k := range 5 {
		p.Send("pub room late" + strconv.Itoa(k))
		p.Expect("pubok ")
	}
	q := pstest.Dial(t, ws[1])
	ok := q.Subscribe("sub room since " + last + " " + epoch)
	if ok[4] != "true" || ok[5] != "5" {
		t.Fatalf("recovery on another node: %v", ok)
	}
	for k := range 5 {
		if m := q.Expect("message room "); !strings.HasSuffix(m, " late"+strconv.Itoa(k)) {
			t.Fatalf("recovered %q", m)
		}
	}
}
