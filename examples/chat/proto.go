package main

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/shoalnet/shoal/internal/jsonx"
	"github.com/shoalnet/shoal/pubsub"
)

// The chat's JSON protocol, the same over WebSocket (one message per
// frame) and SSE (one event per message; publishes are POSTed). See
// README.md for the whole of it. It is encoded and decoded with jsonx:
// sonic where it builds, encoding/json elsewhere. sonic escapes no HTML,
// which the page does not need: it puts text in the DOM as text.

// request is a client's message: join, leave or publish.
type request struct {
	Op      string           `json:"op"`
	Room    string           `json:"room"`
	History int              `json:"history,omitempty"` // join: the last messages to send
	Since   *pubsub.Position `json:"since,omitempty"`   // join: recover what came after
	Text    string           `json:"text,omitempty"`    // publish
	ID      string           `json:"id,omitempty"`      // publish: the client's id, echoed in the ack
}

// reply is a server's message to one client. Messages and presence
// events of a room are encoded once for all (encodePublication).
type reply struct {
	Op        string              `json:"op"`
	Client    string              `json:"client,omitempty"` // hello
	User      string              `json:"user,omitempty"`   // hello
	ID        string              `json:"id,omitempty"`     // ack, error
	Room      string              `json:"room,omitempty"`
	Position  *pubsub.Position    `json:"position,omitempty"` // joined
	Recovered *bool               `json:"recovered,omitempty"`
	Presence  []pubsub.ClientInfo `json:"presence,omitempty"` // joined
	Offset    uint64              `json:"offset,omitempty"`   // ack
	Epoch     string              `json:"epoch,omitempty"`    // ack
	Error     string              `json:"error,omitempty"`
	Code      int                 `json:"code,omitempty"`   // disconnect (SSE): the WebSocket close code it stands for; error: see errorReply
	Reason    string              `json:"reason,omitempty"` // disconnect
}

// errorReply is the answer to a request that failed. A publish refused
// because the node drains carries the code 3001: it was not published,
// and the page sends it again once it has reconnected (and rejoined).
func errorReply(req *request, err error) *reply {
	e := &reply{Op: "error", Error: err.Error()}
	if req != nil {
		e.ID, e.Room = req.ID, req.Room
	}
	if errors.Is(err, pubsub.ErrDraining) {
		e.Code = closeReconnect
	}
	return e
}

// event is the JSON of a publication: a message, or a presence event.
type event struct {
	Op     string             `json:"op"`
	Room   string             `json:"room"`
	Offset uint64             `json:"offset,omitempty"`
	Epoch  string             `json:"epoch,omitempty"`
	User   string             `json:"user,omitempty"`
	Text   string             `json:"text,omitempty"`
	Time   int64              `json:"time,omitempty"`
	Client *pubsub.ClientInfo `json:"client,omitempty"`
}

// encodePublication returns p's JSON, as every subscriber gets it. A
// message's payload is its text.
func encodePublication(p *pubsub.Publication) []byte {
	e := event{Room: p.Topic}
	switch p.Kind {
	case pubsub.Message:
		e.Op, e.Offset, e.Epoch, e.User, e.Text = "message", p.Offset, p.Epoch, p.Client.User, string(p.Data)
		e.Time = p.Time.UnixMilli()
	default:
		c := pubsub.ClientInfo{ID: p.Client.ID, User: p.Client.User}
		e.Op, e.Client = p.Kind.String(), &c
	}
	b, err := jsonx.Marshal(&e)
	if err != nil { // cannot happen: strings and numbers only
		panic(err)
	}
	return b
}

func encodeReply(r *reply) []byte {
	b, err := jsonx.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// Limits of requests.
const (
	maxText = 4 << 10 // bytes of a message's text
	maxID   = 64      // bytes of a publish's id
)

// badRequest is a request the client got wrong: it counts towards the
// connection's limit of errors.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, a ...any) error { return &badRequest{fmt.Sprintf(format, a...)} }

// isBad reports whether err is the client's fault.
func isBad(err error) bool {
	var b *badRequest
	var t *pubsub.TopicError
	return errors.As(err, &b) || errors.As(err, &t) ||
		errors.Is(err, pubsub.ErrAlreadySubscribed) || errors.Is(err, pubsub.ErrNotSubscribed)
}

// decodeRequest parses one client message and checks its fields. The
// request comes back with the error when the JSON was well formed, so
// that the answer can name its room and id.
func decodeRequest(b []byte) (*request, error) {
	var r request
	if err := jsonx.Unmarshal(b, &r); err != nil {
		return nil, badf("malformed JSON")
	}
	switch r.Op {
	case "join", "leave", "publish":
	case "":
		return &r, badf("no op")
	default:
		return &r, badf("unknown op %q", r.Op)
	}
	if err := pubsub.ValidTopic(r.Room); err != nil {
		return &r, badf("bad room %q: 1 to %d of A-Z a-z 0-9 _ - =", r.Room, pubsub.MaxTopicLen)
	}
	if r.Op != "publish" {
		return &r, nil
	}
	return &r, checkPublish(&r)
}

// checkPublish checks a publish's text and id.
func checkPublish(r *request) error {
	switch {
	case r.Text == "":
		return badf("empty text")
	case len(r.Text) > maxText:
		return badf("text longer than %d bytes", maxText)
	case !utf8.ValidString(r.Text) || !utf8.ValidString(r.ID):
		return badf("text or id is not valid UTF-8")
	case len(r.ID) > maxID:
		return badf("id longer than %d bytes", maxID)
	}
	return nil
}

// encodeToken is GET /token's answer.
func encodeToken(token, user string, exp time.Time) []byte {
	b, _ := jsonx.Marshal(struct {
		Token string `json:"token"`
		User  string `json:"user"`
		Exp   int64  `json:"exp"`
	}{token, user, exp.Unix()})
	return b
}
