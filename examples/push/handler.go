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
// each subscriber and wakes the subscriber's loop, whose OnWake writes it.
type handler struct {
	hub *hub.Hub
	log *slog.Logger

	protocolErrors atomic.Uint64 // connections closed for a malformed body
}

// connState is what a connection carries in its context. Owned by the
// connection's loop.
type connState struct {
	sub     *hub.Subscriber
	scratch []byte // reply bodies are encoded here, then framed by WriteFrame
}

func (h *handler) OnOpen(c server.Conn) {
	c.SetContext(&connState{sub: h.hub.NewSubscriber(c), scratch: make([]byte, 0, 64)})
}

// OnWake writes the messages the hub has queued for the connection.
func (h *handler) OnWake(c server.Conn) {
	h.hub.Flush(c.Context().(*connState).sub, c)
}

// OnData is not used: the server has a codec and calls OnFrame.
func (h *handler) OnData(server.Conn) {}

func (h *handler) OnClose(c server.Conn, err error) {
	if st, ok := c.Context().(*connState); ok {
		h.hub.Leave(st.sub)
	}
	if err != nil && !errors.Is(err, server.ErrServerClosed) {
		h.log.Debug("connection closed", "remote", c.RemoteAddr().String(), "err", err)
	}
}

// OnFrame handles one request body.
func (h *handler) OnFrame(c server.Conn, frame []byte) {
	st := c.Context().(*connState)
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
}

// reply frames and queues a reply body; the scratch buffer keeps its
// capacity for the next one.
func (st *connState) reply(c server.Conn, body []byte) {
	st.scratch = body[:0]
	c.WriteFrame(body)
}
