package ws

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"

	"github.com/shoalnet/shoal/http1"
)

// keyGUID is appended to the client's key to make the accept value (RFC
// 6455 1.3).
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for a client's
// Sec-WebSocket-Key.
func AcceptKey(key []byte) string {
	var b [acceptKeyLen]byte
	return string(appendAcceptKey(b[:0], key))
}

// acceptKeyLen is the length of an accept value: a SHA-1 in base64.
const acceptKeyLen = 28

// appendAcceptKey appends the accept value for key to dst.
func appendAcceptKey(dst, key []byte) []byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(keyGUID))
	var sum [sha1.Size]byte
	return base64.StdEncoding.AppendEncode(dst, h.Sum(sum[:0]))
}

// HandshakeError is an upgrade request the server refuses, with the
// HTTP status to answer it with.
type HandshakeError struct {
	Status int
	Reason string
}

func (e *HandshakeError) Error() string { return "ws: handshake: " + e.Reason }

// CheckUpgrade checks that r asks for a WebSocket upgrade as RFC 6455 4.2.1
// says and returns its Sec-WebSocket-Key: GET on HTTP/1.1, "Upgrade:
// websocket", "Connection" naming upgrade, version 13 (426 with
// "Sec-WebSocket-Version: 13" otherwise) and a key of 16 bytes in base64.
func CheckUpgrade(r *http1.Request) (key []byte, err error) {
	switch {
	case string(r.Method) != "GET":
		return nil, &HandshakeError{Status: 405, Reason: "method is not GET"}
	case r.Minor < 1:
		return nil, &HandshakeError{Status: 400, Reason: "HTTP/1.0 cannot upgrade"}
	case !hasToken(r, "Upgrade", "websocket"):
		return nil, &HandshakeError{Status: 400, Reason: "no \"Upgrade: websocket\""}
	case !hasToken(r, "Connection", "upgrade"):
		return nil, &HandshakeError{Status: 400, Reason: "\"Connection\" does not name upgrade"}
	case string(bytes.TrimSpace(r.Header("Sec-WebSocket-Version"))) != "13":
		return nil, &HandshakeError{Status: 426, Reason: "unsupported Sec-WebSocket-Version (13 is)"}
	}
	key = bytes.TrimSpace(r.Header("Sec-WebSocket-Key"))
	var raw [18]byte
	if len(key) != 24 {
		return nil, &HandshakeError{Status: 400, Reason: "bad Sec-WebSocket-Key"}
	}
	if n, err := base64.StdEncoding.Decode(raw[:], key); err != nil || n != 16 {
		return nil, &HandshakeError{Status: 400, Reason: "bad Sec-WebSocket-Key"}
	}
	return key, nil
}

// hasToken reports whether any field called name holds token in its
// comma-separated list (ASCII case-insensitive).
func hasToken(r *http1.Request, name, token string) bool {
	for _, f := range r.Headers {
		if !bytes.EqualFold(f.Name, []byte(name)) {
			continue
		}
		for v := range bytes.SplitSeq(f.Value, []byte(",")) {
			if bytes.EqualFold(bytes.TrimSpace(v), []byte(token)) {
				return true
			}
		}
	}
	return false
}

// Subprotocols returns the subprotocols the client offers, in its order
// of preference (Sec-WebSocket-Protocol), as views into r.
func Subprotocols(r *http1.Request) [][]byte {
	var out [][]byte
	for _, f := range r.Headers {
		if !bytes.EqualFold(f.Name, []byte("Sec-WebSocket-Protocol")) {
			continue
		}
		for v := range bytes.SplitSeq(f.Value, []byte(",")) {
			if v = bytes.TrimSpace(v); len(v) > 0 {
				out = append(out, v)
			}
		}
	}
	return out
}
