package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/ws"
)

// upgrade sends a WebSocket handshake with the extra header lines and
// returns the status of the answer, and its Sec-WebSocket-Protocol.
func (tc *testChat) upgrade(target, extra string) (int, string) {
	tc.t.Helper()
	c, err := net.Dial("tcp", tc.addr)
	if err != nil {
		tc.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hang))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", target, tc.addr, extra)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tc.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol")
}

// TestUpgradeAuth: the token is checked before the 101; without a good
// one the answer is 403. It may come as the subprotocol "token.T", next
// to "chat", which the server chooses.
func TestUpgradeAuth(t *testing.T) {
	tc := startChat(t, nil, nil)
	good := tc.token("alice")
	h, p, _ := strings.Cut(good, ".")
	p, _, _ = strings.Cut(p, ".")
	for _, c := range []struct {
		name, target, extra string
		status              int
		protocol            string
	}{
		{"query", "/ws?token=" + good, "", 101, ""},
		{"subprotocol", "/ws", "Sec-WebSocket-Protocol: chat, token." + good + "\r\n", 101, "chat"},
		{"no token", "/ws", "", 403, ""},
		{"garbage", "/ws?token=abc", "", 403, ""},
		{"bad signature", "/ws?token=" + good[:len(good)-2] + "AA", "", 403, ""},
		{"other key", "/ws?token=" + signToken([]byte("another key, sixteen+"), "alice", time.Now().Add(time.Hour)), "", 403, ""},
		{"expired", "/ws?token=" + signToken(testSecret, "alice", time.Now().Add(-time.Second)), "", 403, ""},
		{"alg none", "/ws?token=" + b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + p + ".", "", 403, ""},
		{"five parts", "/ws?token=" + h + "." + p + "." + good, "", 403, ""},
	} {
		status, proto := tc.upgrade(c.target, c.extra)
		if status != c.status || proto != c.protocol {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, proto, c.status, c.protocol)
		}
	}
}

// TestBadRequests: each bad request is answered with an error naming it;
// past maxErrors of them, the connection closes with 1008.
func TestBadRequests(t *testing.T) {
	tc := startChat(t, nil, func(o *options) { o.maxErrors = 20 })
	p := tc.dial("alice")
	p.join("lobby", 0, nil)
	bad := []string{
		`{`,
		`[1,2]`,
		`{"op":"dance","room":"lobby"}`,
		`{"room":"lobby"}`,
		`{"op":"join","room":"no spaces"}`,
		`{"op":"join","room":""}`,
		`{"op":"join","room":"lobby"}`,
		`{"op":"leave","room":"elsewhere"}`,
		`{"op":"publish","room":"elsewhere","text":"x","id":"1"}`,
		`{"op":"publish","room":"lobby","text":"","id":"2"}`,
		`{"op":"publish","room":"lobby","text":"` + strings.Repeat("x", maxText+1) + `","id":"3"}`,
		`{"op":"publish","room":"lobby","text":"x","id":"` + strings.Repeat("i", maxID+1) + `"}`,
	}
	for i := range 20 {
		b := bad[i%len(bad)]
		p.c.WriteMessage(ws.OpText, []byte(b))
		m := p.expect("error")
		if m.Error == "" {
			t.Fatalf("%s: %v", b, m)
		}
		if strings.Contains(b, `"id":"3"`) && (m.ID != "3" || m.Room != "lobby") {
			t.Fatalf("%s: the error does not name the request: %v", b, m)
		}
	}
	// A good request still works, and does not count.
	p.publish("lobby", "ok", "still here")
	p.c.WriteMessage(ws.OpBinary, []byte(`{"op":"publish"}`))
	if code := p.closed(); code != ws.ClosePolicyViolation {
		t.Fatalf("the 21st bad request: close %d, want 1008", code)
	}
}

// tapBroker is a Memory broker whose deliveries a test can add to.
type tapBroker struct {
	*pubsub.Memory
	d pubsub.Deliverer
}

func (b *tapBroker) Start(d pubsub.Deliverer) error { b.d = d; return b.Memory.Start(d) }

