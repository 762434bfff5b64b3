package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/shoalnet/shoal/pubsub"
)

// publishHandler answers POST /publish, the SSE page's way to publish:
// the token in "Authorization: Bearer" (or the query's token=), the body
// the JSON of a publish, the answer the ack (200) or an error (4xx, 5xx)
// of the WebSocket's JSON. It is a net/http handler on http1's adapter,
// so that it may wait for the broker on a worker with the status still
// to choose. A POST is not a session: it may publish in any room its
// user names, joined or not.
type publishHandler struct{ ch *chat }

func (h publishHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		jsonError(w, 405, nil, errors.New("chat: POST only"))
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("token")
	}
	user, err := h.ch.auth(tok)
	if err != nil {
		w.Header().Set("WWW-Authenticate", "Bearer")
		jsonError(w, 401, nil, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWSMessage))
	if err != nil {
		jsonError(w, 413, nil, err)
		return
	}
	req, err := decodeRequest(body)
	if err == nil && req.Op != "publish" {
		err = badf("op %q: only publish is POSTed", req.Op)
	}
	if err != nil {
		jsonError(w, 400, req, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	from := pubsub.ClientInfo{ID: "post-" + h.ch.nodeID, User: user}
	pos, err := h.ch.node.Publish(ctx, req.Room, []byte(req.Text), from)
	if err != nil {
		status := 502
		switch {
		case errors.Is(err, pubsub.ErrBusy), errors.Is(err, pubsub.ErrClosed), errors.Is(err, pubsub.ErrDraining):
			status = 503
		case errors.Is(err, context.DeadlineExceeded):
			status = 504
		case errors.Is(err, pubsub.ErrLimit):
			status = 429
		}
		jsonError(w, status, req, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(encodeReply(&reply{Op: "ack", ID: req.ID, Room: req.Room, Offset: pos.Offset, Epoch: pos.Epoch}))
}

func jsonError(w http.ResponseWriter, status int, req *request, err error) {
	e := errorReply(req, err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(encodeReply(e))
}
