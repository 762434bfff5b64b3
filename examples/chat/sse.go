package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/loop"
	"github.com/shoalnet/shoal/pubsub"
)

// The SSE fallback, for browsers whose WebSocket is refused on the way:
//
//	GET /sse?token=T&rooms=a,b&since=a:OFFSET:EPOCH,b:OFFSET:EPOCH&history=N
//
// streams the same JSON as the WebSocket, one "data:" event each (hello,
// joined for each room, messages, presence events, errors), with a
// comment as heartbeat. Publishes go by POST /publish (publish.go). The
// rooms are those of the query: to join or leave one, the page opens a
// new stream with its positions. When the server drops the stream as a
// WebSocket would be closed with 3008 or 3010, the last event is
// {"op":"disconnect","code":3008|3010,"reason":"..."}; a draining server
// sends what it has for the stream, then the code 3001, and ends it.
// Either way the page reconnects and recovers.

// sseFrame is a publication as an SSE event, made once per publication
// for all the node's SSE subscribers. http1.Stream.Write copies what it
// is given into the stream's queue, where the loop frames it as a chunk,
// so each stream still copies the event once: a Stream that queued a
// loop.Shared by reference (its chunk header, then the Shared) would
// save that copy, and http1 has none yet.
type sseFrame struct{ *loop.Shared }

func newSSEFrame(p *pubsub.Publication) pubsub.Frame {
	return sseFrame{loop.NewShared(sseEvent(encodePublication(p)), nil)}
}

// sseEvent returns the event carrying a JSON message (which holds no
// newline: JSON escapes those in strings).
func sseEvent(json []byte) []byte {
	b := make([]byte, 0, len(json)+8)
	b = append(b, "data: "...)
	b = append(b, json...)
	return append(b, "\n\n"...)
}

var heartbeat = []byte(": ping\n\n")

// sseClient is an SSE stream's side of the chat, a pubsub.Client. Loop
// only (the stream's connection's).
type sseClient struct {
	ch    *chat
	st    *http1.Stream
	lc    loop.Conn
	info  pubsub.ClientInfo
	timer *loop.Timer
	gone  bool // the node has forgotten it
}

func (s *sseClient) Loop() *loop.Loop        { return s.lc.Loop() }
func (s *sseClient) Info() pubsub.ClientInfo { return s.info }
func (s *sseClient) Queued() int             { return s.lc.OutboundBuffered() }

func (s *sseClient) Deliver(p *pubsub.Publication) {
	s.write(p.Frame(s.ch.sseEnc).(sseFrame).Bytes())
}

// Disconnect ends the stream; the last event says why.
func (s *sseClient) Disconnect(err error) {
	s.gone = true
	s.end(err)
}

func (s *sseClient) end(err error) {
	code := closeLost
	if errors.Is(err, pubsub.ErrSlow) {
		code = closeSlow
	}
	s.st.Write(sseEvent(encodeReply(&reply{Op: "disconnect", Code: code, Reason: reasonOf(err)})))
	s.st.Close()
	s.timer.Stop()
}

// goodbye: the server drains (after the node has, ch.Drain). What the
// node has for the stream goes out, then the event that tells the page to
// reconnect at once, as a WebSocket's close 3001 does; the stream ends.
func (s *sseClient) goodbye() {
	if s.gone {
		return
	}
	s.ch.node.Goodbye(s)
	s.st.Write(sseEvent(encodeReply(&reply{Op: "disconnect", Code: closeReconnect, Reason: "reconnect"})))
	s.gone = true // the node has forgotten it
	s.timer.Stop()
}

func (s *sseClient) send(r *reply) { s.write(sseEvent(encodeReply(r))) }

// write queues an event on the stream. A stream that has ended makes the
// node forget the client; one whose client does not keep up is ended as
// slow.
func (s *sseClient) write(b []byte) {
	if s.gone {
		return
	}
	_, err := s.st.Write(b)
	switch {
	case err == nil:
	case errors.Is(err, http1.ErrStreamFull):
		s.leave()
		s.end(pubsub.ErrSlow)
	default:
		s.leave()
	}
}

