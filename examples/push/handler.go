package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/examples/push/proto"
	"github.com/shoalnet/shoal/internal/bufpool"
	"github.com/shoalnet/shoal/loop"
	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/server"
)

// errNotRequest closes a connection that sent a server frame (ACK, MSG...).
var errNotRequest = fmt.Errorf("%w: not a request", proto.ErrMalformed)

// handler serves the push protocol on a pubsub.Node: it decodes each
// request, hands it to the node and answers with ACK, ERR or PONG. Its
// callbacks run on the connections' loops and never block: a SUB or a
// PUB goes to the node's workers, and its answer comes back on the
// connection's loop. The node fans each publication out store-once: one
// MSG frame per publication (msgEncoding), queued by reference on every
// subscriber's connection (WriteShared), which the server's memory
// budget counts per holder, so a flood of publishes to many subscribers
// holds the publishers back instead of growing without bound.
// In a graceful shutdown OnGoodbye ends each connection with a GOAWAY.
type handler struct {
	node        *pubsub.Node
	enc         *pubsub.Encoding
	cd          codec.Encoder
	maxPayload  int
	maxInFlight int           // a connection with this many PUBs unanswered is not read
	drainWait   time.Duration // how long OnGoodbye waits for publishes in flight
	log         *slog.Logger
	goAway      []byte // the GOAWAY body, the same for every connection; read only

	ids            atomic.Uint64 // connection ids, for pubsub.ClientInfo
	encodes        atomic.Uint64 // MSG frames encoded: one per publication with subscribers
	protocolErrors atomic.Uint64 // connections closed for a malformed body
	goAways        atomic.Uint64 // GOAWAY frames written
}

// newHandler makes the handler and its node, on an in-memory broker that
// keeps no history: the protocol has no recovery, so no message is held
// once its subscribers have it.
func newHandler(cd codec.Encoder, cfg config, log *slog.Logger) (*handler, error) {
	node, err := pubsub.NewNode(pubsub.NewMemory(pubsub.MemoryConfig{HistorySize: -1}), pubsub.Config{
		MaxTopicsPerClient:   cfg.maxTopics,
		MaxMessage:           cfg.maxPayload,
		MaxQueued:            cfg.maxPending,
		MaxPublishesInFlight: cfg.maxInFlight,
	})
	if err != nil {
		return nil, err
	}
	h := &handler{node: node, cd: cd, maxPayload: cfg.maxPayload, maxInFlight: cfg.maxInFlight,
		drainWait: cfg.drainTimeout, log: log,
		goAway: proto.AppendGoAway(nil, uint32(cfg.goAwayRetry.Milliseconds()), cfg.goAwayAddr)}
	h.enc = node.Encoding(h.encodeMsg)
	return h, nil
}

// encodeMsg makes a publication's MSG frame, once per publication: every
// subscriber of the node queues this one by reference.
func (h *handler) encodeMsg(p *pubsub.Publication) pubsub.Frame {
	h.encodes.Add(1)
	size := proto.MsgSize(len(p.Topic), len(p.Data))
	body := proto.AppendMsg(bufpool.Get(size), p.Offset, p.Time.UnixNano(), []byte(p.Topic), p.Data)
	frame, err := h.cd.AppendFrame(bufpool.Get(size+proto.FrameHeader), body)
	bufpool.Put(body)
	if err != nil { // checked at start: the codec frames the largest MSG
		panic("push: " + err.Error())
	}
	return loop.NewShared(frame, bufpool.Put)
}

// connState is a connection's side of pub/sub (a pubsub.Client) and what
// it carries in its context. Owned by the connection's loop.
type connState struct {
	h          *handler
	c          server.Conn
	info       pubsub.ClientInfo
	scratch    []byte // reply bodies are encoded here, then framed by WriteFrame
	publishing int    // PUBs not yet answered
	paused     bool   // not read while publishing is at the limit
	gone       bool   // OnGoodbye ran: no request is served and nothing is written any more
}

func (st *connState) Loop() *loop.Loop        { return st.c.Loop() }
func (st *connState) Info() pubsub.ClientInfo { return st.info }
func (st *connState) Queued() int             { return st.c.OutboundBuffered() }

// Deliver queues a publication's MSG frame by reference. The push
// protocol has no presence: the node sends only messages.
func (st *connState) Deliver(p *pubsub.Publication) {
	if p.Kind == pubsub.Message {
		st.c.WriteShared(p.Frame(st.h.enc).(*loop.Shared))
	}
}

// Disconnect closes a subscriber the node gave up on (pubsub.ErrSlow,
// pubsub.ErrLost) with an ERR req=0 that says why, when its queue still
// takes it.
func (st *connState) Disconnect(err error) {
	code := proto.CodeSlow
	if errors.Is(err, pubsub.ErrLost) {
		code = proto.CodeLost
	}
	st.reply(proto.AppendErr(st.scratch[:0], 0, code, err.Error()))
	st.c.CloseWithError(err)
}

func (h *handler) OnOpen(c server.Conn) {
	c.SetContext(&connState{h: h, c: c, scratch: make([]byte, 0, 64),
		info: pubsub.ClientInfo{ID: strconv.FormatUint(h.ids.Add(1), 10)}})
}

