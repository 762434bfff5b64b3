// Package proto encodes and decodes the bodies of the push protocol, a small
// length-prefixed binary publish/subscribe protocol. It is pure code: no I/O,
// no goroutines, and no allocation on the decode path.
//
// Every frame on the wire is a 4-byte big-endian length followed by that
// many bytes of body; the framing belongs to codec.LengthField (see
// NewCodec). A body starts with a one-byte Type; the fields that follow
// depend on it:
//
//	SUB    0x01  req u32 | topic
//	UNSUB  0x02  req u32 | topic
//	PUB    0x03  req u32 | topic | payload (the rest of the body)
//	PING   0x04  req u32 | token u64
//	ACK    0x81  req u32 | of u8 (the type acknowledged) | count u32
//	ERR    0x82  req u32 | code u16 | message (the rest of the body)
//	MSG    0x83  seq u64 | time i64 (Unix ns) | topic | payload (the rest)
//	PONG   0x84  req u32 | token u64
//	GOAWAY 0x85  retry u32 (ms) | addr (the rest: "host:port", or empty)
//
// Integers are big-endian; a topic is a one-byte length and that many bytes.
// The encoding is canonical: Decode accepts exactly the bodies that
// AppendBody produces, so re-encoding a decoded body gives back its bytes.
//
// GOAWAY is the server's last frame on a connection before it closes it in a
// graceful shutdown: every reply and message the connection will get came
// before it. Retry is how long the client should wait before reconnecting,
// Addr where to (empty: the same address).
//
// Decode reports structural damage (an unknown type, a short body, a topic
// that overruns the body, bytes after the last field) with ErrMalformed.
// Whether a topic name is acceptable is a separate question: ValidTopic.
//
// Encoding a PUB and decoding it on the other side:
//
//	body, _ := proto.AppendBody(nil, &proto.Body{Type: proto.TypePub, Req: 7,
//		Topic: []byte("news"), Payload: []byte("hello")})
//	b, err := proto.Decode(body) // b.Topic and b.Payload are views into body
package proto
