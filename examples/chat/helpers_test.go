package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/ws"
)

// Every wait of these tests is bounded by this deadline, which only a
// hung test reaches: no test asserts on time.
const hang = 30 * time.Second

var testSecret = []byte("a test secret of the chat")

// testChat is a chat served in the test's process.
type testChat struct {
	t    *testing.T
	ch   *chat
	s    *server.Server
	addr string
}

// drain shuts the chat down as SIGTERM does: the node stops publishing,
// every client gets what it was sent and the reconnect close code, then
// the node closes.
func (tc *testChat) drain() {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := tc.ch.Drain(ctx); err != nil {
		tc.t.Fatalf("node drain: %v", err)
	}
	if err := tc.s.Shutdown(ctx); err != nil {
		tc.t.Fatalf("drain: %v", err)
	}
	tc.ch.Close()
}

// startChat serves a chat on b (nil: a Memory broker) with the options
// mod changes from the tests' (-dev, testSecret).
func startChat(t *testing.T, b pubsub.Broker, mod func(*options)) *testChat {
	t.Helper()
	if b == nil {
		b = pubsub.NewMemory(pubsub.MemoryConfig{})
	}
	o := options{dev: true, secret: testSecret}
	if mod != nil {
		mod(&o)
	}
	log := slog.New(slog.DiscardHandler)
	ch, err := newChat(b, o, log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(http1.NewServer(ch, httpConfig), server.WithLoops(2), server.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		s.Wait()
		ch.Close()
	})
	return &testChat{t: t, ch: ch, s: s, addr: ln.Addr().String()}
}

func (tc *testChat) token(user string) string {
	return signToken(testSecret, user, time.Now().Add(time.Hour))
}

// msg is any message of the server, decoded with encoding/json (not the
// server's jsonx, which is sonic here).
type msg struct {
	Op        string              `json:"op"`
	Client    json.RawMessage     `json:"client"` // hello: the id; join, leave: {id, user}
	User      string              `json:"user"`
	ID        string              `json:"id"`
	Room      string              `json:"room"`
	Position  *pubsub.Position    `json:"position"`
	Recovered *bool               `json:"recovered"`
	Presence  []pubsub.ClientInfo `json:"presence"`
	Offset    uint64              `json:"offset"`
	Epoch     string              `json:"epoch"`
	Text      string              `json:"text"`
	Time      int64               `json:"time"`
	Error     string              `json:"error"`
	Code      int                 `json:"code"`
	Reason    string              `json:"reason"`
}

func (m *msg) String() string { b, _ := json.Marshal(m); return string(b) }

// who returns the client of a presence event.
func (m *msg) who() pubsub.ClientInfo {
	var c pubsub.ClientInfo
	json.Unmarshal(m.Client, &c)
	return c
}

// reader is what a WebSocket peer and an SSE stream share: messages in
// order, and the presence they tell of applied as they come.
type reader struct {
	t        *testing.T
	next     func() (*msg, error)
	backlog  []*msg // read while waiting for presence
	presence map[string]map[string]string
}

func (r *reader) raw() *msg {
	r.t.Helper()
	m, err := r.next()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	switch m.Op {
	case "joined":
		p := make(map[string]string)
		for _, c := range m.Presence {
			p[c.ID] = c.User
		}
		r.presence[m.Room] = p
	case "join":
		if p := r.presence[m.Room]; p != nil {
			p[m.who().ID] = m.who().User
		}
	case "leave":
		delete(r.presence[m.Room], m.who().ID)
	}
	return m
}

// read returns the next message that is not a presence event.
func (r *reader) read() *msg {
	r.t.Helper()
	if len(r.backlog) > 0 {
		m := r.backlog[0]
		r.backlog = r.backlog[1:]
		return m
	}
	for {
		if m := r.raw(); m.Op != "join" && m.Op != "leave" {
			return m
		}
	}
}

// expect reads the next message (presence events aside) and checks its op.
func (r *reader) expect(op string) *msg {
	r.t.Helper()
	m := r.read()
	if m.Op != op {
		r.t.Fatalf("got %v, want op %q", m, op)
	}
	return m
}