// OnGoodbye runs once per connection, on its loop, when the server begins
// a graceful shutdown (server.Server.Shutdown). In this order it
//
//   - stops the node publishing (pubsub.Node.Drain; the first call waits
//     for the publishes in flight on the node's workers, which never wait
//     for a loop), so a PUB acknowledged to any publisher has been handed
//     to every loop with subscribers, and later PUBs get ERR going-away;
//   - stops reading (PauseRead) and drops the requests not yet handled,
//     which are then never answered and so never applied;
//   - delivers what waits on the loop for the connection, its publish
//     answers among them, and takes it out of its topics (Node.Goodbye);
//     a SUB still at the node is never answered, so not applied;
//   - writes the GOAWAY.
//
// So every request answered came before the GOAWAY, every message
// published before the drain precedes it, and nothing follows it. The
// server closes the connection once it is idle (FIN, then it waits for
// the client's).
func (h *handler) OnGoodbye(c server.Conn) {
	st, ok := c.Context().(*connState)
	if !ok || st.gone {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.drainWait)
	if err := h.node.Drain(ctx); err != nil {
		h.log.Warn("publishes still in flight at the goodbye", "err", err)
	}
	cancel()
	c.PauseRead()
	if c.Buffered() > 0 { // requests not handled: no use for them, and they would keep the connection busy
		c.Discard(0)
	}
	h.node.Goodbye(st)
	st.gone = true
	if c.WriteFrame(h.goAway) == nil {
		h.goAways.Add(1)
	}
}

// OnData is not used: the server has a codec and calls OnFrame.
func (h *handler) OnData(server.Conn) {}

func (h *handler) OnClose(c server.Conn, err error) {
	if st, ok := c.Context().(*connState); ok {
		h.node.Leave(st)
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
		st.reply(proto.AppendErr(st.scratch[:0], 0, proto.CodeMalformed, err.Error()))
		c.CloseWithError(err)
		return
	}
	req, typ, topic := b.Req, b.Type, string(b.Topic)
	switch typ {
	case proto.TypeSub:
		h.node.Subscribe(st, topic, pubsub.SubscribeOptions{}, func(_ pubsub.SubscribeResult, err error) {
			st.answer(req, typ, topic, err)
		})
	case proto.TypeUnsub:
		st.answer(req, typ, topic, h.node.Unsubscribe(st, topic))
	case proto.TypePub:
		if len(b.Payload) > h.maxPayload { // before the node, for the protocol's own code
			st.answer(req, typ, topic, errPayloadTooLarge)
			return
		}
		if st.publishing++; st.publishing >= h.maxInFlight {
			// TCP pushes back on a publisher faster than the node stores:
			// its next requests wait in the socket, not in memory.
			st.paused = true
			c.PauseRead()
		}
		h.node.PublishFrom(st, topic, b.Payload, func(_ pubsub.Position, err error) {
			if st.publishing--; st.paused && !st.gone {
				st.paused = false
				c.ResumeRead()
			}
			st.answer(req, typ, topic, err)
		})
	case proto.TypePing:
		st.reply(proto.AppendPong(st.scratch[:0], req, b.Token))
	}
}

// errPayloadTooLarge is a PUB above -max-payload.
var errPayloadTooLarge = errors.New("push: payload too large")

// answer replies to a request: an ACK with the topic's subscribers on
// this server, or an ERR. Nothing is written after the goodbye.
func (st *connState) answer(req uint32, typ proto.Type, topic string, err error) {
	if st.gone {
		return
	}
	if err != nil {
		code, ok := codeOf(err)
		if !ok { // not the client's fault
			st.h.log.Error("request failed", "type", typ, "err", err)
		}
		st.reply(proto.AppendErr(st.scratch[:0], req, code, err.Error()))
		return
	}
	st.reply(proto.AppendAck(st.scratch[:0], req, typ, uint32(st.h.node.Subscribers(topic))))
}

// reply frames and queues a reply body; the scratch buffer keeps its
// capacity for the next one.
func (st *connState) reply(body []byte) {
	st.scratch = body[:0]
	st.c.WriteFrame(body)
}

// codeOf returns the protocol's code for an error of the node, and false
// for an error that is not the client's doing.
func codeOf(err error) (proto.Code, bool) {
	var lim *pubsub.LimitError
	var bad *pubsub.TopicError
	switch {
	case errors.As(err, &bad):
		return proto.CodeBadTopic, true
	case errors.Is(err, errPayloadTooLarge):
		return proto.CodePayloadTooLarge, true
	case errors.As(err, &lim) && lim.What == "topics per client":
		return proto.CodeTooManyTopics, true
	case errors.As(err, &lim):
		return proto.CodeLimit, true
	case errors.Is(err, pubsub.ErrAlreadySubscribed):
		return proto.CodeAlreadySubscribed, true
	case errors.Is(err, pubsub.ErrNotSubscribed):
		return proto.CodeNotSubscribed, true
	case errors.Is(err, pubsub.ErrDraining), errors.Is(err, pubsub.ErrClosed):
		return proto.CodeGoingAway, true
	case errors.Is(err, pubsub.ErrBusy):
		return proto.CodeBusy, true
	}
	return proto.CodeBusy, false
}
