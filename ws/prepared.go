package ws

import (
	"sync"

	"github.com/shoalnet/shoal/internal/bufpool"
	"github.com/shoalnet/shoal/loop"
)

// PreparedMessage is a message framed once for many connections: its
// frame is a loop.Shared, which each connection's outbound queue holds by
// reference until sent, so a broadcast to N connections costs one
// encoding, one compression (made the first time a connection with
// permessage-deflate writes it, at that connection's Config's level) and
// no copy per connection.
//
// Safe for concurrent use: connections on every loop may write one
// PreparedMessage. Release it once no more WritePrepared calls will be
// made; connections that still hold its frames keep them until sent.
type PreparedMessage struct {
	op    Opcode
	plain *loop.Shared
	hlen  int // the header's length in plain

	zOnce sync.Once
	z     *loop.Shared // the compressed frame; nil when compressing does not pay
}

// NewPreparedMessage frames a copy of payload as one message of op.
func NewPreparedMessage(op Opcode, payload []byte) *PreparedMessage {
	b := AppendHeader(bufpool.Get(MaxHeaderLen+len(payload)), Header{Fin: true, Op: op, Length: uint64(len(payload))})
	m := &PreparedMessage{op: op, hlen: len(b)}
	m.plain = loop.NewShared(append(b, payload...), bufpool.Put)
	return m
}

// Payload returns the message's payload. It must not be modified.
func (m *PreparedMessage) Payload() []byte { return m.plain.Bytes()[m.hlen:] }

// Release drops the owner's references to the frames.
func (m *PreparedMessage) Release() {
	m.zOnce.Do(func() {}) // no compression from now on
	m.plain.Release()
	if m.z != nil {
		m.z.Release()
	}
}

// compressed returns the compressed frame, made on first use, or nil when
// the message is shorter than minLen or does not get shorter.
func (m *PreparedMessage) compressed(level, minLen int) *loop.Shared {
	m.zOnce.Do(func() {
		p := m.Payload()
		if len(p) < minLen {
			return
		}
		z := deflate(bufpool.Get(len(p)+64), p, level)
		if len(z) >= len(p) {
			bufpool.Put(z)
			return
		}
		b := AppendHeader(bufpool.Get(MaxHeaderLen+len(z)), Header{Fin: true, RSV: rsvDeflate, Op: m.op, Length: uint64(len(z))})
		b = append(b, z...)
		bufpool.Put(z)
		m.z = loop.NewShared(b, bufpool.Put)
	})
	return m.z
}

// WritePrepared queues m on c by reference. After the close frame has
// been sent it does nothing and reports false.
func (c *Conn) WritePrepared(m *PreparedMessage) bool {
	if c.sentClose || c.closed {
		return false
	}
	s := m.plain
	if c.deflate {
		if z := m.compressed(c.scr.u.cfg.CompressionLevel, c.scr.u.cfg.CompressionMin); z != nil {
			s = z
		}
	}
	c.lc.WriteShared(s)
	return true
}