// waitPresence reads until the room's presence is the clients ids.
func (r *reader) waitPresence(room string, ids ...string) {
	r.t.Helper()
	want := slices.Sorted(slices.Values(ids))
	for {
		var got []string
		for id := range r.presence[room] {
			got = append(got, id)
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if m := r.raw(); m.Op != "join" && m.Op != "leave" {
			r.backlog = append(r.backlog, m)
		}
	}
}

// peer is a WebSocket client of the chat.
type peer struct {
	reader
	c    *ws.Client
	id   string
	user string
}

// dial connects as user and reads the hello.
func (tc *testChat) dial(user string) *peer {
	tc.t.Helper()
	c, err := ws.Dial("ws://"+tc.addr+"/ws?token="+url.QueryEscape(tc.token(user)), nil)
	if err != nil {
		tc.t.Fatal(err)
	}
	return tc.peer(c)
}

func (tc *testChat) peer(c *ws.Client) *peer {
	tc.t.Helper()
	c.NetConn().SetDeadline(time.Now().Add(hang))
	tc.t.Cleanup(func() { c.NetConn().Close() })
	p := &peer{c: c}
	p.reader = reader{t: tc.t, presence: make(map[string]map[string]string), next: func() (*msg, error) { return readMsg(c) }}
	hello := p.expect("hello")
	json.Unmarshal(hello.Client, &p.id)
	p.user = hello.User
	return p
}

// readMsg reads and decodes one message of the chat.
func readMsg(c *ws.Client) (*msg, error) {
	_, b, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%q: %w", b, err)
	}
	return &m, nil
}

func (p *peer) send(v any) {
	p.t.Helper()
	b, _ := json.Marshal(v)
	if err := p.c.WriteMessage(ws.OpText, b); err != nil {
		p.t.Fatal(err)
	}
}

// join joins a room and returns the answer.
func (p *peer) join(room string, history int, since *pubsub.Position) *msg {
	p.t.Helper()
	p.send(map[string]any{"op": "join", "room": room, "history": history, "since": since})
	m := p.expect("joined")
	if m.Room != room || m.Position == nil || m.Recovered == nil {
		p.t.Fatalf("joined: %v", m)
	}
	return m
}

// publish publishes text and waits for the ack; the message, which may
// come before or after the ack, is read too. It returns the ack.
func (p *peer) publish(room, id, text string) *msg {
	p.t.Helper()
	p.send(map[string]any{"op": "publish", "room": room, "id": id, "text": text})
	var ack, echo *msg
	for ack == nil || echo == nil {
		switch m := p.read(); {
		case m.Op == "ack" && m.ID == id:
			ack = m
		case m.Op == "message" && m.Text == text && m.Room == room:
			echo = m
		default:
			p.t.Fatalf("publish %q: got %v", id, m)
		}
	}
	if ack.Offset != echo.Offset || ack.Epoch != echo.Epoch || echo.User != p.user {
		p.t.Fatalf("ack %v, message %v", ack, echo)
	}
	return ack
}

// closed reads to the close frame and returns its code.
func (p *peer) closed() int {
	p.t.Helper()
	for {
		if _, _, err := p.c.ReadMessage(); err != nil {
			if err != io.EOF {
				p.t.Fatalf("read to the close: %v", err)
			}
			return p.c.Code
		}
	}
}

// httpClient is a client that leaves no connection behind.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: hang}
}

// sseStream is an SSE client of the chat.
type sseStream struct {
	reader
	resp *http.Response
	id   string
}

// sse opens GET /sse with the query and reads the hello.
func (tc *testChat) sse(query string) *sseStream {
	tc.t.Helper()
	tr := &http.Transport{}
	tc.t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	tc.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+tc.addr+"/sse?"+query, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		tc.t.Fatalf("GET /sse: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{resp: resp}
	br := bufio.NewReader(resp.Body)
	s.reader = reader{t: tc.t, presence: make(map[string]map[string]string), next: func() (*msg, error) {
		return readEvent(br)
	}}
	json.Unmarshal(s.expect("hello").Client, &s.id)
	return s
}

// readEvent reads the next SSE event with data, skipping comments.
func readEvent(br *bufio.Reader) (*msg, error) {
	var data string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && data != "":
			var m msg
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				return nil, fmt.Errorf("%q: %w", data, err)
			}
			return &m, nil
		case strings.HasPrefix(line, ":"), line == "":
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		default:
			return nil, errors.New("unexpected line " + line)
		}
	}
}

// decodeJSON decodes the body of resp into v and closes it.
func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
