package main

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/shoalnet/shoal/examples/push/hub"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/server"
)

// errNotRequest closes a connection that sent a server frame (ACK, MSG...).
var errNotRequest = fmt.Errorf("%w: not a request", proto.ErrMalformed)

// handler serves the push protocol: it decodes each request, applies it to
// the hub and answers with ACK, ERR or PONG. Its callbacks run on the
// connections' loops and do not block: publishing queues the MSG frame for
// each subscriber and wakes the subscriber's loop, whose OnWake writes it
// (and OnWritable what did not fit).
// In a graceful shutdown OnGoodbye ends each connection with a GOAWAY.
type handler struct {
	hub    *hub.Hub
	pace   *pacer // nil: publishers are never held back
	log    *slog.Logger
	goAway []byte // the GOAWAY body, the same for every connection; read only

	protocolErrors atomic.Uint64 // connections closed for a malformed body
	goAways        atomic.Uint64 // GOAWAY frames written
}

// connState is what a connection carries in its context. Owned by the
// connection's loop.
type connState struct {
	sub     *hub.Subscriber
	scratch []byte      // reply bodies are encoded here, then framed by WriteFrame
	gone    bool        // OnGoodbye ran: no request is served and nothing is written any more
	closed  bool        // OnClose ran
	held    bool        // held back by the pacer
	conn    server.Conn // while held: the connection, to resume it
}

func (h *handler) OnOpen(c server.Conn) {
	c.SetContext(&connState{sub: h.hub.NewSubscriber(c), scratch: make([]byte, 0, 64)})
}

// OnWake writes the messages the hub has queued for the connection, as
// many as the connection has room for (its high watermark, the server's
// memory budget); OnWritable writes the rest.
func (h *handler) OnWake(c server.Conn) {
	if st := c.Context().(*connState); !st.gone {
		h.hub.Flush(st.sub, c)
	}
}

// OnWritable runs when a connection that had no room has room again.
func (h *handler) OnWritable(c server.Conn) { h.OnWake(c) }

// OnGoodbye runs once per connection, on its loop, when the server begins
// a graceful shutdown (server.Server.Shutdown). In this order it
//
//   - stops the hub accepting publishes (hub.Drain; the first call waits
//     for the publishes in flight on other loops, which never block), so a
//     PUB acknowledged to any publisher has been queued for every
//     subscriber, this one included, and later PUBs get ERR going-away;
//   - stops reading (PauseRead) and drops an incomplete request, which is
//     then never answered and so never applied;
//   - writes the messages pending for the connection and takes it out of
//     its topics, atomically with respect to publishing (hub.Goodbye);
//   - writes the GOAWAY.
//
// So every request read before the goodbye was answered before the GOAWAY,
// every message queued for the connection precedes it, and nothing follows
// it. The server closes the connection once it is idle (FIN, then it waits
// for the client's).
func (h *handler) OnGoodbye(c server.Conn) {
	st, ok := c.Context().(*connState)
	if !ok || st.gone {
		return
	}
	st.gone = true
	h.hub.Drain()
	c.PauseRead()
	if c.Buffered() > 0 { // part of a request: no use for it, and it would keep the connection busy
		c.Discard(0)
	}
	if err := h.hub.Goodbye(st.sub, c); err != nil {
		return // the slow-consumer policy refused the write and closes the connection
	}
	if c.WriteFrame(h.goAway) == nil {
		h.goAways.Add(1)
	}
}

// OnData is not used: the server has a codec and calls OnFrame.
func (h *handler) OnData(server.Conn) {}

func (h *handler) OnClose(c server.Conn, err error) {
	if st, ok := c.Context().(*connState); ok {
		st.closed = true
		h.hub.Leave(st.sub)
	}
	if err != nil && !errors.Is(err, server.ErrServerClosed) {
		h.log.Debug("connection closed", "remote", c.RemoteAddr().String(), "err", err)
	}
}

// OnFrame handles one request body.
func (h *handler) OnFrame(c server.Conn, frame []byte) {
	st := c.Context().(*connState)
	if st.gone { // a frame after a goodbye, in the same read: not served
		return
	}
	b, err := proto.Decode(frame)
	if err == nil && !b.Type.IsRequest() {
		err = errNotRequest
	}
	if err != nil {
		// Say why, then close: the answers already queued are flushed first.
		h.protocolErrors.Add(1)
		st.reply(c, proto.AppendErr(st.scratch[:0], 0, proto.CodeMalformed, err.Error()))
		c.CloseWithError(err)
		return
	}
	var n int
	switch b.Type {
	case proto.TypeSub:
		n, err = h.hub.Subscribe(st.sub, string(b.Topic))
	case proto.TypeUnsub:
		n, err = h.hub.Unsubscribe(st.sub, string(b.Topic))
	case proto.TypePub:
		n, err = h.hub.Publish(b.Topic, b.Payload)
	case proto.TypePing:
		st.reply(c, proto.AppendPong(st.scratch[:0], b.Req, b.Token))
		return
	}
	if err != nil {
		code, ok := hub.Code(err)
		if !ok { // not the client's fault; the hub checked its codec at start
			h.log.Error("request failed", "type", b.Type, "err", err)
		}
		st.reply(c, proto.AppendErr(st.scratch[:0], b.Req, code, err.Error()))
		return
	}
	st.reply(c, proto.AppendAck(st.scratch[:0], b.Req, b.Type, uint32(n)))
	if b.Type == proto.TypePub && h.pace != nil {
		h.pace.check(c, st)
	}
}

// reply frames and queues a reply body; the scratch buffer keeps its
// capacity for the next one.
func (st *connState) reply(c server.Conn, body []byte) {
	st.scratch = body[:0]
	c.WriteFrame(body)
}
