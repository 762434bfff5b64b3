package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/ws"
)

// TestDrainDeliversAcked: publishers keep publishing while the chat
// drains. Every message a publisher got an ack for reached every
// subscriber, WebSocket or SSE, before its reconnect close (3001) (the node drains first, then
// each goodbye delivers what the node queued); a publish the server read
// after the node drained is refused with the reconnect code, which tells
// the page to send it again after reconnecting.
func TestDrainDeliversAcked(t *testing.T) {
	tc := startChat(t, nil, nil)
	const pubs, subs, window = 4, 4, 16
	type result struct {
		texts map[string]bool // acked (publishers) or received (subscribers)
		code  int
		err   error
	}
	subResults := make([]result, subs+1) // the last: the SSE stream's
	pubResults := make([]result, pubs)
	var wg sync.WaitGroup
	for i := range subs {
		p := tc.dial(fmt.Sprintf("sub%d", i))
		p.join("lobby", 0, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &subResults[i]
			r.texts = map[string]bool{}
			for {
				m, err := readMsg(p.c)
				if err != nil {
					r.code = p.c.Code
					p.c.NetConn().Close() // the server lingers for the FIN
					return
				}
				if m.Op == "message" {
					r.texts[m.Text] = true
				}
			}
		}()
	}
	// And one subscriber over SSE: its stream's goodbye delivers too.
	sse := tc.sse("token=" + url.QueryEscape(tc.token("sse")) + "&rooms=lobby")
	sse.expect("joined")
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := &subResults[subs]
		r.texts = map[string]bool{}
		for {
			m, err := sse.next()
			if err != nil {
				return
			}
			switch m.Op {
			case "message":
				r.texts[m.Text] = true
			case "disconnect":
				r.code = m.Code
			}
		}
	}()
	started := make(chan struct{}, pubs)
	for i := range pubs {
		p := tc.dial(fmt.Sprintf("pub%d", i))
		p.join("lobby", 0, nil)
		slots := make(chan struct{}, window) // publishes not yet answered
		closed := make(chan struct{})
		wg.Add(2)
		go func() { // the answers
			defer wg.Done()
			r := &pubResults[i]
			r.texts = map[string]bool{}
			for {
				m, err := readMsg(p.c)
				if err != nil {
					r.code = p.c.Code
					close(closed)
					p.c.NetConn().Close()
					return
				}
				switch m.Op {
				case "ack":
					r.texts[m.ID] = true
				case "error": // a publish the draining node refused: not published, to send again
					if m.ID == "" || m.Code != closeReconnect {
						r.err = fmt.Errorf("want only refusals with the code %d: %v", closeReconnect, m)
					}
				default:
					continue
				}
				select {
				case <-slots:
				default:
					r.err = fmt.Errorf("an answer with no publish waiting: %v", m)
				}
			}
		}()
		go func() { // the publishes, window at a time
			defer wg.Done()
			for n := 0; ; n++ {
				if n == window {
					started <- struct{}{}
				}
				text := fmt.Sprintf("p%d-%d", i, n)
				b, _ := json.Marshal(map[string]any{"op": "publish", "room": "lobby", "id": text, "text": text})
				select {
				case slots <- struct{}{}:
				case <-closed:
					return
				}
				if p.c.WriteMessage(ws.OpText, b) != nil {
					return
				}
			}
		}()
	}
	for range pubs {
		<-started
	}
	time.Sleep(20 * time.Millisecond)
	tc.drain()
	wg.Wait()

	acked := 0
	for i, r := range pubResults {
		if r.err != nil {
			t.Errorf("publisher %d: %v", i, r.err)
		}
		if r.code != closeReconnect {
			t.Errorf("publisher %d: close %d, want %d", i, r.code, closeReconnect)
		}
		acked += len(r.texts)
	}
	if acked < pubs*window {
		t.Fatalf("%d publishes acked before the drain; the test wants traffic", acked)
	}
	for i, r := range subResults {
		if r.code != closeReconnect {
			t.Errorf("subscriber %d: close %d, want %d", i, r.code, closeReconnect)
		}
		for _, pr := range pubResults {
			for text := range pr.texts {
				if !r.texts[text] {
					t.Errorf("subscriber %d: %q was acked to its publisher but never delivered before the close", i, text)
				}
			}
		}
	}
}
