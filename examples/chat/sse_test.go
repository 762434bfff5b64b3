package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// postPublish POSTs a publish with the token in the Authorization field
// and returns the status and the answer.
func (tc *testChat) postPublish(token string, body any) (int, *msg) {
	tc.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", "http://"+tc.addr+"/publish", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient(tc.t).Do(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m msg
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		tc.t.Fatalf("POST /publish: %s %q: %v", resp.Status, raw, err)
	}
	return resp.StatusCode, &m
}

// TestSSE: an SSE stream gets hello, joined for each room and the rooms'
// messages, the same JSON as a WebSocket; POST /publish publishes, and
// its ack is the WebSocket's.
func TestSSE(t *testing.T) {
	// A stream that ends is seen at the next heartbeat: make them quick.
	tc := startChat(t, nil, func(o *options) { o.heartbeat = 50 * time.Millisecond })
	alice := tc.dial("alice")
	alice.join("a", 0, nil)
	alice.publish("a", "0", "before")

	s := tc.sse("token=" + url.QueryEscape(tc.token("sam")) + "&rooms=a,b&history=10")
	// Each room's joined, then its history; the rooms in any order.
	joined := map[string]*msg{}
	var history *msg
	for len(joined) < 2 || history == nil {
		switch m := s.read(); {
		case m.Op == "joined" && joined[m.Room] == nil:
			joined[m.Room] = m
		case m.Op == "message" && joined["a"] != nil && history == nil:
			history = m
		default:
			t.Fatalf("got %v", m)
		}
	}
	if *joined["a"].Recovered || joined["a"].Position.Offset != 1 || joined["b"].Position.Offset != 0 {
		t.Fatalf("joined %v %v", joined["a"], joined["b"])
	}
	if history.Text != "before" || history.User != "alice" || history.Offset != 1 || history.Room != "a" {
		t.Fatalf("history over SSE: %v", history)
	}
	s.waitPresence("a", alice.id, s.id)
	alice.waitPresence("a", alice.id, s.id)

	alice.publish("a", "1", "live")
	if m := s.expect("message"); m.Text != "live" || m.Offset != 2 {
		t.Fatalf("live over SSE: %v", m)
	}

	status, ack := tc.postPublish(tc.token("sam"), map[string]any{"op": "publish", "room": "a", "id": "p1", "text": "posted ✓"})
	if status != 200 || ack.Op != "ack" || ack.ID != "p1" || ack.Offset != 3 || ack.Epoch != joined["a"].Position.Epoch {
		t.Fatalf("POST /publish: %d %v", status, ack)
	}
	for _, r := range []*reader{&s.reader, &alice.reader} {
		if m := r.expect("message"); m.Text != "posted ✓" || m.User != "sam" || m.Offset != 3 {
			t.Fatalf("the POSTed message: %v", m)
		}
	}
	// Another room of the stream.
	alice.join("b", 0, nil)
	alice.publish("b", "2", "in b")
	if m := s.expect("message"); m.Room != "b" || m.Text != "in b" {
		t.Fatalf("room b over SSE: %v", m)
	}

	// A stream opened again with its positions recovers what it missed.
	// A stream that ends leaves the presence.
	s.resp.Body.Close()
	alice.waitPresence("a", alice.id)
	alice.publish("a", "3", "missed")
	s = tc.sse("token=" + url.QueryEscape(tc.token("sam")) + "&rooms=a&since=a:3:" + joined["a"].Position.Epoch)
	if m := s.expect("joined"); !*m.Recovered {
		t.Fatalf("SSE since: %v", m)
	}
	if m := s.expect("message"); m.Offset != 4 || m.Text != "missed" {
		t.Fatalf("recovered over SSE: %v", m)
	}
}

// TestPublishErrors: what POST /publish refuses, and with which status.
func TestPublishErrors(t *testing.T) {
	tc := startChat(t, nil, nil)
	good := tc.token("sam")
	for _, c := range []struct {
		name   string
		token  string
		body   any
		status int
	}{
		{"no token", "", map[string]any{"op": "publish", "room": "a", "text": "x"}, 401},
		{"bad token", good + "x", map[string]any{"op": "publish", "room": "a", "text": "x"}, 401},
		{"malformed", good, "{", 400},
		{"join", good, map[string]any{"op": "join", "room": "a"}, 400},
		{"bad room", good, map[string]any{"op": "publish", "room": "a b", "text": "x"}, 400},
		{"empty text", good, map[string]any{"op": "publish", "room": "a", "text": ""}, 400},
		{"long text", good, map[string]any{"op": "publish", "room": "a", "text": strings.Repeat("x", maxText+1)}, 400},
	} {
		status, m := tc.postPublish(c.token, c.body)
		if status != c.status || m.Op != "error" || m.Error == "" {
			t.Errorf("%s: %d %v, want %d and an error", c.name, status, m, c.status)
		}
	}
}

// TestSSEErrors: a stream without a good token is 401, bad rooms or
// positions 400.
func TestSSEErrors(t *testing.T) {
	tc := startChat(t, nil, nil)
	good := url.QueryEscape(tc.token("sam"))
	for _, c := range []struct {
		query  string
		status int
	}{
		{"rooms=a", 401},
		{"token=nope&rooms=a", 401},
		{"token=" + url.QueryEscape(signToken([]byte("another key of sixteen"), "sam", tc.ch.now().Add(3600e9))) + "&rooms=a", 401},
		{"token=" + good + "&rooms=a%20b", 400},
		{"token=" + good + "&rooms=a&since=a:x:e", 400},
	} {
		resp, err := httpClient(t).Get("http://" + tc.addr + "/sse?" + c.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("/sse?%s: %s, want %d", c.query, resp.Status, c.status)
		}
	}
	var many []string
	for i := range maxRooms + 1 {
		many = append(many, fmt.Sprint("r", i))
	}
	resp, err := httpClient(t).Get("http://" + tc.addr + "/sse?token=" + good + "&rooms=" + strings.Join(many, ","))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("/sse with %d rooms: %s, want 400", len(many), resp.Status)
	}
}