func (s *sseClient) leave() {
	if !s.gone {
		s.gone = true
		s.ch.node.Leave(s)
		s.timer.Stop()
	}
}

// beat sends the heartbeat; on a stream that has ended, the write leaves.
func (s *sseClient) beat() {
	s.write(heartbeat)
	if !s.gone {
		s.timer.Reset(s.ch.opts.heartbeat)
	}
}

// serveSSE answers GET /sse.
func (ch *chat) serveSSE(w *http1.ResponseWriter, r *http1.Request) {
	if string(r.Method) != "GET" {
		httpError(w, 405, "GET only")
		return
	}
	q := query(r)
	user, err := ch.auth(q.Get("token"))
	if err != nil {
		w.Header("WWW-Authenticate", "Bearer")
		httpError(w, 401, err.Error())
		return
	}
	rooms, err := parseRooms(q.Get("rooms"))
	if err != nil {
		httpError(w, 400, err.Error())
		return
	}
	since, err := parseSince(q.Get("since"))
	if err != nil {
		httpError(w, 400, err.Error())
		return
	}
	history, _ := strconv.Atoi(q.Get("history"))
	history = min(max(history, 0), ch.opts.maxHistory)

	s := &sseClient{ch: ch, lc: w.Conn(), info: ch.newClientInfo(user)}
	w.Header("Content-Type", "text/event-stream")
	w.Header("Cache-Control", "no-cache")
	w.Header("X-Accel-Buffering", "no") // a proxy in front must not hold the events back
	w.Write(sseEvent(encodeReply(&reply{Op: "hello", Client: s.info.ID, User: user})))
	s.st = w.Stream()
	s.st.OnGoodbye(s.goodbye)
	// The client leaves its rooms once the stream is over: the server
	// drains, or the connection has closed. http1 keeps a stream going
	// after the client's FIN (it answers a half-closed client), so a page
	// that went away is known to be gone at the next write, a heartbeat at
	// the latest.
	s.st.OnEnd(s.leave)
	s.timer = w.Conn().Loop().AfterFunc(ch.opts.heartbeat, s.beat)
	for _, room := range rooms {
		pos := since[room]
		o := pubsub.SubscribeOptions{Since: pos, History: history, Presence: true}
		ch.node.Subscribe(s, room, o, func(res pubsub.SubscribeResult, err error) {
			if err != nil {
				s.send(&reply{Op: "error", Room: room, Error: err.Error()})
				return
			}
			s.send(joined(room, pos, res))
		})
	}
}

// parseRooms parses "a,b,c": valid room names, at most as many as a
// client may join.
func parseRooms(list string) ([]string, error) {
	var rooms []string
	seen := make(map[string]bool)
	for room := range strings.SplitSeq(list, ",") {
		if room == "" || seen[room] {
			continue
		}
		if err := pubsub.ValidTopic(room); err != nil {
			return nil, err
		}
		seen[room] = true
		rooms = append(rooms, room)
	}
	if len(rooms) > maxRooms {
		return nil, &pubsub.LimitError{What: "rooms per client", Limit: maxRooms}
	}
	return rooms, nil
}

// parseSince parses "room:OFFSET:EPOCH,...", the positions a reconnecting
// page has reached.
func parseSince(list string) (map[string]*pubsub.Position, error) {
	out := make(map[string]*pubsub.Position)
	for item := range strings.SplitSeq(list, ",") {
		if item == "" {
			continue
		}
		room, rest, ok1 := strings.Cut(item, ":")
		off, epoch, ok2 := strings.Cut(rest, ":")
		n, err := strconv.ParseUint(off, 10, 64)
		if !ok1 || !ok2 || err != nil || pubsub.ValidTopic(room) != nil {
			return nil, errors.New("chat: since: room:OFFSET:EPOCH, comma-separated")
		}
		out[room] = &pubsub.Position{Offset: n, Epoch: epoch}
	}
	return out, nil
}
