package proto

import (
	"encoding/binary"
	"fmt"
)

// Type is the first byte of a body. Client requests have the high bit
// clear, server frames have it set.
type Type uint8

// The body types.
const (
	TypeSub   Type = 0x01 // subscribe to a topic
	TypeUnsub Type = 0x02 // unsubscribe from a topic
	TypePub   Type = 0x03 // publish a payload to a topic
	TypePing  Type = 0x04 // ask for a PONG

	TypeAck    Type = 0x81 // a request succeeded
	TypeErr    Type = 0x82 // a request failed, or the connection is about to close
	TypeMsg    Type = 0x83 // a published message, to a subscriber
	TypePong   Type = 0x84 // the answer to a PING
	TypeGoAway Type = 0x85 // the server is shutting down: reconnect, after a while, maybe elsewhere
)

// String returns the type's name ("SUB", "ACK", ...).
func (t Type) String() string {
	switch t {
	case TypeSub:
		return "SUB"
	case TypeUnsub:
		return "UNSUB"
	case TypePub:
		return "PUB"
	case TypePing:
		return "PING"
	case TypeAck:
		return "ACK"
	case TypeErr:
		return "ERR"
	case TypeMsg:
		return "MSG"
	case TypePong:
		return "PONG"
	case TypeGoAway:
		return "GOAWAY"
	}
	return fmt.Sprintf("Type(0x%02x)", uint8(t))
}

// IsRequest reports whether t is sent by clients (SUB, UNSUB, PUB, PING).
func (t Type) IsRequest() bool { return t >= TypeSub && t <= TypePing }

// MaxTopic is the longest topic name: its length travels in one byte.
const MaxTopic = 255

// Sizes of the fixed parts of the bodies.
const (
	reqHeader = 1 + 4         // type, req
	topicMin  = reqHeader + 1 // SUB, UNSUB, PUB: type, req, topic length
	ackSize   = 1 + 4 + 1 + 4 // type, req, of, count
	errHeader = 1 + 4 + 2     // type, req, code
	msgHeader = 1 + 8 + 8     // type, seq, time
	tokenSize = 1 + 4 + 8     // type, req, token (PING and PONG)
	msgMin    = msgHeader + 1 // MSG: the fixed fields and the topic length
	goAwayMin = 1 + 4         // type, retry
)

// MaxOverhead is the most bytes a PUB or MSG body carries besides its
// payload: the type, the fixed fields and a topic of MaxTopic bytes. A
// frame limit of MaxOverhead plus the largest payload fits every valid body.
const MaxOverhead = msgMin + MaxTopic

// Body is one decoded body. Which fields are meaningful depends on Type:
//
//	SUB, UNSUB  Req, Topic
//	PUB         Req, Topic, Payload
//	PING, PONG  Req, Token
//	ACK         Req, Of, Count
//	ERR         Req, Code, Message
//	MSG         Seq, Time, Topic, Payload
//	GOAWAY      Retry, Addr
//
// Decode leaves the others zero and AppendBody ignores them. The slices
// returned by Decode are views into the decoded bytes.
type Body struct {
	Type    Type
	Req     uint32 // request id; replies carry the id of their request
	Topic   []byte
	Payload []byte
	Token   uint64 // PING/PONG: opaque, echoed by the server
	Of      Type   // ACK: the type of the acknowledged request
	Count   uint32 // ACK: subscribers of the topic (SUB, UNSUB) or handed the message (PUB)
	Code    Code   // ERR
	Message []byte // ERR: a human-readable reason
	Seq     uint64 // MSG: the topic's sequence number of this message
	Time    int64  // MSG: when the server accepted the PUB, Unix nanoseconds
	Retry   uint32 // GOAWAY: milliseconds to wait before reconnecting
	Addr    []byte // GOAWAY: where to reconnect ("host:port"); empty: the same address
}

// Decode parses a body. It returns ErrMalformed, wrapped with the reason,
// for bytes that are not a body of a known type; it never panics and does
// not allocate on success.
func Decode(b []byte) (Body, error) {
	if len(b) == 0 {
		return Body{}, malformed("empty body")
	}
	m := Body{Type: Type(b[0])}
	switch m.Type {
	case TypeSub, TypeUnsub:
		if len(b) < topicMin {
			return Body{}, malformed("short %v", m.Type)
		}
		m.Req = binary.BigEndian.Uint32(b[1:])
		topic, rest, err := readTopic(b[reqHeader:])
		if err != nil {
			return Body{}, err
		}
		if len(rest) != 0 {
			return Body{}, malformed("%d bytes after the topic of %v", len(rest), m.Type)
		}
		m.Topic = topic
	case TypePub:
		if len(b) < topicMin {
			return Body{}, malformed("short PUB")
		}
		m.Req = binary.BigEndian.Uint32(b[1:])
		topic, rest, err := readTopic(b[reqHeader:])
		if err != nil {
			return Body{}, err
		}
		m.Topic, m.Payload = topic, rest
	case TypePing, TypePong:
		if len(b) != tokenSize {
			return Body{}, malformed("%v of %d bytes, want %d", m.Type, len(b), tokenSize)
		}
		m.Req = binary.BigEndian.Uint32(b[1:])
		m.Token = binary.BigEndian.Uint64(b[5:])
	case TypeAck:
		if len(b) != ackSize {
			return Body{}, malformed("ACK of %d bytes, want %d", len(b), ackSize)
		}
		m.Req = binary.BigEndian.Uint32(b[1:])
		m.Of = Type(b[5])
		m.Count = binary.BigEndian.Uint32(b[6:])
	case TypeErr:
		if len(b) < errHeader {
			return Body{}, malformed("short ERR")
		}
		m.Req = binary.BigEndian.Uint32(b[1:])
		m.Code = Code(binary.BigEndian.Uint16(b[5:]))
		m.Message = b[errHeader:]
	case TypeMsg:
		if len(b) < msgMin {
			return Body{}, malformed("short MSG")
		}
		m.Seq = binary.BigEndian.Uint64(b[1:])
		m.Time = int64(binary.BigEndian.Uint64(b[9:]))
		topic, rest, err := readTopic(b[msgHeader:])
		if err != nil {
			return Body{}, err
		}
		m.Topic, m.Payload = topic, rest
	case TypeGoAway:
		if len(b) < goAwayMin {
			return Body{}, malformed("short GOAWAY")
		}
		m.Retry = binary.BigEndian.Uint32(b[1:])
		m.Addr = b[goAwayMin:]
	default:
		return Body{}, malformed("unknown type 0x%02x", uint8(m.Type))
	}
	return m, nil
}