// TestLost: a client that misses publications on the way (a gap in a
// room's offsets) is closed with 3010, and recovers when it rejoins.
func TestLost(t *testing.T) {
	tap := &tapBroker{Memory: pubsub.NewMemory(pubsub.MemoryConfig{})}
	tc := startChat(t, tap, nil)
	p := tc.dial("alice")
	j := p.join("lobby", 0, nil)
	ack := p.publish("lobby", "1", "one")
	tap.d.Deliver(&pubsub.Publication{Topic: "lobby", Kind: pubsub.Message, Offset: ack.Offset + 2,
		Epoch: j.Position.Epoch, Data: []byte("after a gap"), Time: time.Now()})
	if code := p.closed(); code != closeLost {
		t.Fatalf("after a gap: close %d, want %d", code, closeLost)
	}
	p = tc.dial("alice")
	if j := p.join("lobby", 0, &pubsub.Position{Offset: ack.Offset, Epoch: ack.Epoch}); !*j.Recovered {
		t.Fatalf("rejoin: %v", j)
	}
}

// TestSlow: a client that does not read while its room is busy is
// closed with 3008 once its queue passes MaxQueued.
func TestSlow(t *testing.T) {
	tc := startChat(t, nil, func(o *options) { o.node.MaxQueued = 1 })
	p := tc.dial("alice")
	p.join("lobby", 0, nil)
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	text := []byte(strings.Repeat("x", maxText))
	for tc.ch.node.Stats().Slow == 0 {
		// p reads nothing meanwhile: its output queues once TCP's buffers
		// are full, if the loop does not find two messages for it in one
		// round before.
		if _, err := tc.ch.node.Publish(ctx, "lobby", text, pubsub.ClientInfo{ID: "test", User: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if code := p.closed(); code != closeSlow {
		t.Fatalf("slow: close %d, want %d", code, closeSlow)
	}
}

// TestPage: the page and its files, and what is not there.
func TestPage(t *testing.T) {
	tc := startChat(t, nil, func(o *options) { o.dev = false })
	c := httpClient(t)
	for _, f := range []struct {
		path, ctype, has string
		status           int
	}{
		{"/", "text/html; charset=utf-8", `<script src="/chat.js"`, 200},
		{"/index.html", "text/html; charset=utf-8", `id="status"`, 200},
		{"/chat.js", "text/javascript; charset=utf-8", "new EventSource", 200},
		{"/style.css", "text/css; charset=utf-8", "#messages", 200},
		{"/nope", "text/plain; charset=utf-8", "not found", 404},
		{"/token?user=alice", "text/plain; charset=utf-8", "-dev", 404},
	} {
		resp, err := c.Get("http://" + tc.addr + f.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != f.status || resp.Header.Get("Content-Type") != f.ctype || !strings.Contains(string(b), f.has) {
			t.Errorf("GET %s: %s %q, %d bytes, want %d %q with %q", f.path, resp.Status, resp.Header.Get("Content-Type"), len(b), f.status, f.ctype, f.has)
		}
	}
}

// TestTokenEndpoint: with -dev, GET /token issues a token the server
// takes; bad user names are 400.
func TestTokenEndpoint(t *testing.T) {
	tc := startChat(t, nil, nil)
	c := httpClient(t)
	resp, err := c.Get("http://" + tc.addr + "/token?user=" + url.QueryEscape("zoë"))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token, User string
		Exp         int64
	}
	err = decodeJSON(resp, &tok)
	if err != nil || resp.StatusCode != 200 || tok.User != "zoë" || tok.Exp <= time.Now().Unix() {
		t.Fatalf("GET /token: %s %+v %v", resp.Status, tok, err)
	}
	wc, err := ws.Dial("ws://"+tc.addr+"/ws?token="+tok.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := tc.peer(wc); p.user != "zoë" {
		t.Fatalf("hello as %q", p.user)
	}
	for _, u := range []string{"", "a b", strings.Repeat("x", maxUserLen+1), "<script>"} {
		resp, err := c.Get("http://" + tc.addr + "/token?user=" + url.QueryEscape(u))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("GET /token?user=%q: %s, want 400", u, resp.Status)
		}
	}
}
