package main

import (
	"errors"

	"github.com/shoalnet/shoal/loop"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/ws"
)

// Close codes of the chat, in the application's range (3000-3999): each
// tells the page to reconnect, and the last two to recover what it
// missed from each room's history.
const (
	closeReconnect = 3001 // the server drains: reconnect at once
	closeSlow      = 3008 // the page did not keep up (pubsub.ErrSlow)
	closeLost      = 3010 // publications were lost on the way (pubsub.ErrLost)
)

// maxWSMessage bounds a client's WebSocket message (1009 past it): a
// publish of maxText bytes of text, escaped, fits.
const maxWSMessage = 64 << 10

// wsHandler serves the upgraded connections.
type wsHandler struct{ ch *chat }

// wsClient is a WebSocket connection's side of the chat: a pubsub.Client,
// and the connection's state (ws.Conn.State). Loop only.
type wsClient struct {
	c     *ws.Conn
	ch    *chat
	info  pubsub.ClientInfo
	rooms map[string]bool // joined (true) or joining (false)
	bad   int             // bad requests so far
}

func (w *wsClient) Loop() *loop.Loop        { return w.c.NetConn().Loop() }
func (w *wsClient) Info() pubsub.ClientInfo { return w.info }
func (w *wsClient) Queued() int             { return w.c.NetConn().OutboundBuffered() }
func (w *wsClient) Deliver(p *pubsub.Publication) {
	// By reference: every subscriber of the node writes the same frame.
	w.c.WritePrepared(p.Frame(w.ch.wsEnc).(*ws.PreparedMessage))
}

// Disconnect closes the connection with the code the page reconnects on.
func (w *wsClient) Disconnect(err error) {
	code := closeLost
	if errors.Is(err, pubsub.ErrSlow) {
		code = closeSlow
	}
	w.c.Close(code, reasonOf(err))
}

// reasonOf is err's message without the package prefix, short enough for
// a close frame (123 bytes).
func reasonOf(err error) string {
	s := err.Error()
	if len(s) > 7 && s[:7] == "pubsub:" {
		s = s[8:]
	}
	return s[:min(len(s), 123)]
}

func (w *wsClient) send(r *reply) { w.c.WriteMessage(ws.OpText, encodeReply(r)) }

// OnOpen greets the connection; OnUpgrade left its user as the state.
func (h wsHandler) OnOpen(c *ws.Conn) {
	user, _ := c.State().(string)
	w := &wsClient{c: c, ch: h.ch, info: h.ch.newClientInfo(user), rooms: make(map[string]bool)}
	c.SetState(w)
	w.send(&reply{Op: "hello", Client: w.info.ID, User: user})
}

// OnClose forgets the connection: its rooms, its presence.
func (h wsHandler) OnClose(c *ws.Conn, _ int, _ error) {
	if w, ok := c.State().(*wsClient); ok {
		h.ch.node.Leave(w)
	}
}

// OnGoodbye: the server drains (after the node has, ch.Drain): what the
// node has for the connection, publications and answers to its publishes,
// goes out ahead of the reconnect close.
func (h wsHandler) OnGoodbye(c *ws.Conn) {
	if w, ok := c.State().(*wsClient); ok {
		h.ch.node.Goodbye(w)
	}
}

// OnMessage serves one request.
func (h wsHandler) OnMessage(c *ws.Conn, op ws.Opcode, msg []byte) {
	w := c.State().(*wsClient)
	if op != ws.OpText {
		w.fail(nil, badf("binary messages are not taken: send JSON text"))
		return
	}
	r, err := decodeRequest(msg)
	if err != nil {
		w.fail(r, err)
		return
	}
	switch r.Op {
	case "join":
		w.join(r)
	case "leave":
		w.leave(r)
	case "publish":
		w.publish(r)
	}
}

// fail answers a request that failed; past the limit of bad requests,
// the connection closes with 1008 instead.
func (w *wsClient) fail(r *request, err error) {
	if isBad(err) {
		if w.bad++; w.bad > w.ch.opts.maxErrors {
			w.c.Close(ws.ClosePolicyViolation, "too many bad requests")
			return
		}
	}
	w.send(errorReply(r, err))
}

func (w *wsClient) join(r *request) {
	if _, ok := w.rooms[r.Room]; ok {
		w.fail(r, pubsub.ErrAlreadySubscribed)
		return
	}
	w.rooms[r.Room] = false
	room, since := r.Room, r.Since
	o := pubsub.SubscribeOptions{Since: since, History: min(max(r.History, 0), w.ch.opts.maxHistory), Presence: true}
	w.ch.node.Subscribe(w, room, o, func(res pubsub.SubscribeResult, err error) {
		if err != nil {
			delete(w.rooms, room)
			w.fail(&request{Room: room}, err)
			return
		}
		w.rooms[room] = true
		w.send(joined(room, since, res))
	})
}

// joined is the answer to a join; the history follows it.
func joined(room string, since *pubsub.Position, res pubsub.SubscribeResult) *reply {
	rec := since != nil && res.Recovered
	return &reply{Op: "joined", Room: room, Position: &res.Position, Recovered: &rec, Presence: res.Presence}
}

func (w *wsClient) leave(r *request) {
	if _, ok := w.rooms[r.Room]; !ok {
		w.fail(r, pubsub.ErrNotSubscribed)
		return
	}
	delete(w.rooms, r.Room)
	w.ch.node.Unsubscribe(w, r.Room)
	w.send(&reply{Op: "left", Room: r.Room})
}

func (w *wsClient) publish(r *request) {
	if !w.rooms[r.Room] {
		w.fail(r, badf("not in room %q: join it first", r.Room))
		return
	}
	id, room := r.ID, r.Room
	w.ch.node.PublishFrom(w, room, []byte(r.Text), func(pos pubsub.Position, err error) {
		if err != nil {
			w.fail(&request{ID: id, Room: room}, err)
			return
		}
		w.send(&reply{Op: "ack", ID: id, Room: room, Offset: pos.Offset, Epoch: pos.Epoch})
	})
}