// readTopic splits b, which starts at a topic's length byte, into the topic
// and what follows it.
func readTopic(b []byte) (topic, rest []byte, err error) {
	n := int(b[0])
	if 1+n > len(b) {
		return nil, nil, malformed("topic of %d bytes overruns the body (%d left)", n, len(b)-1)
	}
	return b[1 : 1+n], b[1+n:], nil
}

// AppendBody appends the encoding of m to dst and returns the extended
// slice. It fails only for a topic longer than MaxTopic or an unknown type.
func AppendBody(dst []byte, m *Body) ([]byte, error) {
	switch m.Type {
	case TypeSub, TypeUnsub, TypePub:
		if len(m.Topic) > MaxTopic {
			return dst, ErrTopicTooLong
		}
		dst = append(dst, byte(m.Type))
		dst = binary.BigEndian.AppendUint32(dst, m.Req)
		dst = appendTopic(dst, m.Topic)
		if m.Type == TypePub {
			dst = append(dst, m.Payload...)
		}
	case TypePing, TypePong:
		dst = append(dst, byte(m.Type))
		dst = binary.BigEndian.AppendUint32(dst, m.Req)
		dst = binary.BigEndian.AppendUint64(dst, m.Token)
	case TypeAck:
		dst = AppendAck(dst, m.Req, m.Of, m.Count)
	case TypeErr:
		dst = AppendErr(dst, m.Req, m.Code, m.Message)
	case TypeMsg:
		if len(m.Topic) > MaxTopic {
			return dst, ErrTopicTooLong
		}
		dst = AppendMsg(dst, m.Seq, m.Time, m.Topic, m.Payload)
	case TypeGoAway:
		dst = AppendGoAway(dst, m.Retry, m.Addr)
	default:
		return dst, fmt.Errorf("proto: cannot encode %v", m.Type)
	}
	return dst, nil
}

// AppendAck appends an ACK body. It does not allocate if dst has room.
func AppendAck(dst []byte, req uint32, of Type, count uint32) []byte {
	dst = append(dst, byte(TypeAck))
	dst = binary.BigEndian.AppendUint32(dst, req)
	dst = append(dst, byte(of))
	return binary.BigEndian.AppendUint32(dst, count)
}

// AppendErr appends an ERR body.
func AppendErr[S []byte | string](dst []byte, req uint32, code Code, msg S) []byte {
	dst = append(dst, byte(TypeErr))
	dst = binary.BigEndian.AppendUint32(dst, req)
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, msg...)
}

// AppendPong appends a PONG body.
func AppendPong(dst []byte, req uint32, token uint64) []byte {
	dst = append(dst, byte(TypePong))
	dst = binary.BigEndian.AppendUint32(dst, req)
	return binary.BigEndian.AppendUint64(dst, token)
}

// AppendGoAway appends a GOAWAY body: the client should reconnect after
// retryMs milliseconds, to addr ("host:port"), or to the same address if
// addr is empty. It does not allocate if dst has room.
func AppendGoAway[S []byte | string](dst []byte, retryMs uint32, addr S) []byte {
	dst = append(dst, byte(TypeGoAway))
	dst = binary.BigEndian.AppendUint32(dst, retryMs)
	return append(dst, addr...)
}

// AppendMsg appends a MSG body. The caller makes sure that topic is at most
// MaxTopic bytes long (a decoded or validated topic is).
func AppendMsg(dst []byte, seq uint64, unixNano int64, topic, payload []byte) []byte {
	dst = append(dst, byte(TypeMsg))
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(unixNano))
	dst = appendTopic(dst, topic)
	return append(dst, payload...)
}

// MsgSize returns the length of the MSG body for a topic and payload.
func MsgSize(topic, payload int) int { return msgMin + topic + payload }

func appendTopic(dst, topic []byte) []byte {
	return append(append(dst, byte(len(topic))), topic...)
}

// ValidTopic reports whether name is an acceptable topic: 1 to MaxTopic
// bytes, each printable ASCII other than space (0x21 to 0x7e).
func ValidTopic[S []byte | string](name S) bool {
	if len(name) == 0 || len(name) > MaxTopic {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7e {
			return false
		}
	}
	return true
}
